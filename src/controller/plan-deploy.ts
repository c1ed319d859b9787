// The planners of the steps that touch the Deployment or judge it live: the rollback points and
// the Deploying status written beside the claim, the status after the patch, the rollout as it
// comes up, the live guard's outcomes, rollbacks and drift. Pure: deploy.ts reads and writes the
// Deployment and older checkpoints, and hands what it got in.
import { CONDITION } from '../api/conditions.js';
import { REASON } from '../api/reasons.js';
import { storeAccessOf } from '../api/store-env.js';
import type { ModelCheckpoint, ModelCheckpointStatus, RollbackPoint } from '../api/types.js';
import type { DeploymentFacts, ModelRef } from '../kube/facts.js';
import type { AnalysisOutcome } from '../monitor/guard.js';
import type { RolloutView } from './rollout.js';
import { only, planTransition, type Plan, type PlannedEvent } from './plan.js';
import { sameStatus, withAnalysisCondition, withDrift, withPhase, withWaiting } from './status.js';

const none = { events: [] as PlannedEvent[], clearJobs: [] };

/** The rollback point: what the Deployment runs now, as the operator's record on it says. */
export function rollbackPointOf(running: Partial<ModelRef> & { envUri?: string }, claimed: DeploymentFacts): RollbackPoint | undefined {
  if (!running.uid || !running.checkpoint || !running.digest) return undefined;
  return {
    checkpoint: running.checkpoint,
    uid: running.uid,
    version: running.version ?? '',
    digest: running.digest,
    uri: running.envUri ?? '',
    deploymentRevision: claimed.revision,
    ...storeAccessOf(running.access),
  };
}

/** The older points, from the checkpoint being replaced (which kept its own), at most `keep`. */
export function earlierPointsOf(prev: ModelCheckpoint | undefined, point: RollbackPoint | undefined, uid: string, keep: number): RollbackPoint[] {
  if (!prev || prev.metadata.uid !== point?.uid) return [];
  return [prev.status?.deployment?.rollbackPoint, ...(prev.status?.deployment?.earlierRollbackPoints ?? [])].filter((p): p is RollbackPoint => p !== undefined && p.uid !== uid).slice(0, keep);
}

/** Deploying, with the rollback points in status before the Deployment changes. */
export function deployingStatus(status: ModelCheckpointStatus, claimed: DeploymentFacts, point: RollbackPoint | undefined, earlier: RollbackPoint[], gen: number, now: string): ModelCheckpointStatus {
  const points = [point, ...earlier].filter((p): p is RollbackPoint => p !== undefined).map((p) => `${p.checkpoint} (${p.version})`);
  const message = `deploying to ${claimed.name}${point ? `; rollback points ${points.join(', ')}` : '; no rollback point (first checkpoint of this target)'}`;
  return {
    ...withPhase(status, 'Deploying', REASON.Deploying, message, gen, now),
    deployment: { deployedAt: now, deployment: claimed.name, revision: claimed.revision, rollbackPoint: point, ...(earlier.length > 0 ? { earlierRollbackPoints: earlier } : {}) },
  };
}

/** The model the checkpoint puts on its Deployment. */
export function modelOf(cp: ModelCheckpoint): ModelRef {
  return { checkpoint: cp.metadata.name as string, uid: cp.metadata.uid as string, version: cp.spec.version, uri: cp.spec.artifact.uri, digest: cp.spec.artifact.digest, access: storeAccessOf(cp.spec.artifact) };
}

/** The model a rollback puts back on the Deployment. */
export function modelOfPoint(point: RollbackPoint & { uid: string }): ModelRef {
  return { checkpoint: point.checkpoint, uid: point.uid, version: point.version, uri: point.uri, digest: point.digest, access: storeAccessOf(point) };
}

/** Patched: Deployed only once the new pods are available; until then Deploying, saying what it waits for. */
export function planPatched(cp: ModelCheckpoint, patched: DeploymentFacts, now: string): Plan {
  const message = `Deployment ${patched.name} patched to run ${cp.spec.model} ${cp.spec.version} (${cp.spec.artifact.digest.slice(0, 19)}…): waiting for ${patched.replicas} pod(s) to be available`;
  const status = cp.status ?? {};
  return {
    status: {
      ...withWaiting(status, 'Deploying', REASON.RolloutProgressing, message, cp.metadata.generation ?? 1, now),
      ...(status.deployment ? { deployment: { ...status.deployment, generation: patched.generation } } : {}),
    },
    events: [{ type: 'Normal', reason: REASON.RolloutProgressing, action: 'Deploy', note: message }],
    clearJobs: [],
    result: { requeueAfterMs: 1_000 },
  };
}

/** Waiting for the new pods: status says how far the rollout is, written when that changes. */
export function planAwaitRollout(status: ModelCheckpointStatus, rollout: RolloutView | undefined, message: string, gen: number, now: string): Plan {
  const reconciling = status.conditions?.find((c) => c.type === CONDITION.reconciling);
  const same = reconciling?.message === message && JSON.stringify(status.rollout ?? null) === JSON.stringify(rollout ?? null) && status.observedGeneration === gen;
  // The Deployment watch wakes this up as replicas come up; pod restarts only show in pods.
  const result = { requeueAfterMs: 3_000 };
  if (same) return only(result);
  return { ...none, status: { ...withWaiting(status, status.phase ?? 'Deploying', REASON.RolloutProgressing, message, gen, now), ...(rollout ? { rollout } : {}) }, result };
}

/** Monitoring since before templates existed: record what it measures, then go on. */
export function planRecordAnalysis(status: ModelCheckpointStatus, resolved: NonNullable<NonNullable<ModelCheckpointStatus['analysis']>['resolved']>, gen: number, now: string): Plan {
  const message = `watching ${resolved.metrics.length} metric(s) in Prometheus (analysis recorded)`;
  return { ...none, status: { ...withPhase(status, 'Monitoring', REASON.Monitoring, message, gen, now), analysis: { ...(status.analysis ?? {}), resolved } }, result: { requeueAfterMs: 0 } };
}

/** A guard step that neither ends nor rolls back: the analysis condition, and one Event when a hold starts. */
export function planAnalysisStep(status: ModelCheckpointStatus, out: AnalysisOutcome & { action: 'Hold' | 'Continue' }, gen: number, now: string): Plan {
  const next = withAnalysisCondition({ ...status, analysis: out.analysis }, out.action === 'Hold' ? 'False' : 'Unknown', out.reason, out.message, gen, now);
  const result = { requeueAfterMs: out.requeueAfterMs };
  if (sameStatus(status, next)) return only(result);
  // One Event when a hold starts (or its reason changes), not one per interval while it lasts.
  const before = status.conditions?.find((c) => c.type === CONDITION.analysis);
  const starts = out.action === 'Hold' && (before?.status !== 'False' || before.reason !== out.reason);
  return { status: next, events: starts ? [{ type: 'Warning', reason: out.reason, action: 'Hold', note: out.message }] : [], clearJobs: [], result };
}

/** Why a rollback to the named older checkpoint `to` is refused; undefined when it may go back. */
export function rollbackRefusal(cp: ModelCheckpoint, older: ModelCheckpoint | undefined, to: string): string | undefined {
  if (!older) return `no checkpoint named ${to} in this namespace`;
  if (older.metadata.uid === cp.metadata.uid) return 'a checkpoint cannot roll back to itself';
  if (older.spec.target.deployment !== cp.spec.target.deployment || older.status?.deployment?.deployment !== cp.spec.target.deployment) return `${to} was never deployed to Deployment ${cp.spec.target.deployment}`;
  if (['RolledBack', 'Rejected', 'Failed'].includes(older.status?.phase ?? '')) return `${to} is ${older.status?.phase}: it may not return to production until its spec changes`;
  return undefined;
}

/** The rollback point of a named older checkpoint. */
export function pointOfCheckpoint(older: ModelCheckpoint): RollbackPoint {
  return { checkpoint: older.metadata.name as string, uid: older.metadata.uid, version: older.spec.version, digest: older.spec.artifact.digest, uri: older.spec.artifact.uri, ...storeAccessOf(older.spec.artifact) };
}

/** No rollback point (the first checkpoint of this target): holding, the Deployment stays as it is. */
export function planNoRollbackPoint(status: ModelCheckpointStatus, message: string, gen: number, now: string): Plan {
  const msg = `${message}; but there is no rollback point (first checkpoint of this target): holding, the Deployment stays as it is`;
  return { status: withAnalysisCondition(status, 'False', REASON.NoRollbackPoint, msg, gen, now), events: [{ type: 'Warning', reason: REASON.NoRollbackPoint, action: 'Hold', note: msg }], clearJobs: [], result: { requeueAfterMs: 60_000 } };
}

/** The audit trail's entry for a rollback: from, to, why, and the numbers or the pods behind it. */
export function rollbackEntry(cp: ModelCheckpoint, point: RollbackPoint, reason: string, message: string): Record<string, unknown> {
  const rollout = cp.status?.rollout;
  return {
    action: 'rollback', from: cp.metadata.name, fromVersion: cp.spec.version, to: point.checkpoint, toVersion: point.version, reason, message,
    measurements: reason === REASON.RolloutFailed ? undefined : cp.status?.analysis?.measurements?.slice(-5),
    rollout: reason === REASON.RolloutFailed && rollout ? { reason: rollout.reason, message: rollout.message, problems: rollout.problems } : undefined,
  };
}

/** Rolled back: the Deployment is back on the point. */
export function planRolledBack(cp: ModelCheckpoint, patched: DeploymentFacts, point: RollbackPoint, reason: string, message: string, now: string): Plan {
  return planTransition(cp, patched, { to: 'RolledBack', reason, message: `${message}; Deployment ${patched.name} is back on ${point.checkpoint} (${point.version})` }, {}, now);
}

/** The Deployment does not run what its record says: Ready False with Drift, said once. */
export function planDrift(status: ModelCheckpointStatus, message: string, gen: number, now: string): Plan {
  const result = { requeueAfterMs: 60_000 };
  if (status.conditions?.find((x) => x.type === CONDITION.ready)?.reason === REASON.Drift) return only(result);
  return { status: withDrift(status, message, gen, now), events: [{ type: 'Warning', reason: REASON.Drift, action: 'Observe', note: message }], clearJobs: [], result };
}
