// `modelgate rollback`: ask the operator for a rollback through the checkpoint's annotation
// modelgate.io/rollback ("true", or an older checkpoint's name), and with --wait follow it.
import { setTimeout as sleep } from 'node:timers/promises';
import { ANNOTATIONS, type Condition, type ModelCheckpoint } from '../../api/types.js';
import { REASON } from '../../api/reasons.js';
import { paths } from '../../kube/client.js';
import { GLOBAL_HELP, noMorePositionals, parseCommand, positiveNumberFlag } from '../args.js';
import { CliError, oneLine, UsageError } from '../errors.js';
import { kubeContext, requireCheckpoint, type KubeContext } from '../kube.js';
import { outputFormat, printData, write } from '../output.js';
import { progress } from '../progress.js';

export const summary = 'ask the operator to roll a checkpoint back (optionally to an older one)';

export const help = `Usage: modelgate rollback <name> [--to <older checkpoint>] [--wait] [-n NS]

Sets the annotation ${ANNOTATIONS.rollbackRequest} on the checkpoint to "true" (back to its rollback
point) or to the name of an older checkpoint that ran on the same Deployment; the operator acts
on it and removes the annotation.

Flags:
  --to <name>             roll back to this older checkpoint instead of the rollback point
  --wait                  wait until the checkpoint is RolledBack (exit 0) or the operator
                          refuses (NoRollbackPoint, exit 1), and print the outcome
  --timeout <seconds>     how long --wait waits (default 300)
  --interval <seconds>    how often --wait polls (default 1)
  -o, --output <format>   text (default), json or yaml (the outcome)

${GLOBAL_HELP}`;

const OPTIONS = {
  to: { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
} as const;

/** How long an annotation may be gone without a RolledBack phase before it counts as refused. */
const REFUSAL_GRACE_MS = 5000;

export interface Outcome {
  checkpoint: string;
  namespace: string;
  requested: string;
  result: 'Requested' | 'RolledBack' | 'Refused' | 'AlreadyRolledBack';
  phase?: string;
  reason?: string;
  message?: string;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('rollback', args, OPTIONS);
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 1, 'rollback');
  const name = positionals[0];
  if (!name) throw new UsageError('`modelgate rollback` needs the checkpoint name: modelgate rollback <name> [--to <older>] [--wait].');
  const format = outputFormat(values.output, ['text', 'json', 'yaml'], 'text', 'rollback');
  const timeoutS = positiveNumberFlag(values.timeout, '--timeout') ?? 300;
  const intervalS = positiveNumberFlag(values.interval, '--interval') ?? 1;
  if (!values.wait && (values.timeout !== undefined || values.interval !== undefined)) throw new UsageError('--timeout and --interval only apply with --wait: add --wait or drop them.');
  if (values.to !== undefined && values.to === name) throw new UsageError(`--to ${name} names the checkpoint itself: give an older checkpoint that ran on the same Deployment.`);
  const ctx = kubeContext(values);

  const cp = await requireCheckpoint(ctx, name);
  const requested = values.to ?? 'true';
  const report = (o: Outcome, code: number): number => {
    if (format === 'text') write(describe(o));
    else printData(format, o);
    return code;
  };

  if (values.to !== undefined) {
    const older = await requireCheckpoint(ctx, values.to);
    if (older.spec.target.deployment !== cp.spec.target.deployment) {
      throw new CliError(`--to ${values.to} targets deployment/${older.spec.target.deployment}, not deployment/${cp.spec.target.deployment} like ${name}: pick one from \`modelgate history --deployment ${cp.spec.target.deployment}\`.`);
    }
    if (!older.status?.deployment) {
      throw new CliError(`--to ${values.to} was never deployed to deployment/${cp.spec.target.deployment}, so there is nothing to go back to: pick one from \`modelgate history --deployment ${cp.spec.target.deployment}\`.`);
    }
  } else if (cp.status?.phase === 'RolledBack') {
    return report({ checkpoint: name, namespace: ctx.namespace, requested, result: 'AlreadyRolledBack', phase: 'RolledBack', message: latestMessage(cp) }, 0);
  }

  const before = cp.status?.conditions ?? [];
  try {
    await ctx.checkpoints.setAnnotation(ctx.namespace, name, ANNOTATIONS.rollbackRequest, requested);
  } catch (err) {
    throw ctx.fail(err, `annotating ModelCheckpoint ${name} in namespace ${ctx.namespace}`);
  }
  if (!values.wait) {
    return report({ checkpoint: name, namespace: ctx.namespace, requested, result: 'Requested', phase: cp.status?.phase }, 0);
  }
  const outcome = await waitForOutcome(ctx, name, requested, before, timeoutS * 1000, intervalS * 1000, values.quiet === true);
  return report(outcome, outcome.result === 'RolledBack' ? 0 : 1);
}

function describe(o: Outcome): string {
  const target = o.requested === 'true' ? 'its rollback point' : o.requested;
  switch (o.result) {
    case 'Requested':
      return `Rollback of ${o.checkpoint} to ${target} requested (annotation ${ANNOTATIONS.rollbackRequest}=${o.requested}); the operator acts on it: follow with \`modelgate status ${o.checkpoint} -n ${o.namespace}\` or rerun with --wait.`;
    case 'AlreadyRolledBack':
      return `${o.checkpoint} is already RolledBack${o.message ? `: ${o.message}` : ''}; nothing requested.`;
    case 'RolledBack':
      return `${o.checkpoint} rolled back to ${target}${o.reason ? ` (${o.reason})` : ''}${o.message ? `: ${o.message}` : ''}.`;
    case 'Refused':
      return `The operator did not roll ${o.checkpoint} back to ${target}${o.reason ? ` (${o.reason})` : ''}${o.message ? `: ${o.message}` : ''}.`;
  }
}

function latestMessage(cp: ModelCheckpoint): string | undefined {
  const history = cp.status?.history ?? [];
  const last = [...history].sort((a, b) => b.time.localeCompare(a.time))[0];
  return last?.message ?? cp.status?.conditions?.find((c) => c.type === 'Ready')?.message;
}

/** A NoRollbackPoint condition that was not there (in this form) before the request. */
function freshRefusal(conditions: Condition[] | undefined, before: Condition[]): Condition | undefined {
  const seen = new Set(before.map((c) => `${c.type}/${c.reason}/${c.lastTransitionTime}/${c.message}`));
  return conditions?.find((c) => c.reason === REASON.NoRollbackPoint && !seen.has(`${c.type}/${c.reason}/${c.lastTransitionTime}/${c.message}`));
}

async function waitForOutcome(ctx: KubeContext, name: string, requested: string, before: Condition[], timeoutMs: number, intervalMs: number, quiet: boolean): Promise<Outcome> {
  const p = progress({ quiet });
  const base = { checkpoint: name, namespace: ctx.namespace, requested };
  const deadline = performance.now() + timeoutMs;
  const startedAt = new Date(Date.now() - 1000).toISOString();
  let goneSince: number | undefined;
  p.start(`waiting for the operator to roll back ${name}`);
  for (;;) {
    let cp: ModelCheckpoint;
    try {
      cp = await requireCheckpoint(ctx, name);
    } catch (err) {
      p.fail();
      throw err;
    }
    const phase = cp.status?.phase;
    p.update(`waiting for the operator to roll back ${name} (phase ${phase ?? 'Pending'})`);
    if (phase === 'RolledBack') {
      p.done();
      const ready = cp.status?.conditions?.find((c) => c.type === 'Ready');
      return { ...base, result: 'RolledBack', phase, reason: ready?.reason, message: latestMessage(cp) };
    }
    const refusal = freshRefusal(cp.status?.conditions, before);
    if (refusal) {
      p.fail(refusal.reason);
      return { ...base, result: 'Refused', phase, reason: refusal.reason, message: oneLine(refusal.message) };
    }
    // The operator removes the annotation when it handled the request; gone for a while without
    // RolledBack means it refused (a --to that was never deployed is reported only in an Event).
    if (cp.metadata.annotations?.[ANNOTATIONS.rollbackRequest] === undefined) {
      goneSince ??= performance.now();
      if (performance.now() - goneSince >= REFUSAL_GRACE_MS) {
        const note = await refusalEvent(ctx, name, startedAt);
        p.fail(REASON.NoRollbackPoint);
        return { ...base, result: 'Refused', phase, reason: note?.reason ?? REASON.NoRollbackPoint, message: note?.note ?? `the operator removed the request without rolling back; see \`kubectl get events -n ${ctx.namespace} --field-selector regarding.name=${name}\`` };
      }
    }
    if (performance.now() >= deadline) {
      p.fail('timed out');
      throw new CliError(`${name} was not rolled back within ${Math.round(timeoutMs / 1000)} s (phase ${phase ?? 'Pending'}): check that the operator is running, or wait longer with --timeout.`);
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - performance.now())));
  }
}

async function refusalEvent(ctx: KubeContext, name: string, since: string): Promise<{ reason: string; note: string } | undefined> {
  try {
    const list = await ctx.client.request<{ items: Array<{ reason?: string; note?: string; eventTime?: string; regarding?: { name?: string; kind?: string } }> }>('GET', paths.events(ctx.namespace), {
      query: { fieldSelector: `regarding.name=${name}` },
    });
    const hits = list.items
      .filter((e) => e.reason === REASON.NoRollbackPoint && (e.eventTime ?? '') >= since)
      .sort((a, b) => (b.eventTime ?? '').localeCompare(a.eventTime ?? ''));
    const hit = hits[0];
    return hit ? { reason: hit.reason ?? REASON.NoRollbackPoint, note: oneLine(hit.note ?? '') } : undefined;
  } catch {
    return undefined;
  }
}
