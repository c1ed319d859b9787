// The steps that write the target Deployment or answer the live guard: claim it beside the
// Deploying status with its rollback points, patch it with the checkpoint's model, ask the guard,
// roll it back. Each reads what it needs, writes the Deployment, and hands the rest to a planner
// (plan-deploy.ts) whose plan apply.ts carries out.
import { CONDITION } from '../api/conditions.js';
import { REASON } from '../api/reasons.js';
import { ANNOTATIONS, type ModelCheckpoint, type RollbackPoint } from '../api/types.js';
import { claimOf, claimUid, claimValue, runningModel, type DeploymentFacts } from '../kube/facts.js';
import type { Applier } from './apply.js';
import type { ReconcilerDeps } from './deps.js';
import type { Reads } from './observe.js';
import type { View } from './phases.js';
import { deployingStatus, earlierPointsOf, modelOf, modelOfPoint, planAnalysisStep, planNoRollbackPoint, planPatched, planRolledBack, pointOfCheckpoint, rollbackEntry, rollbackPointOf, rollbackRefusal } from './plan-deploy.js';
import { planTransition } from './plan.js';
import type { ReconcileResult } from './queue.js';

/** How long after its own claim the Deployment patch waits for the Deployment controller's status write. */
const CLAIM_SETTLE_MS = 1_000;

export class DeploySteps {
  /** `<ns>/<deployment>` → when this operator last claimed it (ms since the epoch). */
  private readonly claimedAt = new Map<string, { at: number; generation: number }>();

  constructor(
    private readonly d: ReconcilerDeps,
    private readonly a: Applier,
    private readonly reads: Reads,
    private readonly now: () => Date,
  ) {}

  private live(ns: string, facts: DeploymentFacts, holder: string): boolean {
    return this.reads.claimIsLive(ns, { uid: holder, name: claimOf(facts)?.name ?? '' });
  }

  /** `fresh`: the Deployment as just read from the apiserver (observe.ts does, from Validated on). */
  async claimAndDeploy(cp: ModelCheckpoint, v: View, fresh: DeploymentFacts): Promise<ReconcileResult> {
    const ns = cp.metadata.namespace as string;
    const holder = claimUid(fresh);
    if (holder && holder !== v.uid && this.live(ns, fresh, holder)) return { requeueAfterMs: 1_000 };
    // The claim and the status with the rollback point are written side by side: the patch of
    // the Deployment comes only on the next pass, which checks again that the claim is ours.
    const claiming = holder === v.uid ? undefined : this.d.deployments.setClaim(fresh, claimValue(cp.metadata.name as string, v.uid));
    const point = rollbackPointOf(runningModel(fresh, cp.spec.target.container, cp.spec.target.modelEnv), fresh);
    const earlier = earlierPointsOf(await this.replaced(ns, point), point, v.uid, Math.max(0, (this.d.rollbackHistory ?? 5) - 1));
    const status = deployingStatus(cp.status ?? {}, fresh, point, earlier, v.generation, this.now().toISOString());
    // Both writes settle before a failure is thrown: a conflict retried with a fresh read must
    // not race the other write still in flight (the read would miss it and decide on old state).
    const [wroteStatus, wroteClaim] = await Promise.allSettled([this.a.writeStatus(cp, status), claiming]);
    if (wroteClaim.status === 'fulfilled' && wroteClaim.value) this.claimed(wroteClaim.value);
    if (wroteStatus.status === 'rejected') throw wroteStatus.reason;
    if (wroteClaim.status === 'rejected') throw wroteClaim.reason;
    if (wroteClaim.value) this.a.event(cp, { type: 'Normal', reason: REASON.ClaimAcquired, action: 'Claim', note: `claimed Deployment ${fresh.name}` });
    this.d.observer?.transition?.(cp.status?.phase, 'Deploying');
    this.a.event(cp, { type: 'Normal', reason: REASON.Deploying, action: 'Deploy', note: status.conditions?.find((c) => c.type === CONDITION.ready)?.message ?? 'deploying' });
    return { requeueAfterMs: 0 };
  }

  /**
   * The checkpoint being replaced, which holds the chain of older points. The cache may not have
   * seen its own deploy yet (it went live a moment ago): without its deployment record there,
   * it is read from the apiserver.
   */
  private async replaced(ns: string, point: RollbackPoint | undefined): Promise<ModelCheckpoint | undefined> {
    if (!point) return undefined;
    const prev = this.d.checkpointCache.cached(ns, point.checkpoint);
    if (prev && prev.metadata.uid === point.uid && prev.status?.deployment) return prev;
    return this.d.checkpoints.get(ns, point.checkpoint);
  }

  async patchDeployment(cp: ModelCheckpoint, v: View, fresh: DeploymentFacts): Promise<ReconcileResult> {
    const ns = cp.metadata.namespace as string;
    const holder = claimUid(fresh);
    if (holder !== v.uid) {
      if (holder && this.live(ns, fresh, holder)) {
        // Lost the claim between claiming and patching: back to waiting, nothing deployed.
        return this.a.apply(cp, planTransition(cp, fresh, { to: 'Validated', reason: REASON.AwaitingClaim, message: 'another checkpoint took the claim on the Deployment first' }, {}, this.now().toISOString()));
      }
      this.claimed(await this.d.deployments.setClaim(fresh, claimValue(cp.metadata.name as string, v.uid)));
      return { requeueAfterMs: 0 };
    }
    if (this.settling(fresh)) {
      // Our claim bumped the Deployment's generation (a Deployment counts annotation changes), so
      // the Deployment controller is about to write its status: an apply on this resourceVersion
      // would meet a 409 and cost a fresh read. That write's watch event brings us back. Only for
      // the generation our claim made: under other writers the wait would only add reconciles.
      return { requeueAfterMs: 200 };
    }
    this.claimedAt.delete(`${ns}/${fresh.name}`);
    const patched = await this.d.deployments.applyModel(fresh, cp.spec.target.container, modelOf(cp), cp.spec.target.modelEnv);
    this.d.afterDeploymentPatch?.();
    this.d.observer?.deployed?.();
    return this.a.apply(cp, planPatched(cp, patched, this.now().toISOString()));
  }

  private settling(fresh: DeploymentFacts): boolean {
    const claimed = this.claimedAt.get(`${fresh.namespace}/${fresh.name}`);
    return claimed !== undefined && Date.now() - claimed.at < CLAIM_SETTLE_MS && fresh.generation === claimed.generation && fresh.observedGeneration < fresh.generation;
  }

  /** Notes when this operator claimed a Deployment (patchDeployment waits for the status write that follows). */
  private claimed(facts: DeploymentFacts): void {
    this.claimedAt.set(`${facts.namespace}/${facts.name}`, { at: Date.now(), generation: facts.generation });
    if (this.claimedAt.size > 10_000) this.claimedAt.clear();
  }

  async analyze(cp: ModelCheckpoint, v: View, facts: DeploymentFacts | undefined, signal?: AbortSignal): Promise<ReconcileResult> {
    if (!this.d.analyzer) return this.a.apply(cp, planTransition(cp, undefined, { to: 'Healthy', reason: REASON.Healthy, message: 'no analyzer configured' }, {}, this.now().toISOString()));
    const out = await this.d.analyzer.analyze(cp, this.now(), signal);
    const status = cp.status ?? {};
    switch (out.action) {
      case 'Healthy':
        return this.a.apply(cp, planTransition(cp, undefined, { to: 'Healthy', reason: out.reason, message: out.message }, { analysis: out.analysis }, this.now().toISOString()));
      case 'Rollback':
        return this.rollback({ ...cp, status: { ...status, analysis: out.analysis } }, out.reason, out.message, undefined, facts);
      case 'Hold':
      case 'Continue':
        return this.a.apply(cp, planAnalysisStep(status, { ...out, action: out.action }, v.generation, this.now().toISOString()));
    }
  }

  /** Puts the rollback point (or `to`, a named older checkpoint) back on the Deployment. */
  async rollback(cp: ModelCheckpoint, reason: string, message: string, to: string | undefined, facts: DeploymentFacts | undefined): Promise<ReconcileResult> {
    const ns = cp.metadata.namespace as string;
    let point = cp.status?.deployment?.rollbackPoint;
    if (to) {
      const older = await this.d.checkpoints.get(ns, to);
      const refusal = rollbackRefusal(cp, older, to);
      if (refusal || !older) {
        await this.withoutRollbackRequest(cp);
        this.a.event(cp, { type: 'Warning', reason: REASON.NoRollbackPoint, action: 'Rollback', note: `rollback to ${to} refused: ${refusal}` });
        return;
      }
      point = pointOfCheckpoint(older);
    }
    if (!point?.uid) {
      const current = await this.withoutRollbackRequest(cp);
      return this.a.apply(current, planNoRollbackPoint(cp.status ?? {}, message, cp.metadata.generation ?? 1, this.now().toISOString()));
    }
    const fresh = facts ?? (await this.d.deployments.read(ns, cp.spec.target.deployment));
    if (!fresh) return { requeueAfterMs: 0 };
    const patched = await this.d.deployments.applyModel(fresh, cp.spec.target.container, modelOfPoint({ ...point, uid: point.uid }), cp.spec.target.modelEnv, cp.metadata.uid);
    this.d.observer?.rolledBack?.(reason);
    await this.a.record(cp, fresh.name, rollbackEntry(cp, point, reason, message));
    const current = await this.withoutRollbackRequest(cp);
    return this.a.apply(current, planRolledBack(current, patched, point, reason, message, this.now().toISOString()));
  }

  /** Clears a handled rollback request; keeps the in-memory status (the caller writes it next). */
  private async withoutRollbackRequest(cp: ModelCheckpoint): Promise<ModelCheckpoint> {
    if (!cp.metadata.annotations?.[ANNOTATIONS.rollbackRequest]) return cp;
    const updated = await this.d.checkpoints.clearAnnotation(cp, ANNOTATIONS.rollbackRequest);
    return { ...updated, status: cp.status };
  }
}
