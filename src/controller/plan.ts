// What one step writes, decided without I/O. The reconciler observes (observe.ts), the phase
// machine picks the step (phases.ts), a planner here turns the step into a Plan (the status to
// write, the audit entry, the Events, the job operations, what follows the write, the requeue),
// and apply.ts carries it out. Steps that must read or write something first (the Deployment,
// an older checkpoint) do that in deploy.ts and hand what they got to a planner in
// plan-deploy.ts.
import { CONDITION } from '../api/conditions.js';
import { REASON } from '../api/reasons.js';
import type { ModelCheckpoint, ModelCheckpointStatus, Phase, ResolvedAnalysis } from '../api/types.js';
import type { DeploymentFacts } from '../kube/facts.js';
import type { BaselineRef, ValidationReport } from '../validation/contract.js';
import { CLAIMING_PHASES, LIVE_PHASES, type Step, type View } from './phases.js';
import type { ReconcileResult } from './queue.js';
import { restarted, withDeployed, withPhase, withStages, withStall, withWaiting } from './status.js';

export type EventType = 'Normal' | 'Warning';
export interface PlannedEvent { type: EventType; reason: string; action: string; note: string }
export type JobKind = 'fetch' | 'validate';
export interface PhaseChange { from: Phase | undefined; to: Phase; reason: string; message: string }

/** One step's writes, in the order apply.ts makes them. */
export interface Plan {
  /** Recorded in the target's audit trail before the status is written. */
  audit?: { deployment: string; entry: Record<string, unknown> };
  /** The status to write (kept in memory while a folded step runs); none when nothing changed. */
  status?: ModelCheckpointStatus;
  /** The fetch job starts as soon as the status is written (before a folded write lands). */
  startFetch?: boolean;
  // The rest follows once the status is on the apiserver, in this order:
  /** Told to the observer and logged. */
  change?: PhaseChange;
  events: PlannedEvent[];
  warn?: { msg: string; fields: Record<string, unknown> };
  /** Finished jobs forgotten (their outcome is in status now). */
  clearJobs: JobKind[];
  /** The claim on the Deployment dropped (a compare-and-set on the claim itself). */
  releaseClaim?: boolean;
  /** The checkpoint's downloaded files removed. */
  cleanup?: boolean;
  result: ReconcileResult;
}

/** A plan that writes nothing. */
export const only = (result: ReconcileResult): Plan => ({ events: [], clearJobs: [], result });

const event = (type: EventType, reason: string, action: string, note: string): PlannedEvent => ({ type, reason, action, note });

/** A spec change: start over at Pending (the caller cancelled the old generation's work). */
export function planRestart(status: ModelCheckpointStatus, gen: number, message: string, now: string): Plan {
  return { status: restarted(status, gen, message, now), events: [event('Normal', REASON.SpecChanged, 'Restart', message)], clearJobs: [], result: { requeueAfterMs: 0 } };
}

/** Stalled, waiting for something outside (a Secret, the Deployment, a template): said once. */
export function planStall(status: ModelCheckpointStatus, step: { reason: string; message: string }, gen: number, now: string): Plan {
  // No Secret watch: a missing Secret is looked for again soon, so the checkpoint resumes by
  // itself. The Deployment and template watches bring the others back; this is a safety net.
  const again = step.reason === REASON.SecretNotFound || step.reason === REASON.InvalidSecret ? 5_000 : 60_000;
  const said = status.conditions?.find((c) => c.type === CONDITION.stalled && c.status === 'True' && c.reason === step.reason && c.message === step.message);
  if (said && status.observedGeneration === gen) return only({ requeueAfterMs: again });
  return { status: withStall(status, status.phase ?? 'Pending', step.reason, step.message, gen, now), events: [event('Warning', step.reason, 'Wait', step.message)], clearJobs: [], result: { requeueAfterMs: again } };
}

/** Held (autoDeploy off, an analysis that cannot be had) or waiting for the claim: said once. */
export function planWaiting(status: ModelCheckpointStatus, step: Extract<Step, { kind: 'Hold' | 'AwaitClaim' }>, gen: number, now: string): Plan {
  const reason = step.kind === 'Hold' ? step.reason : REASON.AwaitingClaim;
  const result = { requeueAfterMs: step.kind === 'AwaitClaim' ? 5_000 : 60_000 };
  const ready = status.conditions?.find((c) => c.type === CONDITION.reconciling);
  if (ready?.reason === reason && ready.message === step.message && status.observedGeneration === gen) return only(result);
  return { status: withWaiting(status, status.phase ?? 'Validated', reason, step.message, gen, now), events: [event('Normal', reason, 'Wait', step.message)], clearJobs: [], result };
}

/** A transient failure: status.retry says when the next attempt is, the failed job is dropped. */
export function planRetryLater(cp: ModelCheckpoint, step: Extract<Step, { kind: 'RetryLater' }>, now: string): Plan {
  const status = cp.status ?? {};
  const gen = cp.metadata.generation ?? 1;
  return {
    // Status first: if the write loses a race, the failed job is still there for the retry.
    status: { ...withWaiting(status, status.phase ?? 'Fetching', step.reason, step.message, gen, now), retry: step.retry },
    clearJobs: [status.phase === 'Validating' ? 'validate' : 'fetch'],
    events: [event('Warning', step.reason, 'Retry', step.message)],
    warn: { msg: 'transient failure; retrying', fields: { namespace: cp.metadata.namespace, name: cp.metadata.name, phase: status.phase, attempts: step.retry.attempts, nextAttemptAt: step.retry.nextAttemptAt, reason: step.reason } },
    result: { requeueAfterMs: step.delayMs },
  };
}

/** The fields a Transition step records beside the phase change. */
export function transitionExtra(step: Extract<Step, { kind: 'Transition' }>, v: View, resolved: ResolvedAnalysis | undefined): Partial<ModelCheckpointStatus> {
  // The analysis is recorded as it starts: from here on the templates may change freely.
  if (step.to === 'Monitoring' && resolved) return { analysis: { ...(v.status.analysis ?? {}), resolved } };
  if (step.to === 'Deployed' && v.target.exists && v.target.rollout) return { rollout: v.target.rollout };
  return step.retry ? { retry: step.retry } : {};
}

/**
 * A phase change: the status (with the deployment record for a live phase, Deployed's condition),
 * the audit entry of a deploy, the Event, the log line, and the work the new phase ends or starts.
 * `extra` adds fields next to the phase change (analysis results); the base is cp.status.
 */
export function planTransition(cp: ModelCheckpoint, facts: DeploymentFacts | undefined, change: Omit<PhaseChange, 'from'>, extra: Partial<ModelCheckpointStatus>, now: string): Plan {
  const { to, reason, message } = change;
  const gen = cp.metadata.generation ?? 1;
  const from = cp.status?.phase;
  const status = transitionStatus(cp.status ?? {}, facts, change, extra, gen, now);
  const warn = to === 'Failed' || to === 'Rejected' || to === 'RolledBack';
  return {
    // Also after a restart that found the patch already done: the audit trail misses no deploy.
    ...(from === 'Deploying' && to === 'Deployed' ? { audit: { deployment: cp.spec.target.deployment, entry: deployEntry(cp, status, facts) } } : {}),
    status,
    // Started before a folded status is written, so the next folded step can find it done; a
    // retry after a lost write finds the same job (same uid, kind and generation) and keeps it.
    startFetch: to === 'Fetching',
    change: { from, to, reason, message },
    events: [event(warn ? 'Warning' : 'Normal', reason, to, message)],
    clearJobs: to === 'Validating' ? ['fetch'] : [],
    // The release is a compare-and-set on the claim itself, made whatever a lagging cache says
    // of the Deployment (skipping on a cache that did not show our claim left it behind).
    releaseClaim: from !== undefined && CLAIMING_PHASES.has(from) && !CLAIMING_PHASES.has(to),
    cleanup: to === 'Failed' || to === 'Rejected',
    result: { requeueAfterMs: 0 },
  };
}

function transitionStatus(base: ModelCheckpointStatus, facts: DeploymentFacts | undefined, { to, reason, message }: Omit<PhaseChange, 'from'>, extra: Partial<ModelCheckpointStatus>, gen: number, now: string): ModelCheckpointStatus {
  let status: ModelCheckpointStatus = { ...withPhase(base, to, reason, message, gen, now), ...extra };
  if (status.retry && to !== base.phase) status.retry = settledRetry(status.retry, to);
  if (LIVE_PHASES.has(to) && facts) {
    status = {
      ...status,
      deployment: { ...(status.deployment ?? { deployedAt: now, deployment: facts.name }), revision: status.rollout?.revision ?? facts.revision, generation: facts.generation },
    };
    if (to === 'Deployed') {
      status = withDeployed(status, true, reason, `${message}; Deployment ${facts.name} revision ${status.deployment?.revision ?? 'pending'}`, gen, now);
    }
  }
  if (to === 'Superseded' || to === 'RolledBack') status = withDeployed(status, false, reason, message, gen, now);
  if (to === 'RolledBack') status.rolledBackGeneration = gen;
  return status;
}

/** The audit trail's entry for a deploy: what went live, on which revision, with which pods and gates. */
function deployEntry(cp: ModelCheckpoint, status: ModelCheckpointStatus, facts: DeploymentFacts | undefined): Record<string, unknown> {
  return {
    action: 'deploy', checkpoint: cp.metadata.name, version: cp.spec.version, digest: cp.spec.artifact.digest, revision: status.deployment?.revision ?? facts?.revision,
    pods: status.rollout ? `${status.rollout.available}/${status.rollout.desired} available` : undefined,
    severity: cp.status?.severity, rollbackPoint: cp.status?.deployment?.rollbackPoint?.checkpoint, stages: cp.status?.stages?.map((s) => ({ stage: s.stage, verdict: s.verdict, summary: s.summary })),
  };
}

/**
 * status.retry as a phase change leaves it: no next attempt once the phase moved on (the count
 * stays as a record), and a record of the phase being entered anew is dropped.
 */
function settledRetry(retry: NonNullable<ModelCheckpointStatus['retry']>, to: Phase): ModelCheckpointStatus['retry'] {
  if (retry.phase === to) return undefined;
  const { nextAttemptAt: _next, ...kept } = retry;
  return kept;
}

/**
 * Validating, against what production runs now as the Deployment records it (even if that
 * checkpoint is gone), so a later change of production is noticed and nothing loops when it
 * cannot be compared. Written only when that changed (the job is started by the caller).
 */
export function planStartValidate(status: ModelCheckpointStatus, baseline: BaselineRef | undefined, against: { checkpoint?: string; digest?: string }, gen: number, now: string): Plan {
  if (status.validatedAgainst?.digest === against.digest && status.phase === 'Validating') return only({ requeueAfterMs: 30_000 });
  const message = baseline ? `validating against ${baseline.checkpoint} (${baseline.version})` : 'validating; no checkpoint in production to compare with';
  return { status: { ...withPhase(status, 'Validating', REASON.Validating, message, gen, now), validatedAgainst: against }, events: [], clearJobs: [], result: { requeueAfterMs: 30_000 } };
}

/**
 * A finished validation: the stages and severity in status (the report ConfigMap named beside
 * them), an Event per failed gate, then Validated or Rejected; the validate job is forgotten.
 */
export function planRecordValidation(cp: ModelCheckpoint, report: ValidationReport, reportName: string, now: string): Plan {
  const gen = cp.metadata.generation ?? 1;
  const staged = withStages(cp.status ?? {}, report.stages, gen, now);
  // No regression judged (an earlier gate blocked): no severity, not "NONE".
  const { severity: _previous, ...rest } = staged;
  const status: ModelCheckpointStatus = { ...rest, ...(report.severity ? { severity: report.severity } : {}), reportConfigMap: reportName };
  const gates = report.stages.filter((s) => s.verdict === 'Failed' || s.verdict === 'Error').map((s) => event('Warning', s.reason, `Gate:${s.stage}`, s.message));
  const plan = planTransition({ ...cp, status }, undefined, { to: report.passed ? 'Validated' : 'Rejected', reason: report.reason, message: report.message }, {}, now);
  return { ...plan, events: [...gates, ...plan.events], clearJobs: [...plan.clearJobs, 'validate'] };
}

/** Nothing to do but record that this generation was seen. */
export function planNothing(status: ModelCheckpointStatus, gen: number): Plan {
  return status.observedGeneration === gen ? only(undefined) : { status: { ...status, observedGeneration: gen }, events: [], clearJobs: [], result: undefined };
}
