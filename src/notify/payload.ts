// Notifications, the pure part: which phases notify, the per-namespace configuration (a
// ConfigMap), and the two payloads: generic JSON with the decision's numbers, or a
// Slack-compatible message. No I/O; the delivery lives in notifier.ts.
import type { ModelCheckpoint, Phase } from '../api/types.js';

export const NOTIFY_EVENTS = ['Rejected', 'Failed', 'Deployed', 'RolledBack', 'Healthy'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** The ConfigMap in a checkpoint's namespace that turns its notifications on. */
export const NOTIFICATION_CONFIGMAP = 'modelgate-notifications';

export interface NotificationConfig {
  /** Secret in the same namespace holding the webhook URL (and optionally a bearer token). */
  secretName: string;
  urlKey: string;
  tokenKey: string;
  format: 'json' | 'slack';
  events: NotifyEvent[];
}

export class NotificationConfigError extends Error {}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KEY_RE = /^[-._a-zA-Z0-9]+$/;

/**
 * Reads the ConfigMap's data: `secret` (required), `urlKey` (default url), `tokenKey` (default
 * token), `format` (json or slack, default json), `events` (comma-separated, default all).
 * Bad input is an error naming the key.
 */
export function parseNotificationConfig(data: Record<string, string>): NotificationConfig {
  const where = (key: string): string => `ConfigMap ${NOTIFICATION_CONFIGMAP} data.${key}`;
  const secretName = (data.secret ?? '').trim();
  if (!secretName) throw new NotificationConfigError(`${where('secret')} is missing: name the Secret (in the same namespace) whose key 'url' holds the webhook URL`);
  if (!NAME_RE.test(secretName) || secretName.length > 253) throw new NotificationConfigError(`${where('secret')} '${secretName.slice(0, 80)}' is not a valid Secret name`);
  const key = (k: 'urlKey' | 'tokenKey', fallback: string): string => {
    const v = (data[k] ?? fallback).trim();
    if (!KEY_RE.test(v)) throw new NotificationConfigError(`${where(k)} '${v.slice(0, 80)}' is not a valid Secret key`);
    return v;
  };
  const format = (data.format ?? 'json').trim();
  if (format !== 'json' && format !== 'slack') throw new NotificationConfigError(`${where('format')} '${format.slice(0, 40)}' is not json or slack`);
  const events = data.events === undefined ? [...NOTIFY_EVENTS] : data.events.split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const e of events) {
    if (!(NOTIFY_EVENTS as readonly string[]).includes(e)) throw new NotificationConfigError(`${where('events')} names '${e.slice(0, 40)}': the events are ${NOTIFY_EVENTS.join(', ')}`);
  }
  return { secretName, urlKey: key('urlKey', 'url'), tokenKey: key('tokenKey', 'token'), format, events: events as NotifyEvent[] };
}

export function isNotifyEvent(phase: Phase): phase is NotifyEvent {
  return (NOTIFY_EVENTS as readonly string[]).includes(phase);
}

/** The numbers behind a decision: the gate that said no, or the live measurement that decided. */
export interface Decision {
  gate?: string;
  verdict?: string;
  metric?: string;
  value?: number;
  bound?: string;
  baseline?: number;
  query?: string;
  severity?: string;
  numbers?: Record<string, number | string | boolean>;
}

export interface Notification {
  event: NotifyEvent;
  time: string;
  checkpoint: { namespace: string; name: string; uid?: string; model: string; version: string; digest: string; deployment: string };
  from?: string;
  phase: NotifyEvent;
  reason: string;
  message: string;
  decision?: Decision;
  /** For a deploy or rollback: the checkpoint that production goes back to. */
  rollbackPoint?: string;
}

export function buildNotification(cp: ModelCheckpoint, from: Phase | undefined, to: NotifyEvent, reason: string, message: string, time: string): Notification {
  const s = cp.status ?? {};
  const n: Notification = {
    event: to,
    time,
    checkpoint: {
      namespace: cp.metadata.namespace ?? '',
      name: cp.metadata.name ?? '',
      uid: cp.metadata.uid,
      model: cp.spec.model,
      version: cp.spec.version,
      digest: cp.spec.artifact.digest,
      deployment: cp.spec.target.deployment,
    },
    from,
    phase: to,
    reason,
    message,
  };
  const decision = decisionOf(cp, to);
  if (decision) n.decision = decision;
  const point = s.deployment?.rollbackPoint?.checkpoint;
  if (point && (to === 'Deployed' || to === 'RolledBack')) n.rollbackPoint = point;
  return n;
}

function decisionOf(cp: ModelCheckpoint, to: NotifyEvent): Decision | undefined {
  const s = cp.status ?? {};
  if (to === 'Rejected' || to === 'Failed') {
    const g = s.stages?.find((x) => x.verdict === 'Failed' || x.verdict === 'Error');
    if (!g) return undefined;
    return { gate: g.stage, verdict: g.verdict, severity: g.severity, numbers: g.summary };
  }
  const ms = s.analysis?.measurements ?? [];
  if (ms.length === 0) return undefined;
  // The measurement that decided: the latest Failed one for a rollback, else the latest.
  const m = (to === 'RolledBack' ? [...ms].reverse().find((x) => x.phase === 'Failed') : undefined) ?? ms[ms.length - 1]!;
  const d: Decision = { gate: 'analysis', verdict: m.phase, metric: m.metric };
  if (m.value !== undefined) d.value = m.value;
  if (m.bound !== undefined) d.bound = m.bound;
  if (m.baseline !== undefined) d.baseline = m.baseline;
  if (m.query !== undefined) d.query = m.query;
  if (m.severity !== undefined) d.severity = m.severity;
  return d;
}

const COLOUR: Record<NotifyEvent, string> = { Rejected: '#d9822b', Failed: '#d13438', Deployed: '#2b88d8', RolledBack: '#d13438', Healthy: '#2e9e44' };

/** A Slack incoming-webhook message: one line of text, and the numbers as attachment fields. */
export function slackMessage(n: Notification): { text: string; attachments: Array<{ color: string; fields: Array<{ title: string; value: string; short: boolean }> }> } {
  const c = n.checkpoint;
  const text = `ModelCheckpoint ${c.namespace}/${c.name} (${c.model} ${c.version}) is ${n.phase}: ${n.reason}. ${n.message}`;
  const fields: Array<{ title: string; value: string; short: boolean }> = [{ title: 'Deployment', value: c.deployment, short: true }];
  const d = n.decision;
  if (d?.gate) fields.push({ title: 'Gate', value: d.gate, short: true });
  if (d?.metric) fields.push({ title: 'Metric', value: d.metric, short: true });
  if (d?.value !== undefined) fields.push({ title: 'Value', value: String(d.value), short: true });
  if (d?.bound) fields.push({ title: 'Bound', value: d.bound, short: true });
  if (d?.baseline !== undefined) fields.push({ title: 'Baseline', value: String(d.baseline), short: true });
  if (d?.severity) fields.push({ title: 'Severity', value: d.severity, short: true });
  if (d?.query) fields.push({ title: 'Query', value: d.query, short: false });
  for (const [k, v] of Object.entries(d?.numbers ?? {})) fields.push({ title: k, value: String(v), short: true });
  if (n.rollbackPoint) fields.push({ title: n.phase === 'RolledBack' ? 'Back on' : 'Rollback point', value: n.rollbackPoint, short: true });
  return { text, attachments: [{ color: COLOUR[n.phase], fields }] };
}

/** The body sent for a notification in the configured format. */
export function renderBody(n: Notification, format: NotificationConfig['format']): string {
  return JSON.stringify(format === 'slack' ? slackMessage(n) : n);
}

/** Delay before retry `attempt` (1-based): exponential from `baseMs`, capped, with the server's Retry-After when longer. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs?: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return retryAfterMs !== undefined && retryAfterMs > exp ? Math.min(retryAfterMs, maxMs) : exp;
}
