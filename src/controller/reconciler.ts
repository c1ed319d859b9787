// The reconcile: observe, decide, plan, apply. It reads the checkpoint and its target afresh
// (observe.ts), asks the phase machine for the next step (phases.ts), turns the step into a plan
// (plan.ts, plan-deploy.ts: pure), and carries the plan out (apply.ts; the Deployment writes in
// deploy.ts). Long work runs as background jobs (jobs.ts); every write is conditional on the
// resourceVersion it was computed from.
import { REASONS } from '../api/reasons.js';
import { FINALIZER, type ModelCheckpoint, type ResolvedAnalysis } from '../api/types.js';
import { isConflict, isNotFound } from '../kube/client.js';
import { runningModel, type DeploymentFacts } from '../kube/facts.js';
import { StageError, type BaselineRef, type FetchedArtifact, type RequestCredentials, type ValidationReport, type ValidationRequest } from '../validation/contract.js';
import { runnerOf } from '../validation/job-spec.js';
import { Applier, keyOf } from './apply.js';
import { resolveCredentials } from './credentials.js';
import type { ReconcilerDeps } from './deps.js';
import { DeploySteps } from './deploy.js';
import { FoldedWrites } from './fold.js';
import { Reads } from './observe.js';
import { awaitedJob, foldable, type Step, type View } from './phases.js';
import { planAwaitRollout, planDrift, planRecordAnalysis } from './plan-deploy.js';
import { planNothing, planRecordValidation, planRestart, planRetryLater, planStall, planStartValidate, planTransition, planWaiting, transitionExtra } from './plan.js';
import type { ReconcileResult } from './queue.js';

export class Reconciler {
  private readonly now: () => Date;
  private readonly a: Applier;
  private readonly reads: Reads;
  private readonly deploy: DeploySteps;

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
    this.a = new Applier(d, (cp) => this.startFetch(cp));
    this.reads = new Reads(d, this.now, (key) => this.a.folds.get(key)?.uid);
    this.deploy = new DeploySteps(d, this.a, this.reads, this.now);
  }

  private runsAsJob(cp: ModelCheckpoint): boolean {
    return runnerOf(cp.spec.validation, this.d.defaultRunner ?? 'InProcess') === 'Job';
  }

  /** Phase Fetching: the operator downloads the artifact, unless a Job validates it (the pod fetches it itself). */
  private async fetchFor(cp: ModelCheckpoint, signal: AbortSignal): Promise<FetchedArtifact> {
    if (this.runsAsJob(cp)) return { digest: cp.spec.artifact.digest, path: '', sizeBytes: 0 };
    const credentials = await this.credentials(cp);
    return this.d.validator.fetch({ ...cp.spec.artifact, credentials: credentials.candidate }, signal);
  }

  /** Read at the start of each job (the Secret may have changed since the reconcile saw it). */
  private async credentials(cp: ModelCheckpoint, baseline?: BaselineRef): Promise<RequestCredentials> {
    const c = await resolveCredentials((ns, n) => this.d.checkpoints.readSecret(ns, n), cp, baseline);
    // Not terminal: the phase machine retries, and the reconcile stalls it while the Secret is missing.
    if (!c.ok) throw new StageError(c.reason, c.message, false);
    return c.credentials;
  }

  /** Conflicts (someone wrote in between) are retried this often with a fresh read before backing off. */
  static readonly CONFLICT_RETRIES = 3;

  /** `signal` aborts when the reconcile passes its deadline (controller.ts); the analyzer's queries stop with it. */
  async reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    for (let attempt = 0; ; attempt++) {
      // The first pass reads the cache; after a 409 the apiserver's current object.
      const cp = attempt === 0 ? (this.d.checkpointCache.read(namespace, name) ?? (await this.d.checkpoints.get(namespace, name))) : await this.d.checkpoints.get(namespace, name);
      if (!cp) return; // deleted: the finalizer already cleaned up
      const target = cp.metadata.deletionTimestamp ? undefined : await this.reads.readTarget(cp, attempt > 0);
      const fold = new FoldedWrites(cp.metadata.uid as string);
      this.a.folds.set(key, fold);
      try {
        return await this.steps(cp, target, attempt, fold, signal);
      } catch (err) {
        // A conflict past the retries goes back to the queue, which backs off per key.
        if (!isConflict(err) || attempt + 1 >= Reconciler.CONFLICT_RETRIES) throw err;
        this.d.observer?.conflict?.();
      } finally {
        this.a.folds.delete(key);
      }
    }
  }

  /** How long a folded step waits for the work it started before the status says it runs. */
  static readonly FOLD_WAIT_MS = 20;
  /** At most this many steps are folded into one status write (the chain to Validated has five). */
  static readonly MAX_FOLDED = 8;

  /**
   * The next step, and while it is one that may be folded (phases.ts `foldable`), the steps
   * after it, in memory, on the same target facts; the first that may not be folded ends the
   * reconcile and its status write carries the folded ones (or they are written on their own).
   */
  private async steps(start: ModelCheckpoint, first: DeploymentFacts | undefined, attempt: number, fold: FoldedWrites, signal?: AbortSignal): Promise<ReconcileResult> {
    let cp = start;
    let { target, view, step, resolved } = await this.reads.observe(cp, first, attempt);
    for (let n = 0; foldable(view, step) && n < Reconciler.MAX_FOLDED; n++) {
      fold.deferring = true;
      try {
        await this.execute(cp, target, view, step, resolved, signal);
      } finally {
        fold.deferring = false;
      }
      cp = fold.current(cp);
      const job = awaitedJob(step);
      if (job) await this.d.jobs.settled(view.uid, job, view.generation, this.d.foldWaitMs ?? Reconciler.FOLD_WAIT_MS);
      ({ target, view, step, resolved } = await this.reads.observe(cp, target, attempt));
    }
    const result = await this.execute(cp, target, view, step, resolved, signal);
    // The last step wrote no status (it waits for work still running): the folded phases alone.
    const pending = fold.pending;
    if (pending) await this.a.writeStatus(cp, pending);
    return result;
  }

  /** One step: a planner's plan applied, or the step's own reads and writes first (deploy.ts). */
  private async execute(cp: ModelCheckpoint, facts: DeploymentFacts | undefined, v: View, step: Step, resolved?: ResolvedAnalysis, signal?: AbortSignal): Promise<ReconcileResult> {
    const now = this.now().toISOString();
    const gen = v.generation;
    const status = cp.status ?? {};
    switch (step.kind) {
      case 'Finalize':
        return this.finalize(cp);
      case 'AddFinalizer':
        // No separate Pending write: the next pass writes Fetching, or Pending with the reason
        // it stalls, one round trip sooner.
        await this.d.checkpoints.setFinalizer(cp, true);
        return { requeueAfterMs: 0 };
      case 'Restart':
        this.d.jobs.cancel(v.uid);
        await this.d.validationJobs?.supersede?.(cp.metadata.namespace as string, v.uid, gen);
        return this.a.apply(cp, planRestart(status, gen, step.message, now));
      case 'Stall':
        return this.a.apply(cp, planStall(status, step, gen, now));
      case 'Hold':
      case 'AwaitClaim':
        return this.a.apply(cp, planWaiting(status, step, gen, now));
      case 'Transition':
        return this.a.apply(cp, planTransition(cp, facts, step, transitionExtra(step, v, resolved), now));
      case 'StartFetch':
        this.startFetch(cp);
        return { requeueAfterMs: 30_000 };
      case 'StartValidate':
        return this.startValidate(cp, v, facts, now);
      case 'AwaitJob':
        return { requeueAfterMs: 30_000 };
      case 'RetryLater':
        return this.a.apply(cp, planRetryLater(cp, step, now));
      case 'AwaitRetry':
        return { requeueAfterMs: step.delayMs };
      case 'RecordValidation':
        return this.recordValidation(cp, v, now);
      case 'ClaimAndDeploy':
        return facts ? this.deploy.claimAndDeploy(cp, v, facts) : { requeueAfterMs: 0 };
      case 'PatchDeployment':
        return facts ? this.deploy.patchDeployment(cp, v, facts) : { requeueAfterMs: 0 };
      case 'AwaitRollout':
        return this.a.apply(cp, planAwaitRollout(status, v.target.exists ? v.target.rollout : undefined, step.message, gen, now));
      case 'Analyze':
        // Monitoring since before templates existed: record what it measures, then go on.
        if (!status.analysis?.resolved && resolved) return this.a.apply(cp, planRecordAnalysis(status, resolved, gen, now));
        return this.deploy.analyze(cp, v, facts, signal);
      case 'Rollback': {
        // A failed rollout keeps what the pods said, next to the rollback it caused.
        const rollout = v.target.exists ? v.target.rollout : undefined;
        return this.deploy.rollback(rollout ? { ...cp, status: { ...status, rollout } } : cp, step.reason, step.message, step.to, facts);
      }
      case 'Drift':
        return this.a.apply(cp, planDrift(status, step.message, gen, now));
      case 'Nothing':
        return this.a.apply(cp, planNothing(status, gen));
    }
  }

  /** Validating: the status says against what, and the validation job starts (in process or as a Job). */
  private async startValidate(cp: ModelCheckpoint, v: View, facts: DeploymentFacts | undefined, now: string): Promise<ReconcileResult> {
    const gen = v.generation;
    const baseline = this.reads.baselineFor(cp, facts);
    const running = facts ? runningModel(facts, cp.spec.target.container, cp.spec.target.modelEnv) : {};
    const plan = planStartValidate(cp.status ?? {}, baseline, { checkpoint: running.checkpoint, digest: running.uid ? running.digest : undefined }, gen, now);
    await this.a.apply(cp, plan);
    this.d.jobs.start(v.uid, 'validate', gen, async (signal) => {
      const request: ValidationRequest = { key: keyOf(cp), generation: gen, candidate: cp.spec.artifact, training: cp.spec.training, spec: cp.spec.validation ?? {}, baseline };
      if (this.runsAsJob(cp)) {
        // Never in process instead: the checkpoint asked to be kept away from the operator.
        if (!this.d.validationJobs) throw new StageError(REASONS.JobRunnerNotConfigured, 'spec.validation.runner is Job but the operator runs no validation Jobs: start it with --validation-job-image, or set runner InProcess', true, 'architecture');
        // The Secrets must exist (a missing one stalls the checkpoint, as in process); the
        // Job mounts them as volumes, so their values never pass into its payload.
        await this.credentials(cp, baseline);
        return this.d.validationJobs.run({ name: cp.metadata.name as string, namespace: cp.metadata.namespace as string, uid: v.uid, generation: gen }, request, cp.spec.validation?.job, signal);
      }
      request.credentials = await this.credentials(cp, baseline);
      const fetched = await this.d.validator.fetch({ ...cp.spec.artifact, credentials: request.credentials.candidate }, signal);
      return this.d.validator.validate(request, fetched, signal);
    });
    return plan.result;
  }

  /** A finished validation: the report ConfigMap (before the status that names it), then the verdict. */
  private async recordValidation(cp: ModelCheckpoint, v: View, now: string): Promise<ReconcileResult> {
    const job = this.d.jobs.get<ValidationReport>(v.uid, 'validate', v.generation);
    if (job?.state !== 'succeeded') return { requeueAfterMs: 0 };
    const report = job.value;
    const reportName = `${cp.metadata.name}-report`.slice(0, 253);
    // When the status is folded, the ConfigMap is written beside the claim.
    await this.a.before(cp, this.d.checkpoints.applyOwnedConfigMap(cp, reportName, {
      'report.json': JSON.stringify({ checkpoint: keyOf(cp), generation: v.generation, validatedAt: now, validatedAgainst: cp.status?.validatedAgainst, ...report }, null, 2),
    }, { 'modelgate.io/checkpoint': cp.metadata.name as string }));
    for (const s of report.stages) this.d.observer?.gate?.(s.stage, s.verdict, s.durationMs);
    return this.a.apply(cp, planRecordValidation(cp, report, reportName, now));
  }

  /** The one place the fetch job starts (on entering Fetching, and again when a restart finds none running). */
  private startFetch(cp: ModelCheckpoint): void {
    this.d.jobs.start(cp.metadata.uid as string, 'fetch', cp.metadata.generation ?? 1, (signal) => this.fetchFor(cp, signal));
  }

  private async finalize(cp: ModelCheckpoint): Promise<ReconcileResult> {
    this.d.jobs.cancel(cp.metadata.uid as string);
    await this.d.validator.cleanup(keyOf(cp));
    if (cp.spec?.target?.deployment) await this.a.releaseClaim(cp).catch(() => undefined);
    if ((cp.metadata.finalizers ?? []).includes(FINALIZER)) {
      try {
        await this.d.checkpoints.setFinalizer(cp, false);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    this.d.log.info('finalized: work cancelled, temp files removed, Deployment left as it is', { namespace: cp.metadata.namespace, name: cp.metadata.name });
    return undefined;
  }
}
