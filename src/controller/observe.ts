// What one reconcile reads before the phase machine decides: the target Deployment (the cache on
// a first pass, the apiserver after a conflict or where production would change), the analysis
// templates, the Secrets a fetch needs, the rollout of the checkpoint's pods, the checkpoint in
// production to compare with. Reads only; view.ts turns the answers into the View, phases.ts
// decides on it.
import type { ModelCheckpoint, ResolvedAnalysis } from '../api/types.js';
import { runningModel, type DeploymentFacts } from '../kube/facts.js';
import { resolveAnalysis, templateRefs, type Resolution } from '../monitor/templates.js';
import type { BaselineRef } from '../validation/contract.js';
import { resolveCredentials } from './credentials.js';
import type { ReconcilerDeps } from './deps.js';
import { CLAIMING_PHASES, decide, type Step, type View } from './phases.js';
import { judgeRollout, type RolloutView } from './rollout.js';
import { analysisViewOf, changesProduction, FETCH_PHASES, jobKindOf, ROLLOUT_PHASES, rolloutInputOf, viewOf, wantsResolution } from './view.js';

/** What the phase machine decided on, and its step. */
export interface Observed {
  target: DeploymentFacts | undefined;
  view: View;
  step: Step;
  resolved?: ResolvedAnalysis;
}

export class Reads {
  /**
   * `reconciling`: the checkpoint uid whose reconcile runs now for a key, if any (a holder being
   * reconciled may have just claimed, its status still in flight).
   */
  constructor(
    private readonly d: ReconcilerDeps,
    private readonly now: () => Date,
    private readonly reconciling: (key: string) => string | undefined,
  ) {}

  /** What the phase machine decides on, read for `cp` and its target; and its step. */
  async observe(cp: ModelCheckpoint, known: DeploymentFacts | undefined, attempt: number): Promise<Observed> {
    let target = known;
    let view = this.view(cp, target);
    if (attempt === 0 && changesProduction(view, decide(view))) {
      // A cache that lags (a watch resuming after an apiserver restart, a storm of writes to
      // the Deployment) must not take a checkpoint out of production, nor put a superseded one
      // back (a false RolledBackTo): the apiserver's own Deployment decides that.
      target = await this.readTarget(cp, true);
      view = this.view(cp, target);
    }
    const resolution = await this.resolutionFor(cp);
    if (resolution) view.analysis = analysisViewOf(resolution);
    if (!view.deleting && FETCH_PHASES.has(view.status.phase ?? 'Pending') && view.job.state === 'none') {
      const c = await resolveCredentials((ns, n) => this.d.checkpoints.readSecret(ns, n), cp, this.baselineFor(cp, target));
      view.secrets = c.ok ? { ok: true } : c;
    }
    if (target && view.target.exists && view.target.runningUid === view.uid && ROLLOUT_PHASES.has(view.status.phase ?? 'Pending')) {
      view.target.rollout = await this.rolloutOf(cp, target);
    }
    const step = decide(view);
    this.d.log.debug('reconcile step', { namespace: cp.metadata.namespace, name: cp.metadata.name, phase: cp.status?.phase, step: step.kind, attempt });
    return { target, view, step, ...(resolution?.ok ? { resolved: resolution.analysis } : {}) };
  }

  /** The target from the cache on a first pass; after a conflict, from the apiserver. */
  async readTarget(cp: ModelCheckpoint, fresh: boolean): Promise<DeploymentFacts | undefined> {
    const ns = cp.metadata.namespace as string;
    // null: the synced cache knows it is absent, so a stalled checkpoint costs no GET; the
    // watch brings it back when the Deployment appears.
    const cached = fresh ? undefined : this.d.deploymentCache.read(ns, cp.spec.target.deployment);
    if (cached === null) return undefined;
    return cached ?? (await this.d.deployments.read(ns, cp.spec.target.deployment));
  }

  /** The checkpoint now serving the target, if the operator put it there. */
  baselineFor(cp: ModelCheckpoint, facts: DeploymentFacts | undefined): BaselineRef | undefined {
    if (!facts) return undefined;
    const running = runningModel(facts, cp.spec.target.container, cp.spec.target.modelEnv);
    if (!running.uid || !running.checkpoint || running.uid === cp.metadata.uid) return undefined;
    const prod = this.d.checkpointCache.cached(cp.metadata.namespace as string, running.checkpoint);
    if (!prod || prod.metadata.uid !== running.uid) return undefined;
    return { checkpoint: running.checkpoint, version: prod.spec.version, artifact: prod.spec.artifact, training: prod.spec.training };
  }

  /** A claim is live while its holder exists and is on its way to (or in) production. */
  claimIsLive(namespace: string, holder: { uid: string; name: string }): boolean {
    // A holder this operator is reconciling right now may have just claimed, its status (Fetching
    // to Deploying, in one folded write) still in flight: live. Else our own last write of it
    // when the cache has not caught up, then the cache.
    if (this.reconciling(`${namespace}/${holder.name}`) === holder.uid) return true;
    const cp = this.d.checkpointCache.read(namespace, holder.name) ?? this.d.checkpointCache.cached(namespace, holder.name);
    if (!cp || cp.metadata.uid !== holder.uid || cp.metadata.deletionTimestamp) return false;
    return CLAIMING_PHASES.has(cp.status?.phase ?? 'Pending');
  }

  private view(cp: ModelCheckpoint, facts: DeploymentFacts | undefined): View {
    const kind = jobKindOf(cp.status?.phase);
    return viewOf({
      cp,
      facts,
      job: kind ? this.d.jobs.get<unknown>(cp.metadata.uid as string, kind, cp.metadata.generation ?? 1) : undefined,
      claimLive: (holder) => this.claimIsLive(cp.metadata.namespace as string, holder),
      now: this.now().getTime(),
      retryPolicy: this.d.retryPolicy,
    });
  }

  /** The analysis resolved from its templates where the phase decides on it (view.ts `wantsResolution`). */
  private async resolutionFor(cp: ModelCheckpoint): Promise<Resolution | undefined> {
    const spec = cp.spec.analysis;
    if (!spec || !wantsResolution(cp)) return undefined;
    const refused = this.d.analyzer?.refusal?.(cp);
    if (refused) return { ok: false, ...refused };
    const ns = cp.metadata.namespace as string;
    const fetched = await Promise.all(templateRefs(spec).map(async (ref) => ({ ref, template: await this.d.templates.read(ref, ns) })));
    return resolveAnalysis(spec, ns, fetched, this.now().toISOString());
  }

  /** How this checkpoint's pods come up, from the Deployment's ReplicaSets and pods read now. */
  private async rolloutOf(cp: ModelCheckpoint, target: DeploymentFacts): Promise<RolloutView> {
    const facts = await this.d.deployments.rolloutFacts(target);
    return judgeRollout(rolloutInputOf(cp, target, facts, this.now().getTime()));
  }
}
