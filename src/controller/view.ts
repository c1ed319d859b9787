// What the phase machine decides on (phases.ts `View`), built from what the reconciler read: the
// checkpoint, its target Deployment's facts, the state of its background job, whether the claim
// holder is live. Pure: observe.ts does the reads and hands the answers in.
import { REASON, REASONS } from '../api/reasons.js';
import { ANNOTATIONS, DEFAULT_MODEL_ENV, FINALIZER, type ModelCheckpoint, type Phase } from '../api/types.js';
import type { DeploymentFacts, RolloutFacts } from '../kube/facts.js';
import { claimOf, claimUid, runningModel } from '../kube/facts.js';
import type { Resolution } from '../monitor/templates.js';
import { StageError } from '../validation/contract.js';
import { LIVE_PHASES, type AnalysisView, type JobView, type RetryPolicy, type Step, type TargetView, type View } from './phases.js';
import { DEFAULT_MAX_RESTARTS, type RolloutInput } from './rollout.js';

/** Phases in which the rollout of the checkpoint's pods is read (when the Deployment runs it). */
export const ROLLOUT_PHASES: ReadonlySet<Phase> = new Set(['Validated', 'Deploying', 'Superseded']);
/** Phases in which a fetch may be about to start: the Secrets the spec names are checked. */
export const FETCH_PHASES: ReadonlySet<Phase> = new Set(['Pending', 'Fetching', 'Validating']);
/** spec.rollout.progressDeadlineSeconds when unset: the Deployment API's own default. */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

/** A background job as the registry (jobs.ts) reports it. */
export type JobState = { state: 'running' } | { state: 'succeeded' } | { state: 'failed'; error: unknown };

export interface ViewInput {
  cp: ModelCheckpoint;
  facts: DeploymentFacts | undefined;
  /** The job of the current phase's kind (jobKindOf), if any. */
  job: JobState | undefined;
  /** Whether the claim held by `holder` is live (observe.ts asks the fold and the caches). */
  claimLive: (holder: { uid: string; name: string }) => boolean;
  /** ms since the epoch. */
  now: number;
  retryPolicy?: RetryPolicy;
}

/** The background job the phase waits for: fetch while Fetching, validate while Validating. */
export function jobKindOf(phase: Phase | undefined): 'fetch' | 'validate' | undefined {
  return phase === 'Fetching' ? 'fetch' : phase === 'Validating' ? 'validate' : undefined;
}

export function viewOf({ cp, facts, job, claimLive, now, retryPolicy }: ViewInput): View {
  const uid = cp.metadata.uid as string;
  const kind = jobKindOf(cp.status?.phase);
  return {
    uid,
    generation: cp.metadata.generation ?? 1,
    deleting: Boolean(cp.metadata.deletionTimestamp),
    hasFinalizer: (cp.metadata.finalizers ?? []).includes(FINALIZER),
    spec: cp.spec,
    status: cp.status ?? {},
    target: facts ? targetOf(cp, facts, claimLive) : { exists: false },
    job: kind ? jobViewOf(job, kind) : { state: 'none' },
    rollbackRequest: rollbackRequestOf(cp),
    promotedGeneration: promotedGenerationOf(cp),
    productionDigest: cp.status?.validatedAgainst ? (cp.status.validatedAgainst.digest ?? '') : undefined,
    now,
    retryPolicy,
  };
}

function targetOf(cp: ModelCheckpoint, facts: DeploymentFacts, claimLive: ViewInput['claimLive']): TargetView {
  const uid = cp.metadata.uid as string;
  const running = runningModel(facts, cp.spec.target.container, cp.spec.target.modelEnv ?? DEFAULT_MODEL_ENV);
  const holder = claimUid(facts);
  return {
    exists: true,
    containerFound: facts.containers.some((c) => c.name === cp.spec.target.container),
    runningUid: running.uid,
    runningDigest: running.uid ? running.digest : undefined,
    envDigest: running.uid === uid ? running.envDigest : undefined,
    envUri: running.uid === uid ? running.envUri : undefined,
    rolledBackFromUid: facts.annotations[ANNOTATIONS.rolledBackFrom] || undefined,
    claimUid: holder,
    claimLive: holder !== undefined && claimLive({ uid: holder, name: claimOf(facts)?.name ?? '' }),
  };
}

/** A job's outcome as the phase machine sees it; a failure that is no StageError is terminal. */
export function jobViewOf(job: JobState | undefined, kind: 'fetch' | 'validate'): JobView {
  if (job?.state === 'running') return { state: 'running' };
  if (job?.state === 'succeeded') return { state: 'succeeded' };
  if (job?.state !== 'failed') return { state: 'none' };
  const error = job.error;
  if (error instanceof StageError) return { state: 'failed', reason: error.reason, message: error.message, terminal: error.terminal };
  const message = error instanceof Error ? error.message : String(error);
  return { state: 'failed', reason: kind === 'fetch' ? REASONS.FetchFailed : REASONS.ValidationError, message, terminal: true };
}

/** The analysis as the view carries it: how many metrics from which templates, or why it cannot be had. */
export function analysisViewOf(resolution: Resolution): AnalysisView {
  return resolution.ok ? { ok: true, metrics: resolution.analysis.metrics.length, templates: resolution.analysis.templates.map((t) => t.name) } : resolution;
}

/**
 * Whether the phase decides on the analysis resolved from its templates: Validated (before the
 * deploy), Deployed (as analysis starts) and Monitoring without a recorded copy. Elsewhere a
 * running analysis uses what status recorded, whatever the templates say now.
 */
export function wantsResolution(cp: ModelCheckpoint): boolean {
  const status = cp.status ?? {};
  if (!cp.spec.analysis || cp.metadata.deletionTimestamp || status.observedGeneration !== (cp.metadata.generation ?? 1)) return false;
  const phase = status.phase;
  return phase === 'Validated' || phase === 'Deployed' || (phase === 'Monitoring' && !status.analysis?.resolved);
}

/** What the rollout judge is handed for this checkpoint's pods. */
export function rolloutInputOf(cp: ModelCheckpoint, target: DeploymentFacts, facts: RolloutFacts, nowMs: number): RolloutInput {
  const rollout = cp.spec.rollout ?? {};
  const deploying = cp.status?.phase === 'Deploying';
  const started = deploying && cp.status?.deployment?.deployedAt ? Date.parse(cp.status.deployment.deployedAt) : undefined;
  return {
    desired: target.replicas,
    conditions: target.conditions,
    ...facts,
    checkpointUid: cp.metadata.uid as string,
    ...(started !== undefined && !Number.isNaN(started) ? { startedAtMs: started, deadlineSeconds: rollout.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS } : {}),
    nowMs,
    maxRestarts: rollout.maxRestarts ?? DEFAULT_MAX_RESTARTS,
  };
}

/**
 * Steps that say which checkpoint the Deployment runs changed: a live checkpoint leaves
 * production (Superseded, RolledBack, or its Deployment is gone), or one that had left comes back
 * (Superseded or RolledBack, then Deployed). Decided on a fresh read, never on the cache alone.
 */
export function changesProduction(v: View, step: Step): boolean {
  const phase = v.status.phase;
  if (phase === undefined) return false;
  if (LIVE_PHASES.has(phase)) {
    return (step.kind === 'Transition' && (step.to === 'Superseded' || step.to === 'RolledBack')) || (step.kind === 'Stall' && step.reason === REASON.TargetNotFound);
  }
  // Coming back waits for the rollout, read after this check: a cache that says the Deployment
  // runs this checkpoint again is confirmed before that rollout is even looked at.
  return (phase === 'Superseded' || phase === 'RolledBack') && v.target.exists && v.target.runningUid === v.uid && (step.kind !== 'Transition' || step.to === 'Deployed');
}

/** The rollback annotation: "true" for the recorded rollback point, a name for an older checkpoint. */
function rollbackRequestOf(cp: ModelCheckpoint): string | undefined {
  const v = cp.metadata.annotations?.[ANNOTATIONS.rollbackRequest]?.trim();
  return v && v !== 'false' ? v : undefined;
}

/** The generation approved by the promote annotation, when it holds a whole number. */
function promotedGenerationOf(cp: ModelCheckpoint): number | undefined {
  const v = cp.metadata.annotations?.[ANNOTATIONS.promote]?.trim();
  return v && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}
