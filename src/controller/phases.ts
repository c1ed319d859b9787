// The phase machine: given what the reconciler observed, the one next step. Pure: no I/O, no
// clock (the caller passes `now`), so every branch is tested without a server.
//
// Pending → Fetching → Validating → Validated → Deploying → Deployed → Monitoring → Healthy,
// ending in Rejected (a gate said no), Failed (the work could not be done), RolledBack (the live
// guard or a person took it out) or Superseded (a newer checkpoint took the target).
import { REASON } from '../api/reasons.js';
import type { ModelCheckpointSpec, ModelCheckpointStatus, Phase } from '../api/types.js';

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
  Deploying: ['Deployed', 'Failed', 'Validated', 'Pending'],
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
      /** uid of the checkpoint the last rollback on this Deployment took out. */
      rolledBackFromUid?: string;
      /** uid of the checkpoint that holds the claim, and whether that claim is still live. */
      claimUid?: string;
      claimLive: boolean;
      /** The Deployment controller has observed the latest spec and reported a revision. */
      rolledOut: boolean;
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
  /** The digest of the checkpoint that was in production when this one was validated. */
  productionDigest?: string;
}

export type Step =
  | { kind: 'Finalize' }
  | { kind: 'AddFinalizer' }
  | { kind: 'Restart'; message: string }
  | { kind: 'Stall'; reason: string; message: string }
  | { kind: 'Transition'; to: Phase; reason: string; message: string }
  | { kind: 'StartFetch' }
  | { kind: 'StartValidate' }
  | { kind: 'AwaitJob' }
  | { kind: 'RecordValidation' }
  | { kind: 'Hold'; reason: string; message: string }
  | { kind: 'AwaitClaim'; message: string }
  | { kind: 'ClaimAndDeploy' }
  | { kind: 'PatchDeployment' }
  | { kind: 'AwaitRollout' }
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
  switch (phase ?? 'Pending') {
    case 'Pending': {
      const stall = targetProblem(v);
      if (stall) return stall;
      return { kind: 'Transition', to: 'Fetching', reason: REASON.Fetching, message: `fetching ${v.spec.artifact.uri}` };
    }
    case 'Fetching':
      return jobStep(v, 'StartFetch', { to: 'Validating', reason: REASON.Fetched, message: `fetched ${v.spec.artifact.digest}` });
    case 'Validating':
      return jobStep(v, 'StartValidate', undefined);
    case 'Validated': {
      if (v.spec.rollout?.paused) return { kind: 'Hold', reason: REASON.Paused, message: 'spec.rollout.paused is true: set it to false to deploy' };
      if (v.spec.rollout?.autoDeploy === false) {
        return { kind: 'Hold', reason: REASON.AutoDeployDisabled, message: 'spec.rollout.autoDeploy is false: set it to true to deploy' };
      }
      const stall = targetProblem(v);
      if (stall) return stall;
      if (runsUs(v)) return { kind: 'Transition', to: 'Deployed', reason: REASON.AlreadyRunning, message: 'the Deployment already runs this checkpoint' };
      const t = v.target as Extract<TargetView, { exists: true }>;
      if (t.claimUid && t.claimUid !== v.uid && t.claimLive) {
        return { kind: 'AwaitClaim', message: 'another checkpoint holds the claim on the Deployment: waiting until it is Healthy, rolled back or gone' };
      }
      if (v.productionDigest !== undefined && t.runningDigest !== undefined && t.runningDigest !== v.productionDigest) {
        return { kind: 'Transition', to: 'Validating', reason: REASON.BaselineChanged, message: `production changed to ${t.runningDigest} since validation against ${v.productionDigest}: validating again` };
      }
      return { kind: 'ClaimAndDeploy' };
    }
    case 'Deploying': {
      const stall = targetProblem(v);
      if (stall) return stall;
      if (runsUs(v)) return { kind: 'Transition', to: 'Deployed', reason: REASON.Deployed, message: 'the Deployment runs this checkpoint' };
      return { kind: 'PatchDeployment' };
    }
    case 'Deployed':
    case 'Monitoring':
    case 'Healthy': {
      if (!v.target.exists) return { kind: 'Stall', reason: REASON.TargetNotFound, message: `Deployment ${v.spec.target.deployment} not found: the operator never recreates it` };
      if (!runsUs(v)) {
        return v.target.rolledBackFromUid === v.uid
          ? { kind: 'Transition', to: 'RolledBack', reason: REASON.RolledBack, message: 'the Deployment was rolled back from this checkpoint' }
          : { kind: 'Transition', to: 'Superseded', reason: REASON.Superseded, message: 'the Deployment now runs another checkpoint' };
      }
      if (v.rollbackRequest) {
        return { kind: 'Rollback', reason: REASON.RollbackRequested, message: `rollback requested by annotation (${v.rollbackRequest})`, to: v.rollbackRequest === 'true' ? undefined : v.rollbackRequest };
      }
      if (v.target.envDigest !== undefined && v.target.envDigest !== v.spec.artifact.digest) {
        return { kind: 'Drift', message: `the container's MODEL_DIGEST is ${v.target.envDigest}, not ${v.spec.artifact.digest}: someone changed the model by hand; the operator leaves it alone` };
      }
      if (phase === 'Healthy') return { kind: 'Nothing' };
      if (phase === 'Deployed' && !v.target.rolledOut) return { kind: 'AwaitRollout' };
      if (phase === 'Deployed') {
        return v.spec.analysis && v.spec.analysis.metrics.length > 0
          ? { kind: 'Transition', to: 'Monitoring', reason: REASON.Monitoring, message: `watching ${v.spec.analysis.metrics.length} metric(s) in Prometheus` }
          : { kind: 'Transition', to: 'Healthy', reason: REASON.Healthy, message: 'deployed; no analysis configured' };
      }
      return { kind: 'Analyze' };
    }
    case 'Superseded':
      if (runsUs(v)) return { kind: 'Transition', to: 'Deployed', reason: REASON.RolledBackTo, message: 'the Deployment runs this checkpoint again (rolled back to it)' };
      return { kind: 'Nothing' };
    case 'RolledBack':
    case 'Rejected':
    case 'Failed':
      return { kind: 'Nothing' };
  }
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

function jobStep(v: View, start: 'StartFetch' | 'StartValidate', onSuccess: { to: Phase; reason: string; message: string } | undefined): Step {
  switch (v.job.state) {
    case 'none':
      return { kind: start };
    case 'running':
      return { kind: 'AwaitJob' };
    case 'succeeded':
      return onSuccess ? { kind: 'Transition', ...onSuccess } : { kind: 'RecordValidation' };
    case 'failed':
      return { kind: 'Transition', to: 'Failed', reason: v.job.reason, message: v.job.message };
  }
}

/** Ready / Reconciling / Stalled for kstatus, from the phase alone. */
export function kstatusOf(phase: Phase, stalledReason?: string): { ready: boolean; reconciling: boolean; stalled: boolean } {
  if (stalledReason) return { ready: false, reconciling: false, stalled: true };
  switch (phase) {
    case 'Deployed':
    case 'Monitoring':
    case 'Healthy':
      return { ready: true, reconciling: phase !== 'Healthy', stalled: false };
    case 'Rejected':
    case 'Failed':
    case 'RolledBack':
      return { ready: false, reconciling: false, stalled: true };
    case 'Superseded':
      return { ready: false, reconciling: false, stalled: false };
    default:
      return { ready: false, reconciling: true, stalled: false };
  }
}
