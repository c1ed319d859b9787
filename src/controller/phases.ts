// The phase machine: given what the reconciler observed, the one next step. Pure: no I/O, no
// clock (the caller passes `now`), so every branch is tested without a server.
//
// Pending → Fetching → Validating → Validated → Deploying → Deployed → Monitoring → Healthy,
// ending in Rejected (a gate said no), Failed (the work could not be done), RolledBack (the live
// guard or a person took it out) or Superseded (a newer checkpoint took the target).
import { truncate } from '../api/conditions.js';
import { REASON } from '../api/reasons.js';
import { DEFAULT_MODEL_ENV, type ModelCheckpointSpec, type ModelCheckpointStatus, type Phase, type RetryStatus } from '../api/types.js';
import { hasAnalysis } from '../monitor/templates.js';
import type { RolloutView } from './rollout.js';

/** Phases in which the checkpoint holds (or is about to hold) the claim on its Deployment. */
export const CLAIMING_PHASES: ReadonlySet<Phase> = new Set(['Validated', 'Deploying', 'Deployed', 'Monitoring']);
/** Phases that end the checkpoint's run until its spec changes. */
export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set(['Rejected', 'Failed', 'RolledBack']);
/** Phases in which the checkpoint is what the Deployment should be running. */
export const LIVE_PHASES: ReadonlySet<Phase> = new Set(['Deployed', 'Monitoring', 'Healthy']);

const ALLOWED: Record<Phase, readonly Phase[]> = {
  Pending: ['Fetching', 'Failed'],
  Fetching: ['Validating', 'Failed', 'Pending'],
  Validating: ['Validated', 'Rejected', 'Failed', 'Pending'],
  Validated: ['Deploying', 'Deployed', 'Validating', 'Pending', 'Superseded'],
  Deploying: ['Deployed', 'Failed', 'Validated', 'Pending', 'RolledBack'],
  Deployed: ['Monitoring', 'Healthy', 'Superseded', 'RolledBack', 'Pending'],
  Monitoring: ['Healthy', 'RolledBack', 'Superseded', 'Pending'],
  Healthy: ['Superseded', 'RolledBack', 'Pending'],
  Superseded: ['Deployed', 'Pending'],
  Rejected: ['Pending'],
  Failed: ['Pending'],
  RolledBack: ['Pending', 'Deployed'],
};

export function canTransition(from: Phase, to: Phase): boolean {
  return from === to || ALLOWED[from].includes(to);
}

/** What the reconciler saw of the target Deployment. */
export type TargetView =
  | { exists: false }
  | {
      exists: true;
      containerFound: boolean;
      /** uid of the checkpoint the Deployment's annotations say it runs. */
      runningUid?: string;
      runningDigest?: string;
      /** The digest the container's env actually carries (differs from runningDigest on drift). */
      envDigest?: string;
      /** The URI the container's model env (MODEL_URI or spec.target.modelEnv) actually carries. */
      envUri?: string;
      /** uid of the checkpoint the last rollback on this Deployment took out. */
      rolledBackFromUid?: string;
      /** uid of the checkpoint that holds the claim, and whether that claim is still live. */
      claimUid?: string;
      claimLive: boolean;
      /**
       * How the rollout of this checkpoint's pods goes (src/controller/rollout.ts), read while it
       * matters: when the Deployment runs this checkpoint and it is Validated, Deploying or
       * Superseded. Undefined elsewhere, or when it could not be read.
       */
      rollout?: RolloutView;
    };

export type JobView =
  | { state: 'none' }
  | { state: 'running' }
  | { state: 'succeeded' }
  | { state: 'failed'; reason: string; message: string; terminal: boolean };

export interface View {
  uid: string;
  generation: number;
  deleting: boolean;
  hasFinalizer: boolean;
  spec: ModelCheckpointSpec;
  status: ModelCheckpointStatus;
  target: TargetView;
  /** The background job for this uid and generation (fetch while Fetching, validate while Validating). */
  job: JobView;
  /** The rollback annotation's value, if a person asked for one. */
  rollbackRequest?: string;
  /** The generation a person approved with the promote annotation (for autoDeploy: false). */
  promotedGeneration?: number;
  /** The digest of the checkpoint that was in production when this one was validated. */
  productionDigest?: string;
  /**
   * The analysis resolved from its templates, where the phase needs it (Validated, Deployed, and
   * Monitoring without a recorded copy): how many metrics, from which templates, or why it cannot be had.
   */
  analysis?: AnalysisView;
  /** The Secrets the spec names, where a fetch is about to start: missing or unusable stalls it. */
  secrets?: { ok: true } | { ok: false; reason: string; message: string };
  /** The clock (ms since the epoch): when a transient failure's next attempt is due. Missing reads as due. */
  now?: number;
  /** How transient failures of the background work are retried (default DEFAULT_RETRY). */
  retryPolicy?: RetryPolicy;
}

/** Transient failures of a phase's background work: attempts in all, first delay doubling up to a cap. */
export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 5_000, maxDelayMs: 5 * 60_000 };

/** The wait before the attempt after `failed` failed attempts: base, 2·base, 4·base, … capped. */
export function retryDelayMs(policy: RetryPolicy, failed: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failed - 1));
}

export type AnalysisView = { ok: true; metrics: number; templates: string[] } | { ok: false; reason: string; message: string };

export type Step =
  | { kind: 'Finalize' }
  | { kind: 'AddFinalizer' }
  | { kind: 'Restart'; message: string }
  | { kind: 'Stall'; reason: string; message: string }
  | { kind: 'Transition'; to: Phase; reason: string; message: string; retry?: RetryStatus }
  | { kind: 'StartFetch' }
  | { kind: 'StartValidate' }
  | { kind: 'AwaitJob' }
  /** A transient failure: record it in status.retry, drop the failed job, try again after delayMs. */
  | { kind: 'RetryLater'; retry: RetryStatus; delayMs: number; reason: string; message: string }
  /** A retry is scheduled and not yet due. */
  | { kind: 'AwaitRetry'; delayMs: number }
  | { kind: 'RecordValidation' }
  | { kind: 'Hold'; reason: string; message: string }
  | { kind: 'AwaitClaim'; message: string }
  | { kind: 'ClaimAndDeploy' }
  | { kind: 'PatchDeployment' }
  | { kind: 'AwaitRollout'; message: string }
  | { kind: 'Analyze' }
  | { kind: 'Rollback'; reason: string; message: string; to?: string }
  | { kind: 'Drift'; message: string }
  | { kind: 'Nothing' };

const runsUs = (v: View): boolean => v.target.exists && v.target.runningUid === v.uid;

export function decide(v: View): Step {
  if (v.deleting) return { kind: 'Finalize' };
  if (!v.hasFinalizer) return { kind: 'AddFinalizer' };
  const phase = v.status.phase;
  if (phase !== undefined && v.status.observedGeneration !== v.generation) {
    return { kind: 'Restart', message: `spec changed (generation ${v.status.observedGeneration ?? 0} → ${v.generation}): validating again` };
  }
  return STEP_OF[phase ?? 'Pending'](v);
}

/** The next step in each phase, once the checkpoint is neither deleting nor changed. */
const STEP_OF: Record<Phase, (v: View) => Step> = {
  Pending: (v) => targetProblem(v) ?? secretProblem(v) ?? { kind: 'Transition', to: 'Fetching', reason: REASON.Fetching, message: `fetching ${v.spec.artifact.uri}` },
  Fetching: (v) => (v.job.state === 'none' ? secretProblem(v) : undefined) ?? jobStep(v, 'StartFetch', { to: 'Validating', reason: REASON.Fetched, message: `fetched ${v.spec.artifact.digest}` }),
  Validating: (v) => (v.job.state === 'none' ? secretProblem(v) : undefined) ?? jobStep(v, 'StartValidate', undefined),
  Validated: validatedStep,
  Deploying: deployingStep,
  Deployed: liveStep,
  Monitoring: liveStep,
  Healthy: liveStep,
  Superseded: supersededStep,
  RolledBack: () => ({ kind: 'Nothing' }),
  Rejected: () => ({ kind: 'Nothing' }),
  Failed: () => ({ kind: 'Nothing' }),
};

/** Validated: held (paused, awaiting approval), stalled, waiting for the claim, validated again, or deployed. */
function validatedStep(v: View): Step {
  if (v.spec.rollout?.paused) return { kind: 'Hold', reason: REASON.Paused, message: 'spec.rollout.paused is true: set it to false to deploy' };
  if (v.spec.rollout?.autoDeploy === false && v.promotedGeneration !== v.generation) {
    return { kind: 'Hold', reason: REASON.AutoDeployDisabled, message: `spec.rollout.autoDeploy is false: approve generation ${v.generation} with \`kubectl modelgate promote\` (annotation modelgate.io/promote=${v.generation}) or set autoDeploy to true` };
  }
  const stall = targetProblem(v);
  if (stall) return stall;
  if (runsUs(v)) {
    const r = (v.target as Extract<TargetView, { exists: true }>).rollout;
    if (r?.state === 'Available') return { kind: 'Transition', to: 'Deployed', reason: REASON.AlreadyRunning, message: `the Deployment already runs this checkpoint: ${r.message}` };
    return { kind: 'AwaitRollout', message: r?.message ?? 'the Deployment already runs this checkpoint: waiting for its pods' };
  }
  // Checked before the deploy: a checkpoint whose analysis cannot be resolved never changes the Deployment.
  if (v.analysis && !v.analysis.ok) return { kind: 'Stall', reason: v.analysis.reason, message: v.analysis.message };
  const t = v.target as Extract<TargetView, { exists: true }>;
  if (t.claimUid && t.claimUid !== v.uid && t.claimLive) {
    return { kind: 'AwaitClaim', message: 'another checkpoint holds the claim on the Deployment: waiting until it is Healthy, rolled back or gone' };
  }
  if (v.productionDigest !== undefined && t.runningDigest !== undefined && t.runningDigest !== v.productionDigest) {
    return { kind: 'Transition', to: 'Validating', reason: REASON.BaselineChanged, message: `production changed to ${t.runningDigest} since validation against ${v.productionDigest}: validating again` };
  }
  return { kind: 'ClaimAndDeploy' };
}

/** Deploying: patch the Deployment, then follow its rollout (or a requested rollback). */
function deployingStep(v: View): Step {
  const stall = targetProblem(v);
  if (stall) return stall;
  if (!runsUs(v)) return { kind: 'PatchDeployment' };
  if (v.rollbackRequest) return requestedRollback(v.rollbackRequest);
  return rolloutStep(v, (v.target as Extract<TargetView, { exists: true }>).rollout);
}

/** Deployed, Monitoring, Healthy: left production, a requested rollback, drift, or the analysis. */
function liveStep(v: View): Step {
  if (!v.target.exists) return { kind: 'Stall', reason: REASON.TargetNotFound, message: `Deployment ${v.spec.target.deployment} not found: the operator never recreates it` };
  if (!runsUs(v)) {
    return v.target.rolledBackFromUid === v.uid
      ? { kind: 'Transition', to: 'RolledBack', reason: REASON.RolledBack, message: 'the Deployment was rolled back from this checkpoint' }
      : { kind: 'Transition', to: 'Superseded', reason: REASON.Superseded, message: 'the Deployment now runs another checkpoint' };
  }
  if (v.rollbackRequest) return requestedRollback(v.rollbackRequest);
  const drift = driftOf(v, v.target);
  if (drift) return drift;
  const phase = v.status.phase;
  if (phase === 'Healthy') return { kind: 'Nothing' };
  if (phase === 'Deployed') return analysisStart(v);
  // A Monitoring checkpoint without a recorded analysis (from before templates) resolves it first.
  if (!v.status.analysis?.resolved && v.analysis && !v.analysis.ok) return { kind: 'Stall', reason: v.analysis.reason, message: v.analysis.message };
  return { kind: 'Analyze' };
}

/** The container's model env does not say what the operator put there: someone changed it by hand. */
function driftOf(v: View, t: Extract<TargetView, { exists: true }>): Step | undefined {
  if (t.envDigest !== undefined && t.envDigest !== v.spec.artifact.digest) {
    return { kind: 'Drift', message: `the container's MODEL_DIGEST is ${t.envDigest}, not ${v.spec.artifact.digest}: someone changed the model by hand; the operator leaves it alone` };
  }
  if (t.envUri !== undefined && t.envUri !== v.spec.artifact.uri) {
    return { kind: 'Drift', message: `the container's ${v.spec.target.modelEnv ?? DEFAULT_MODEL_ENV} is ${shownUri(t.envUri)}, not ${shownUri(v.spec.artifact.uri)}: someone changed the model by hand; the operator leaves it alone` };
  }
  return undefined;
}

/** Deployed: Healthy at once without an analysis; else Monitoring, saying what it watches. */
function analysisStart(v: View): Step {
  if (!hasAnalysis(v.spec.analysis)) return { kind: 'Transition', to: 'Healthy', reason: REASON.Healthy, message: 'deployed; no analysis configured' };
  // Checked again as the analysis starts: a template may have gone since the deploy.
  if (v.analysis && !v.analysis.ok) return { kind: 'Stall', reason: v.analysis.reason, message: v.analysis.message };
  const metrics = v.analysis?.ok ? v.analysis.metrics : (v.spec.analysis?.metrics?.length ?? 0);
  const templates = v.analysis?.ok ? v.analysis.templates : [];
  return { kind: 'Transition', to: 'Monitoring', reason: REASON.Monitoring, message: `watching ${metrics} metric(s) in Prometheus${templates.length > 0 ? `, with template${templates.length > 1 ? 's' : ''} ${templates.join(', ')}` : ''}` };
}

/** Superseded: back in production once its pods are (a rollback to it is a rollout like any other). */
function supersededStep(v: View): Step {
  if (!runsUs(v)) return { kind: 'Nothing' };
  const r = (v.target as Extract<TargetView, { exists: true }>).rollout;
  if (r?.state === 'Available') return { kind: 'Transition', to: 'Deployed', reason: REASON.RolledBackTo, message: `the Deployment runs this checkpoint again (rolled back to it): ${r.message}` };
  return { kind: 'Nothing' };
}

/**
 * Steps that may be folded into the status write of the step after them: each only moves the
 * checkpoint along the way to Validated (Pending → Fetching → Validating → Validated, starting
 * or reading the background work) and writes nothing but status. When the work they start is
 * done at once (an artifact already fetched, a validation answered from what is known), the
 * reconciler runs them one after another in memory and writes the status once, with every
 * phase in status.history at the time it was entered and an Event for each; the step that ends
 * the chain (the claim beside Deploying, a wait, a stall) writes it. What must reach the
 * apiserver on its own first (the finalizer, the claim, the Deployment patch) is never folded.
 */
export function foldable(v: View, step: Step): boolean {
  const phase = v.status.phase ?? 'Pending';
  switch (step.kind) {
    case 'Transition':
      return (phase === 'Pending' && step.to === 'Fetching') || (phase === 'Fetching' && step.to === 'Validating');
    case 'StartFetch':
    case 'StartValidate':
    case 'RecordValidation':
      return true;
    default:
      return false;
  }
}

/** The background work the step after a folded one decides on (its job kind), if any. */
export function awaitedJob(step: Step): 'fetch' | 'validate' | undefined {
  if (step.kind === 'StartFetch' || (step.kind === 'Transition' && step.to === 'Fetching')) return 'fetch';
  if (step.kind === 'StartValidate') return 'validate';
  return undefined;
}

/**
 * Deploying, with the Deployment patched: Deployed once the new pods are all available; a rollout
 * that failed goes back to the rollback point (or holds, when spec.rollout.onFailure says so or
 * there is no point to go back to), the pods' reasons in the message.
 */
function rolloutStep(v: View, r: RolloutView | undefined): Step {
  if (!r) return { kind: 'AwaitRollout', message: 'the Deployment runs this checkpoint: waiting for its rollout' };
  if (r.state === 'Available') return { kind: 'Transition', to: 'Deployed', reason: REASON.Deployed, message: `the Deployment runs this checkpoint: ${r.message}` };
  if (r.state === 'Progressing') return { kind: 'AwaitRollout', message: r.message };
  const message = `the rollout failed (${r.reason}): ${r.message}`;
  if (v.spec.rollout?.onFailure === 'Hold') {
    return { kind: 'Stall', reason: REASON.RolloutFailed, message: `${message}; spec.rollout.onFailure is Hold: the Deployment stays as it is until a person acts (kubectl modelgate rollback, or a new checkpoint)` };
  }
  if (!v.status.deployment?.rollbackPoint?.uid) {
    return { kind: 'Stall', reason: REASON.RolloutFailed, message: `${message}; there is no rollback point (first checkpoint of this target): the Deployment stays as it is` };
  }
  return { kind: 'Rollback', reason: REASON.RolloutFailed, message };
}

/** A URI for a status message: no user:password, no query (a presigned URL's query is a credential). */
function shownUri(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1').replace(/\?.*$/, '?…');
}

/** The rollback annotation's step: "true" for the recorded rollback point, a name for an older checkpoint. */
function requestedRollback(request: string): Step {
  return { kind: 'Rollback', reason: REASON.RollbackRequested, message: `rollback requested by annotation (${request})`, to: request === 'true' ? undefined : request };
}

function targetProblem(v: View): Step | undefined {
  if (!v.target.exists) {
    return { kind: 'Stall', reason: REASON.TargetNotFound, message: `Deployment ${v.spec.target.deployment} not found in this namespace: create it, or fix spec.target.deployment` };
  }
  if (!v.target.containerFound) {
    return { kind: 'Stall', reason: REASON.ContainerNotFound, message: `Deployment ${v.spec.target.deployment} has no container named ${v.spec.target.container}: fix spec.target.container` };
  }
  return undefined;
}

/** A Stall when a Secret the spec names is missing or unusable (a watch-free requeue brings it back). */
function secretProblem(v: View): Step | undefined {
  return v.secrets && !v.secrets.ok ? { kind: 'Stall', reason: v.secrets.reason, message: v.secrets.message } : undefined;
}

function jobStep(v: View, start: 'StartFetch' | 'StartValidate', onSuccess: { to: Phase; reason: string; message: string } | undefined): Step {
  const phase = start === 'StartFetch' ? 'Fetching' : 'Validating';
  // Failed attempts of this phase so far (a record of another phase, or of an earlier visit, counts none).
  const record = v.status.retry?.phase === phase && v.status.retry.nextAttemptAt !== undefined ? v.status.retry : undefined;
  switch (v.job.state) {
    case 'none': {
      const due = record?.nextAttemptAt ? Date.parse(record.nextAttemptAt) - (v.now ?? Infinity) : 0;
      return due > 0 ? { kind: 'AwaitRetry', delayMs: due } : { kind: start };
    }
    case 'running':
      return { kind: 'AwaitJob' };
    case 'succeeded':
      return onSuccess ? { kind: 'Transition', ...onSuccess } : { kind: 'RecordValidation' };
    case 'failed': {
      const { reason, message, terminal } = v.job;
      if (terminal) return { kind: 'Transition', to: 'Failed', reason, message };
      const policy = v.retryPolicy ?? DEFAULT_RETRY;
      const attempts = (record?.attempts ?? 0) + 1;
      // Cut to the CRD's bounds: an over-long message must not make the status write fail.
      const retry: RetryStatus = { phase, attempts, maxAttempts: policy.maxAttempts, lastReason: truncate(reason, 1024), lastMessage: truncate(message, 4096) };
      if (attempts >= policy.maxAttempts) {
        return { kind: 'Transition', to: 'Failed', reason, message: `gave up after ${attempts} attempt(s) (the limit): ${message}`, retry };
      }
      const delayMs = retryDelayMs(policy, attempts);
      const nextAttemptAt = new Date((v.now ?? 0) + delayMs).toISOString();
      return {
        kind: 'RetryLater',
        retry: { ...retry, nextAttemptAt },
        delayMs,
        reason,
        message: `attempt ${attempts} of ${policy.maxAttempts} failed (transient): ${message}; next attempt at ${nextAttemptAt}`,
      };
    }
  }
}

/**
 * Ready / Reconciling / Stalled for kstatus, from the phase alone. kstatus reads Reconciling True
 * as InProgress, Stalled True as Failed, then Ready True as Current and Ready False as InProgress.
 */
export function kstatusOf(phase: Phase, stalledReason?: string): { ready: boolean; reconciling: boolean; stalled: boolean } {
  if (stalledReason) return { ready: false, reconciling: false, stalled: true };
  switch (phase) {
    // Deployed and Monitoring serve (Ready) but are still being worked on (Reconciling): kstatus
    // reads them InProgress until the live guard says Healthy (docs/decisions.md, "Monitoring").
    case 'Deployed':
    case 'Monitoring':
    case 'Healthy':
      return { ready: true, reconciling: phase !== 'Healthy', stalled: false };
    case 'Rejected':
    case 'Failed':
    case 'RolledBack':
      return { ready: false, reconciling: false, stalled: true };
    case 'Superseded':
      // Ended well: it did its work and a newer checkpoint took over. Ready (kstatus Current), so
      // a Flux `wait: true` on it completes; the Deployed condition says it no longer serves.
      return { ready: true, reconciling: false, stalled: false };
    default:
      return { ready: false, reconciling: true, stalled: false };
  }
}
