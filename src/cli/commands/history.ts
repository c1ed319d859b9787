// `modelgate history`: a checkpoint's phase history, or a Deployment's audit trail and the
// checkpoints that targeted it, newest first.
import { judgedSeverity } from '../../api/conditions.js';
import type { ModelCheckpoint } from '../../api/types.js';
import { GLOBAL_HELP, noMorePositionals, parseCommand } from '../args.js';
import { oneLine, UsageError } from '../errors.js';
import { kubeContext, requireCheckpoint, type KubeContext } from '../kube.js';
import { age, outputFormat, printData, shortDigest, table, write } from '../output.js';

export const summary = "show a checkpoint's history, or a Deployment's audit trail";

export const help = `Usage: modelgate history <name> [-n NS] [-o text|json|yaml]
       modelgate history --deployment <D> [-n NS] [-o text|json|yaml]

With a name: the checkpoint's history entries (phase, reason, message), newest first.
With --deployment: the audit trail the operator keeps for that Deployment (ConfigMap
modelgate-audit-<D>) and every checkpoint that targeted it with its phase, newest first.

Flags:
  --deployment <name>     show the Deployment's audit trail instead of one checkpoint

${GLOBAL_HELP}`;

const OPTIONS = { deployment: { type: 'string' } } as const;

export const auditConfigMapName = (deployment: string): string => `modelgate-audit-${deployment}`;

export interface AuditEntry {
  key: string;
  time: string;
  entry: unknown;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('history', args, OPTIONS);
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 1, 'history');
  const format = outputFormat(values.output, ['text', 'json', 'yaml'], 'text', 'history');
  const name = positionals[0];
  if (name !== undefined && values.deployment !== undefined) throw new UsageError('give a checkpoint name or --deployment, not both: run `modelgate history --help`.');
  if (name === undefined && values.deployment === undefined) throw new UsageError('`modelgate history` needs a checkpoint name or --deployment <name>: run `modelgate history --help`.');
  const ctx = kubeContext(values);
  if (name !== undefined) return checkpointHistory(ctx, name, format);
  return deploymentHistory(ctx, values.deployment!, format);
}

async function checkpointHistory(ctx: KubeContext, name: string, format: 'text' | 'json' | 'yaml'): Promise<number> {
  const cp = await requireCheckpoint(ctx, name);
  const entries = [...(cp.status?.history ?? [])].sort((a, b) => b.time.localeCompare(a.time));
  if (format !== 'text') {
    printData(format, entries);
    return 0;
  }
  if (entries.length === 0) {
    write(`ModelCheckpoint ${name} has no history yet (phase ${cp.status?.phase ?? 'Pending'}).`);
    return 0;
  }
  write(table(['time', 'phase', 'reason', 'generation', 'message'], entries.map((e) => [e.time, e.phase, e.reason, e.generation, e.message])));
  return 0;
}

/**
 * ConfigMap keys cannot hold ':', so a timestamp key may read 2030-01-01T12.00.00.000Z or
 * 2030-01-01T12-00-00Z: back to ISO 8601, or undefined when the key is no timestamp.
 */
export function timeOfKey(key: string): string | undefined {
  if (Number.isFinite(Date.parse(key))) return key;
  const m = /^(\d{4}-\d{2}-\d{2})[T_](\d{2})[.:_-](\d{2})[.:_-](\d{2})(?:[.,_-](\d{1,9}))?(Z|[+-]\d{2}[.:_-]?\d{2})?$/.exec(key);
  if (!m) return undefined;
  const zone = m[6] === undefined || m[6] === 'Z' ? 'Z' : `${m[6].slice(0, 3)}:${m[6].slice(-2)}`;
  const iso = `${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[5] ? `.${m[5]}` : ''}${zone}`;
  return Number.isFinite(Date.parse(iso)) ? iso : undefined;
}

/** Audit entries newest first: the entry's own time when it has one, else the key. */
export function auditEntries(data: Record<string, string>): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const [key, raw] of Object.entries(data)) {
    let entry: unknown = raw;
    try {
      entry = JSON.parse(raw);
    } catch {
      // not JSON: shown as it is
    }
    const own = typeof entry === 'object' && entry !== null ? ((entry as Record<string, unknown>).time ?? (entry as Record<string, unknown>).at) : undefined;
    out.push({ key, time: typeof own === 'string' ? own : (timeOfKey(key) ?? key), entry });
  }
  const when = (a: AuditEntry): number => {
    const t = Date.parse(a.time);
    return Number.isFinite(t) ? t : -Infinity;
  };
  return out.sort((a, b) => when(b) - when(a) || b.key.localeCompare(a.key));
}

/** One line for an audit entry: its action, then the other fields as key=value. */
export function describeAudit(entry: unknown): { action: string; details: string } {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { action: '-', details: oneLine(String(typeof entry === 'string' ? entry : JSON.stringify(entry))) };
  const e = entry as Record<string, unknown>;
  const action = typeof e.action === 'string' ? e.action : '-';
  const details = Object.entries(e)
    .filter(([k, v]) => k !== 'action' && k !== 'time' && k !== 'at' && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (k === 'digest' ? shortDigest(v) : v) : JSON.stringify(v)}`)
    .join(' ');
  return { action, details: oneLine(details) };
}

async function deploymentHistory(ctx: KubeContext, deployment: string, format: 'text' | 'json' | 'yaml'): Promise<number> {
  const cmName = auditConfigMapName(deployment);
  let data: Record<string, string> | undefined;
  let items: ModelCheckpoint[];
  try {
    data = await ctx.checkpoints.readConfigMap(ctx.namespace, cmName);
  } catch (err) {
    throw ctx.fail(err, `reading ConfigMap ${cmName} in namespace ${ctx.namespace}`);
  }
  try {
    items = (await ctx.checkpoints.list(ctx.namespace)).items;
  } catch (err) {
    throw ctx.fail(err, `listing ModelCheckpoints in namespace ${ctx.namespace}`);
  }
  const audit = auditEntries(data ?? {});
  const checkpoints = items
    .filter((c) => c.spec.target.deployment === deployment)
    .sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || (b.metadata.name ?? '').localeCompare(a.metadata.name ?? ''))
    .map((c) => ({
      name: c.metadata.name ?? '',
      model: c.spec.model,
      version: c.spec.version,
      phase: c.status?.phase ?? 'Pending',
      severity: judgedSeverity(c.status),
      digest: c.spec.artifact.digest,
      created: c.metadata.creationTimestamp,
      deployedAt: c.status?.deployment?.deployedAt,
    }));
  if (format !== 'text') {
    printData(format, { deployment, namespace: ctx.namespace, auditConfigMap: data ? cmName : null, audit: audit.map((a) => ({ key: a.key, time: a.time, entry: a.entry })), checkpoints });
    return 0;
  }
  const out: string[] = [];
  if (!data) out.push(`Audit trail: none yet (no ConfigMap ${cmName} in namespace ${ctx.namespace}).`);
  else if (audit.length === 0) out.push(`Audit trail: ConfigMap ${cmName} holds no entries.`);
  else {
    out.push(`Audit trail of deployment/${deployment} (ConfigMap ${cmName}, newest first):`);
    out.push(table(['time', 'action', 'details'], audit.map((a) => {
      const d = describeAudit(a.entry);
      return [a.time, d.action, d.details];
    })));
  }
  out.push('');
  if (checkpoints.length === 0) out.push(`Checkpoints: none in namespace ${ctx.namespace} target deployment/${deployment}.`);
  else {
    out.push(`Checkpoints that targeted deployment/${deployment} (newest first):`);
    out.push(table(['name', 'version', 'phase', 'severity', 'deployed', 'age', 'digest'], checkpoints.map((c) => [c.name, c.version, c.phase, c.severity, c.deployedAt, age(c.created), shortDigest(c.digest)])));
  }
  write(out.join('\n'));
  return 0;
}
