// The reconcile: read the checkpoint and its target afresh, ask the phase machine for the next
// step, do that one step's I/O, write status. Long work runs as background jobs (jobs.ts);
// every write is conditional on the resourceVersion it was computed from.
import { CONDITION } from '../api/conditions.js';
import { REASON, REASONS } from '../api/reasons.js';
import {
  ANNOTATIONS, API_VERSION, DEFAULT_MODEL_ENV, FINALIZER, KIND,
  type AnalysisTemplate, type AnalysisTemplateRef, type ModelCheckpoint, type ModelCheckpointStatus, type Phase, type ResolvedAnalysis, type RollbackPoint, type ValidationJobOverrides, type ValidationRunner,
} from '../api/types.js';
import { isConflict, isNotFound } from '../kube/client.js';
import type { CheckpointCache, DeploymentCache } from '../kube/cache.js';
import type { Checkpoints } from '../kube/checkpoints.js';
import { storeAccessOf } from '../api/store-env.js';
import { claimOf, claimUid, claimValue, runningModel, type DeploymentFacts, type Deployments, type ModelRef } from '../kube/deployments.js';
import type { EventRecorder, EventType } from '../kube/events.js';
import type { Analyzer } from '../monitor/guard.js';
import { resolveAnalysis, templateRefs, type Resolution } from '../monitor/templates.js';
import { StageError, type BaselineRef, type CheckpointValidator, type FetchedArtifact, type RequestCredentials, type ValidationReport, type ValidationRequest } from '../validation/contract.js';
import { runnerOf, type CheckpointRef } from '../validation/job-spec.js';
import { resolveCredentials } from './credentials.js';
import { FoldedWrites } from './fold.js';
import type { JobRegistry } from './jobs.js';
import { awaitedJob, CLAIMING_PHASES, decide, foldable, LIVE_PHASES, type JobView, type RetryPolicy, type Step, type TargetView, type View } from './phases.js';
import { DEFAULT_MAX_RESTARTS, judgeRollout, type RolloutView } from './rollout.js';
import type { ReconcileResult } from './queue.js';
import { restarted, sameStatus, withAnalysisCondition, withDeployed, withDrift, withPhase, withStages, withStall, withWaiting } from './status.js';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

/** Reads analysis templates (the cache when synced); undefined when the template does not exist. */
export interface TemplateReader {
  read(ref: AnalysisTemplateRef, namespace: string): Promise<AnalysisTemplate | undefined>;
}

/** Numbers the reconciler reports; the operator wires them to prom-client. */
export interface ReconcileObserver {
  /** After the status with the new phase was written; `cp` carries that status. */
  transition?(from: Phase | undefined, to: Phase, cp?: ModelCheckpoint, reason?: string, message?: string): void;
  deployed?(): void;
  /** A reconcile met a 409 Conflict and is retried at once with a fresh read. */
  conflict?(): void;
  rolledBack?(reason: string): void;
  gate?(stage: string, verdict: string, durationMs?: number): void;
}

/** Audit trail per target (what, when, why, the numbers at the time). */
export interface AuditLog {
  record(namespace: string, deployment: string, entry: Record<string, unknown>): Promise<void>;
}

export interface ReconcilerDeps {
  checkpoints: Checkpoints;
  deployments: Deployments;
  events: EventRecorder;
  validator: CheckpointValidator;
  jobs: JobRegistry;
  /**
   * The informer caches with this operator's own writes on top (src/kube/cache.ts; the
   * Checkpoints and Deployments above record their writes there themselves). `cached` is the
   * informer's copy alone, to judge claim liveness and find production checkpoints; `read` is our
   * own newer write, else the synced cache, undefined meaning "ask the apiserver". A Deployment
   * read is null when the synced cache holds no such Deployment. Writes that depend on a read
   * carry its resourceVersion, so a stale read costs one 409 and a fresh retry, never a wrong write.
   */
  checkpointCache: Pick<CheckpointCache, 'cached' | 'read'>;
  deploymentCache: Pick<DeploymentCache, 'read'>;
  analyzer?: Analyzer;
  /** The analysis templates checkpoints reference. */
  templates: TemplateReader;
  audit?: AuditLog;
  log: Logger;
  observer?: ReconcileObserver;
  now?: () => Date;
  /** How many deployed checkpoints the rollback history keeps. */
  rollbackHistory?: number;
  /** How transient failures of fetch and validation are retried (default DEFAULT_RETRY). */
  retryPolicy?: RetryPolicy;
  /** Validation Jobs (spec.validation.runner: Job); without it every checkpoint validates in process. */
  validationJobs?: ValidationJobRunner;
  /** The runner of a checkpoint whose spec.validation.runner is unset (default InProcess). */
  defaultRunner?: ValidationRunner;
  /** How long a folded step waits for the fetch or validation it started (default Reconciler.FOLD_WAIT_MS). */
  foldWaitMs?: number;
  /** Test hook for the crash-between-patch-and-status fault test: called right after the Deployment patch. */
  afterDeploymentPatch?: () => void;
}

const keyOf = (cp: ModelCheckpoint): string => `${cp.metadata.namespace}/${cp.metadata.name}`;

/** Runs one checkpoint generation's validation as a Kubernetes Job (src/kube/jobs.ts). */
export interface ValidationJobRunner {
  run(cp: CheckpointRef, request: ValidationRequest, overrides: ValidationJobOverrides | undefined, signal: AbortSignal): Promise<ValidationReport>;
  /** Deletes the checkpoint's Jobs of other generations (a spec change made them moot). */
  supersede?(namespace: string, uid: string, generation: number): Promise<void>;
  /** The Job watch, started and stopped with the controller's informers. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  readonly synced?: boolean;
}

export class Reconciler {
  private readonly now: () => Date;
  /** The folded status writes of the reconcile running for each key (the queue runs a key once at a time). */
  private readonly folds = new Map<string, FoldedWrites>();
  /** `<ns>/<deployment>` → when this operator last claimed it (ms since the epoch). */
  private readonly claimedAt = new Map<string, { at: number; generation: number }>();

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
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
      const target = cp.metadata.deletionTimestamp ? undefined : await this.readTarget(cp, attempt > 0);
      const fold = new FoldedWrites(cp.metadata.uid as string);
      this.folds.set(key, fold);
      try {
        return await this.steps(cp, target, attempt, fold, signal);
      } catch (err) {
        // A conflict past the retries goes back to the queue, which backs off per key.
        if (!isConflict(err) || attempt + 1 >= Reconciler.CONFLICT_RETRIES) throw err;
        this.d.observer?.conflict?.();
      } finally {
        this.folds.delete(key);
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
    let { target, view, step, resolved } = await this.observe(cp, first, attempt);
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
      ({ target, view, step, resolved } = await this.observe(cp, target, attempt));
    }
    const result = await this.execute(cp, target, view, step, resolved, signal);
    // The last step wrote no status (it waits for work still running): the folded phases alone.
    const pending = fold.pending;
    if (pending) await this.writeStatus(cp, pending);
    return result;
  }

  /** What the phase machine decides on, read for `cp` and its target; and its step. */
  private async observe(cp: ModelCheckpoint, known: DeploymentFacts | undefined, attempt: number): Promise<{ target: DeploymentFacts | undefined; view: View; step: Step; resolved?: ResolvedAnalysis }> {
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
    if (resolution) {
      view.analysis = resolution.ok
        ? { ok: true, metrics: resolution.analysis.metrics.length, templates: resolution.analysis.templates.map((t) => t.name) }
        : resolution;
    }
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

  /**
   * The analysis resolved from its templates, in the phases that decide on it: Validated (before
   * the deploy), Deployed (as analysis starts) and Monitoring without a recorded copy. Elsewhere
   * undefined: a running analysis uses what status recorded, whatever the templates say now.
   */
  private async resolutionFor(cp: ModelCheckpoint): Promise<Resolution | undefined> {
    const spec = cp.spec.analysis;
    const status = cp.status ?? {};
    if (!spec || cp.metadata.deletionTimestamp || status.observedGeneration !== (cp.metadata.generation ?? 1)) return undefined;
    const phase = status.phase;
    if (!(phase === 'Validated' || phase === 'Deployed' || (phase === 'Monitoring' && !status.analysis?.resolved))) return undefined;
    const refused = this.d.analyzer?.refusal?.(cp);
    if (refused) return { ok: false, ...refused };
    const ns = cp.metadata.namespace as string;
    const fetched = await Promise.all(templateRefs(spec).map(async (ref) => ({ ref, template: await this.d.templates.read(ref, ns) })));
    return resolveAnalysis(spec, ns, fetched, this.now().toISOString());
  }

  /** The target from the cache on a first pass; after a conflict, from the apiserver. */
  private async readTarget(cp: ModelCheckpoint, fresh: boolean): Promise<DeploymentFacts | undefined> {
    const ns = cp.metadata.namespace as string;
    // null: the synced cache knows it is absent, so a stalled checkpoint costs no GET; the
    // watch brings it back when the Deployment appears.
    const cached = fresh ? undefined : this.d.deploymentCache.read(ns, cp.spec.target.deployment);
    if (cached === null) return undefined;
    return cached ?? (await this.d.deployments.read(ns, cp.spec.target.deployment));
  }

  /** How this checkpoint's pods come up, from the Deployment's ReplicaSets and pods read now. */
  private async rolloutOf(cp: ModelCheckpoint, target: DeploymentFacts): Promise<RolloutView> {
    const facts = await this.d.deployments.rolloutFacts(target);
    const rollout = cp.spec.rollout ?? {};
    const deploying = cp.status?.phase === 'Deploying';
    const started = deploying && cp.status?.deployment?.deployedAt ? Date.parse(cp.status.deployment.deployedAt) : undefined;
    return judgeRollout({
      desired: target.replicas,
      conditions: target.conditions,
      ...facts,
      checkpointUid: cp.metadata.uid as string,
      ...(started !== undefined && !Number.isNaN(started) ? { startedAtMs: started, deadlineSeconds: rollout.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_SECONDS } : {}),
      nowMs: this.now().getTime(),
      maxRestarts: rollout.maxRestarts ?? DEFAULT_MAX_RESTARTS,
    });
  }

  private view(cp: ModelCheckpoint, facts: DeploymentFacts | undefined): View {
    const uid = cp.metadata.uid as string;
    const generation = cp.metadata.generation ?? 1;
    const phase = cp.status?.phase;
    let target: TargetView = { exists: false };
    if (facts) {
      const modelEnv = cp.spec.target.modelEnv ?? DEFAULT_MODEL_ENV;
      const running = runningModel(facts, cp.spec.target.container, modelEnv);
      const holder = claimUid(facts);
      target = {
        exists: true,
        containerFound: facts.containers.some((c) => c.name === cp.spec.target.container),
        runningUid: running.uid,
        runningDigest: running.uid ? running.digest : undefined,
        envDigest: running.uid === uid ? running.envDigest : undefined,
        envUri: running.uid === uid ? running.envUri : undefined,
        rolledBackFromUid: facts.annotations[ANNOTATIONS.rolledBackFrom] || undefined,
        claimUid: holder,
        claimLive: holder !== undefined && this.claimIsLive(cp.metadata.namespace as string, facts, holder),
      };
    }
    const jobKind = phase === 'Fetching' ? 'fetch' : phase === 'Validating' ? 'validate' : undefined;
    let job: JobView = { state: 'none' };
    if (jobKind) {
      const j = this.d.jobs.get<unknown>(uid, jobKind, generation);
      if (j?.state === 'running') job = { state: 'running' };
      else if (j?.state === 'succeeded') job = { state: 'succeeded' };
      else if (j?.state === 'failed') job = failedJob(j.error, jobKind);
    }
    return {
      uid,
      generation,
      deleting: Boolean(cp.metadata.deletionTimestamp),
      hasFinalizer: (cp.metadata.finalizers ?? []).includes(FINALIZER),
      spec: cp.spec,
      status: cp.status ?? {},
      target,
      job,
      rollbackRequest: rollbackRequestOf(cp),
      promotedGeneration: promotedGenerationOf(cp),
      productionDigest: cp.status?.validatedAgainst ? (cp.status.validatedAgainst.digest ?? '') : undefined,
      now: this.now().getTime(),
      retryPolicy: this.d.retryPolicy,
    };
  }

  /** A claim is live while its holder exists and is on its way to (or in) production. */
  private claimIsLive(namespace: string, facts: DeploymentFacts, holderUid: string): boolean {
    const holderName = claimOf(facts)?.name ?? '';
    // A holder this operator is reconciling right now may have just claimed, its status (Fetching
    // to Deploying, in one folded write) still in flight: live. Else our own last write of it
    // when the cache has not caught up, then the cache.
    if (this.folds.get(`${namespace}/${holderName}`)?.uid === holderUid) return true;
    const holder = this.d.checkpointCache.read(namespace, holderName) ?? this.d.checkpointCache.cached(namespace, holderName);
    if (!holder || holder.metadata.uid !== holderUid || holder.metadata.deletionTimestamp) return false;
    return CLAIMING_PHASES.has(holder.status?.phase ?? 'Pending');
  }

  private async execute(cp: ModelCheckpoint, facts: DeploymentFacts | undefined, v: View, step: Step, resolved?: ResolvedAnalysis, signal?: AbortSignal): Promise<ReconcileResult> {
    const now = this.now().toISOString();
    const gen = v.generation;
    const status = cp.status ?? {};
    switch (step.kind) {
      case 'Finalize':
        return this.finalize(cp);
      case 'AddFinalizer': {
        // No separate Pending write: the next pass writes Fetching, or Pending with the reason
        // it stalls, one round trip sooner.
        await this.d.checkpoints.setFinalizer(cp, true);
        return { requeueAfterMs: 0 };
      }
      case 'Restart':
        this.d.jobs.cancel(v.uid);
        await this.d.validationJobs?.supersede?.(cp.metadata.namespace as string, v.uid, gen);
        await this.writeStatus(cp, restarted(status, gen, step.message, now));
        this.event(cp, 'Normal', REASON.SpecChanged, 'Restart', step.message);
        return { requeueAfterMs: 0 };
      case 'Stall': {
        // No Secret watch: a missing Secret is looked for again soon, so the checkpoint resumes by itself.
        const again = step.reason === REASON.SecretNotFound || step.reason === REASON.InvalidSecret ? 5_000 : 60_000;
        if (status.conditions?.find((c) => c.type === CONDITION.stalled && c.status === 'True' && c.reason === step.reason && c.message === step.message) && status.observedGeneration === gen) {
          return { requeueAfterMs: again };
        }
        await this.writeStatus(cp, withStall(status, status.phase ?? 'Pending', step.reason, step.message, gen, now));
        this.event(cp, 'Warning', step.reason, 'Wait', step.message);
        // The Deployment and template watches bring us back when what is missing appears; this is a safety net.
        return { requeueAfterMs: again };
      }
      case 'Hold':
      case 'AwaitClaim': {
        const reason = step.kind === 'Hold' ? step.reason : REASON.AwaitingClaim;
        const ready = status.conditions?.find((c) => c.type === CONDITION.reconciling);
        if (!(ready?.reason === reason && ready.message === step.message && status.observedGeneration === gen)) {
          await this.writeStatus(cp, withWaiting(status, status.phase ?? 'Validated', reason, step.message, gen, now));
          this.event(cp, 'Normal', reason, 'Wait', step.message);
        }
        return { requeueAfterMs: step.kind === 'AwaitClaim' ? 5_000 : 60_000 };
      }
      case 'Transition':
        // The analysis is recorded as it starts: from here on the templates may change freely.
        if (step.to === 'Monitoring' && resolved) return this.transition(cp, facts, step.to, step.reason, step.message, { analysis: { ...(status.analysis ?? {}), resolved } });
        if (step.to === 'Deployed' && v.target.exists && v.target.rollout) return this.transition(cp, facts, step.to, step.reason, step.message, { rollout: v.target.rollout });
        return this.transition(cp, facts, step.to, step.reason, step.message, step.retry ? { retry: step.retry } : {});
      case 'StartFetch':
        this.startFetch(cp, gen);
        return { requeueAfterMs: 30_000 };
      case 'StartValidate': {
        const baseline = this.baselineFor(cp, facts);
        // What production runs now, as the Deployment records it (even if that checkpoint is gone),
        // so a later change of production is noticed and nothing loops when it cannot be compared.
        const running = facts ? runningModel(facts, cp.spec.target.container, cp.spec.target.modelEnv) : {};
        const against = { checkpoint: running.checkpoint, digest: running.uid ? running.digest : undefined };
        if (status.validatedAgainst?.digest !== against.digest || status.phase !== 'Validating') {
          await this.writeStatus(cp, { ...withPhase(status, 'Validating', REASON.Validating, baseline ? `validating against ${baseline.checkpoint} (${baseline.version})` : 'validating; no checkpoint in production to compare with', gen, now), validatedAgainst: against });
        }
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
        return { requeueAfterMs: 30_000 };
      }
      case 'AwaitJob':
        return { requeueAfterMs: 30_000 };
      case 'RetryLater': {
        // Status first: if the write loses a race, the failed job is still there for the retry.
        await this.writeStatus(cp, { ...withWaiting(status, status.phase ?? 'Fetching', step.reason, step.message, gen, now), retry: step.retry });
        this.d.jobs.clear(v.uid, status.phase === 'Validating' ? 'validate' : 'fetch', gen);
        this.event(cp, 'Warning', step.reason, 'Retry', step.message);
        this.d.log.warn('transient failure; retrying', { namespace: cp.metadata.namespace, name: cp.metadata.name, phase: status.phase, attempts: step.retry.attempts, nextAttemptAt: step.retry.nextAttemptAt, reason: step.reason });
        return { requeueAfterMs: step.delayMs };
      }
      case 'AwaitRetry':
        return { requeueAfterMs: step.delayMs };
      case 'RecordValidation':
        return this.recordValidation(cp, v);
      case 'ClaimAndDeploy':
        return facts ? this.claimAndDeploy(cp, v, facts) : { requeueAfterMs: 0 };
      case 'PatchDeployment':
        return facts ? this.patchDeployment(cp, v, facts) : { requeueAfterMs: 0 };
      case 'AwaitRollout':
        return this.awaitRollout(cp, v, step.message);
      case 'Analyze':
        if (!status.analysis?.resolved && resolved) {
          // Monitoring since before templates existed: record what it measures, then go on.
          const message = `watching ${resolved.metrics.length} metric(s) in Prometheus (analysis recorded)`;
          await this.writeStatus(cp, { ...withPhase(status, 'Monitoring', REASON.Monitoring, message, gen, now), analysis: { ...(status.analysis ?? {}), resolved } });
          return { requeueAfterMs: 0 };
        }
        return this.analyze(cp, v, facts, signal);
      case 'Rollback': {
        // A failed rollout keeps what the pods said, next to the rollback it caused.
        const rollout = v.target.exists ? v.target.rollout : undefined;
        return this.rollback(rollout ? { ...cp, status: { ...status, rollout } } : cp, step.reason, step.message, step.to, facts);
      }
      case 'Drift': {
        const c = status.conditions?.find((x) => x.type === CONDITION.ready);
        if (c?.reason !== REASON.Drift) {
          await this.writeStatus(cp, withDrift(status, step.message, gen, now));
          this.event(cp, 'Warning', REASON.Drift, 'Observe', step.message);
        }
        return { requeueAfterMs: 60_000 };
      }
      case 'Nothing':
        if (status.observedGeneration !== gen) await this.writeStatus(cp, { ...status, observedGeneration: gen });
        return;
    }
  }

  private async transition(cp: ModelCheckpoint, facts: DeploymentFacts | undefined, to: Phase, reason: string, message: string, extra: Partial<ModelCheckpointStatus> = {}): Promise<ReconcileResult> {
    // `extra` adds fields next to the phase change (analysis results); the base is cp.status.
    const now = this.now().toISOString();
    const gen = cp.metadata.generation ?? 1;
    const from = cp.status?.phase;
    let status: ModelCheckpointStatus = { ...withPhase(cp.status ?? {}, to, reason, message, gen, now), ...extra };
    if (status.retry && to !== from) status.retry = settledRetry(status.retry, to);
    if (LIVE_PHASES.has(to) && facts) {
      status = {
        ...status,
        deployment: { ...(status.deployment ?? { deployedAt: now, deployment: facts.name }), revision: status.rollout?.revision ?? facts.revision, generation: facts.generation },
      };
      if (to === 'Deployed') {
        status = withDeployed(status, true, reason, `${message}; Deployment ${facts.name} revision ${status.deployment?.revision ?? 'pending'}`, gen, now);
      }
    }
    if (to === 'Superseded' || to === 'RolledBack') {
      status = withDeployed(status, false, reason, message, gen, now);
    }
    if (to === 'RolledBack') status.rolledBackGeneration = gen;
    if (from === 'Deploying' && to === 'Deployed') {
      // Also after a restart that found the patch already done: the audit trail misses no deploy.
      await this.d.audit?.record(cp.metadata.namespace as string, cp.spec.target.deployment, {
        action: 'deploy', checkpoint: cp.metadata.name, version: cp.spec.version, digest: cp.spec.artifact.digest, revision: status.deployment?.revision ?? facts?.revision,
        pods: status.rollout ? `${status.rollout.available}/${status.rollout.desired} available` : undefined,
        severity: cp.status?.severity, rollbackPoint: cp.status?.deployment?.rollbackPoint?.checkpoint, stages: cp.status?.stages?.map((s) => ({ stage: s.stage, verdict: s.verdict, summary: s.summary })),
      }).catch((err: unknown) => this.d.log.warn('audit record failed', { error: String(err) }));
    }
    const written = await this.writeStatus(cp, status);
    // Started before a folded status is written, so the next folded step can find it done; a
    // retry after a lost write finds the same job (same uid, kind and generation) and keeps it.
    if (to === 'Fetching') this.startFetch(cp, gen);
    await this.onceWritten(cp, async () => {
      this.d.observer?.transition?.(from, to, { ...written, status }, reason, message);
      const warn = to === 'Failed' || to === 'Rejected' || to === 'RolledBack';
      this.event(cp, warn ? 'Warning' : 'Normal', reason, to, message);
      this.d.log.info(`phase ${from ?? 'none'} -> ${to}`, { namespace: cp.metadata.namespace, name: cp.metadata.name, phase: to, reason, message });
      if (to === 'Validating') this.d.jobs.clear(cp.metadata.uid as string, 'fetch', gen);
      // The release is a compare-and-set on the claim itself; `facts` may come from a lagging cache
      // that does not show our claim yet, and skipping on it left the claim behind (seen under a 409 storm).
      if (from && CLAIMING_PHASES.has(from) && !CLAIMING_PHASES.has(to)) await this.releaseClaim(cp);
      if (to === 'Failed' || to === 'Rejected') await this.d.validator.cleanup(keyOf(cp)).catch(() => undefined);
    });
    return { requeueAfterMs: 0 };
  }

  private async recordValidation(cp: ModelCheckpoint, v: View): Promise<ReconcileResult> {
    const uid = v.uid;
    const gen = v.generation;
    const job = this.d.jobs.get<ValidationReport>(uid, 'validate', gen);
    if (job?.state !== 'succeeded') return { requeueAfterMs: 0 };
    const report = job.value;
    const now = this.now().toISOString();
    const reportName = `${cp.metadata.name}-report`.slice(0, 253);
    // Before the status that names it; when that status is folded, beside the claim.
    const reportWrite = this.d.checkpoints.applyOwnedConfigMap(cp, reportName, {
      'report.json': JSON.stringify({ checkpoint: keyOf(cp), generation: gen, validatedAt: now, validatedAgainst: cp.status?.validatedAgainst, ...report }, null, 2),
    }, { 'modelgate.io/checkpoint': cp.metadata.name as string });
    const fold = this.folds.get(keyOf(cp));
    if (fold?.deferring) fold.before(reportWrite);
    else await reportWrite;
    for (const s of report.stages) this.d.observer?.gate?.(s.stage, s.verdict, s.durationMs);
    let status = withStages(cp.status ?? {}, report.stages, gen, now);
    // No regression judged (an earlier gate blocked): no severity, not "NONE".
    const { severity: _previous, ...rest } = status;
    status = { ...rest, ...(report.severity ? { severity: report.severity } : {}), reportConfigMap: reportName };
    const to: Phase = report.passed ? 'Validated' : 'Rejected';
    for (const s of report.stages) {
      if (s.verdict === 'Failed' || s.verdict === 'Error') this.event(cp, 'Warning', s.reason, `Gate:${s.stage}`, s.message);
    }
    const result = await this.transition({ ...cp, status }, undefined, to, report.reason, report.message);
    await this.onceWritten(cp, () => this.d.jobs.clear(uid, 'validate', gen));
    return result;
  }

  /** The checkpoint now serving the target, if the operator put it there. */
  private baselineFor(cp: ModelCheckpoint, facts: DeploymentFacts | undefined): BaselineRef | undefined {
    if (!facts) return undefined;
    const running = runningModel(facts, cp.spec.target.container, cp.spec.target.modelEnv);
    if (!running.uid || !running.checkpoint || running.uid === cp.metadata.uid) return undefined;
    const prod = this.d.checkpointCache.cached(cp.metadata.namespace as string, running.checkpoint);
    if (!prod || prod.metadata.uid !== running.uid) return undefined;
    return { checkpoint: running.checkpoint, version: prod.spec.version, artifact: prod.spec.artifact, training: prod.spec.training };
  }

  /** `fresh`: the Deployment as just read from the apiserver (readTarget does, from Validated on). */
  private async claimAndDeploy(cp: ModelCheckpoint, v: View, fresh: DeploymentFacts): Promise<ReconcileResult> {
    const ns = cp.metadata.namespace as string;
    const holder = claimUid(fresh);
    if (holder && holder !== v.uid && this.claimIsLive(ns, fresh, holder)) return { requeueAfterMs: 1_000 };
    // The claim and the status with the rollback point are written side by side: the patch of
    // the Deployment comes only on the next pass, which checks again that the claim is ours.
    const claimed = fresh;
    const claiming = holder === v.uid ? undefined : this.d.deployments.setClaim(fresh, claimValue(cp.metadata.name as string, v.uid));
    const running = runningModel(claimed, cp.spec.target.container, cp.spec.target.modelEnv);
    let rollbackPoint: RollbackPoint | undefined;
    if (running.uid && running.checkpoint && running.digest) {
      rollbackPoint = {
        checkpoint: running.checkpoint,
        uid: running.uid,
        version: running.version ?? '',
        digest: running.digest,
        uri: running.envUri ?? '',
        deploymentRevision: claimed.revision,
        ...storeAccessOf(running.access),
      };
    }
    // The chain of older points comes from the checkpoint being replaced, which kept its own.
    const keep = Math.max(0, (this.d.rollbackHistory ?? 5) - 1);
    // The cache may not have seen the replaced checkpoint's own deploy yet (it went live a moment
    // ago): without its deployment record there, its chain is read from the apiserver.
    let prev = rollbackPoint ? this.d.checkpointCache.cached(ns, rollbackPoint.checkpoint) : undefined;
    if (rollbackPoint && (!prev || prev.metadata.uid !== rollbackPoint.uid || !prev.status?.deployment)) prev = await this.d.checkpoints.get(ns, rollbackPoint.checkpoint);
    const earlier = prev && prev.metadata.uid === rollbackPoint?.uid
      ? [prev.status?.deployment?.rollbackPoint, ...(prev.status?.deployment?.earlierRollbackPoints ?? [])].filter((p): p is RollbackPoint => p !== undefined && p.uid !== v.uid).slice(0, keep)
      : [];
    const now = this.now().toISOString();
    const points = [rollbackPoint, ...earlier].filter((p): p is RollbackPoint => p !== undefined).map((p) => `${p.checkpoint} (${p.version})`);
    // The rollback point is in status before the Deployment changes.
    const status: ModelCheckpointStatus = {
      ...withPhase(cp.status ?? {}, 'Deploying', REASON.Deploying, `deploying to ${claimed.name}${rollbackPoint ? `; rollback points ${points.join(', ')}` : '; no rollback point (first checkpoint of this target)'}`, v.generation, now),
      deployment: { deployedAt: now, deployment: claimed.name, revision: claimed.revision, rollbackPoint, ...(earlier.length > 0 ? { earlierRollbackPoints: earlier } : {}) },
    };
    // Both writes settle before a failure is thrown: a conflict retried with a fresh read must
    // not race the other write still in flight (the read would miss it and decide on old state).
    const [wroteStatus, wroteClaim] = await Promise.allSettled([this.writeStatus(cp, status), claiming]);
    if (wroteClaim.status === 'fulfilled' && wroteClaim.value) this.claimed(wroteClaim.value);
    if (wroteStatus.status === 'rejected') throw wroteStatus.reason;
    if (wroteClaim.status === 'rejected') throw wroteClaim.reason;
    const claimedNow = wroteClaim.value;
    if (claimedNow) {
      this.event(cp, 'Normal', REASON.ClaimAcquired, 'Claim', `claimed Deployment ${claimed.name}`);
    }
    this.d.observer?.transition?.(cp.status?.phase, 'Deploying');
    this.event(cp, 'Normal', REASON.Deploying, 'Deploy', status.conditions?.find((c) => c.type === CONDITION.ready)?.message ?? 'deploying');
    return { requeueAfterMs: 0 };
  }

  private async patchDeployment(cp: ModelCheckpoint, v: View, fresh: DeploymentFacts): Promise<ReconcileResult> {
    const ns = cp.metadata.namespace as string;
    const holder = claimUid(fresh);
    if (holder !== v.uid) {
      if (holder && this.claimIsLive(ns, fresh, holder)) {
        // Lost the claim between claiming and patching: back to waiting, nothing deployed.
        return this.transition(cp, fresh, 'Validated', REASON.AwaitingClaim, 'another checkpoint took the claim on the Deployment first');
      }
      this.claimed(await this.d.deployments.setClaim(fresh, claimValue(cp.metadata.name as string, v.uid)));
      return { requeueAfterMs: 0 };
    }
    const key = `${ns}/${fresh.name}`;
    const claimed = this.claimedAt.get(key);
    if (claimed && Date.now() - claimed.at < CLAIM_SETTLE_MS && fresh.generation === claimed.generation && fresh.observedGeneration < fresh.generation) {
      // Our claim bumped the Deployment's generation (a Deployment counts annotation changes), so
      // the Deployment controller is about to write its status: an apply on this resourceVersion
      // would meet a 409 and cost a fresh read. That write's watch event brings us back. Only for
      // the generation our claim made: under other writers the wait would only add reconciles.
      return { requeueAfterMs: 200 };
    }
    this.claimedAt.delete(key);
    const model: ModelRef = { checkpoint: cp.metadata.name as string, uid: v.uid, version: cp.spec.version, uri: cp.spec.artifact.uri, digest: cp.spec.artifact.digest, access: storeAccessOf(cp.spec.artifact) };
    const patched = await this.d.deployments.applyModel(fresh, cp.spec.target.container, model, cp.spec.target.modelEnv);
    this.d.afterDeploymentPatch?.();
    this.d.observer?.deployed?.();
    // Deployed only once the new pods are available: until then Deploying, saying what it waits for.
    const message = `Deployment ${patched.name} patched to run ${cp.spec.model} ${cp.spec.version} (${cp.spec.artifact.digest.slice(0, 19)}…): waiting for ${patched.replicas} pod(s) to be available`;
    const status = cp.status ?? {};
    await this.writeStatus(cp, {
      ...withWaiting(status, 'Deploying', REASON.RolloutProgressing, message, v.generation, this.now().toISOString()),
      ...(status.deployment ? { deployment: { ...status.deployment, generation: patched.generation } } : {}),
    });
    this.event(cp, 'Normal', REASON.RolloutProgressing, 'Deploy', message);
    return { requeueAfterMs: 1_000 };
  }

  /** Waiting for the new pods: status says how far the rollout is, written when that changes. */
  private async awaitRollout(cp: ModelCheckpoint, v: View, message: string): Promise<ReconcileResult> {
    const status = cp.status ?? {};
    const rollout = v.target.exists ? v.target.rollout : undefined;
    const phase = status.phase ?? 'Deploying';
    const reconciling = status.conditions?.find((c) => c.type === CONDITION.reconciling);
    const same = reconciling?.message === message && sameRollout(status.rollout, rollout) && status.observedGeneration === v.generation;
    if (!same) {
      await this.writeStatus(cp, { ...withWaiting(status, phase, REASON.RolloutProgressing, message, v.generation, this.now().toISOString()), ...(rollout ? { rollout } : {}) });
    }
    // The Deployment watch wakes this up as replicas come up; pod restarts only show in pods.
    return { requeueAfterMs: 3_000 };
  }

  private async analyze(cp: ModelCheckpoint, v: View, facts: DeploymentFacts | undefined, signal?: AbortSignal): Promise<ReconcileResult> {
    if (!this.d.analyzer) return this.transition(cp, undefined, 'Healthy', REASON.Healthy, 'no analyzer configured');
    const out = await this.d.analyzer.analyze(cp, this.now(), signal);
    const now = this.now().toISOString();
    const status = cp.status ?? {};
    switch (out.action) {
      case 'Healthy':
        return this.transition(cp, undefined, 'Healthy', out.reason, out.message, { analysis: out.analysis });
      case 'Rollback':
        return this.rollback({ ...cp, status: { ...status, analysis: out.analysis } }, out.reason, out.message, undefined, facts);
      case 'Hold':
      case 'Continue': {
        const next = withAnalysisCondition({ ...status, analysis: out.analysis }, out.action === 'Hold' ? 'False' : 'Unknown', out.reason, out.message, v.generation, now);
        if (!sameStatus(status, next)) {
          await this.writeStatus(cp, next);
          // One Event when a hold starts (or its reason changes), not one per interval while it lasts.
          const before = status.conditions?.find((c) => c.type === CONDITION.analysis);
          if (out.action === 'Hold' && (before?.status !== 'False' || before.reason !== out.reason)) this.event(cp, 'Warning', out.reason, 'Hold', out.message);
        }
        return { requeueAfterMs: out.requeueAfterMs };
      }
    }
  }

  /** Puts the rollback point (or `to`, a named older checkpoint) back on the Deployment. */
  private async rollback(cp: ModelCheckpoint, reason: string, message: string, to: string | undefined, facts: DeploymentFacts | undefined): Promise<ReconcileResult> {
    const ns = cp.metadata.namespace as string;
    const gen = cp.metadata.generation ?? 1;
    let point = cp.status?.deployment?.rollbackPoint;
    if (to) {
      const older = await this.d.checkpoints.get(ns, to);
      const refusal = !older
        ? `no checkpoint named ${to} in this namespace`
        : older.metadata.uid === cp.metadata.uid
          ? 'a checkpoint cannot roll back to itself'
          : older.spec.target.deployment !== cp.spec.target.deployment || older.status?.deployment?.deployment !== cp.spec.target.deployment
            ? `${to} was never deployed to Deployment ${cp.spec.target.deployment}`
            : ['RolledBack', 'Rejected', 'Failed'].includes(older.status?.phase ?? '')
              ? `${to} is ${older.status?.phase}: it may not return to production until its spec changes`
              : undefined;
      if (refusal || !older) {
        await this.withoutRollbackRequest(cp);
        this.event(cp, 'Warning', REASON.NoRollbackPoint, 'Rollback', `rollback to ${to} refused: ${refusal}`);
        return;
      }
      point = { checkpoint: to, uid: older.metadata.uid, version: older.spec.version, digest: older.spec.artifact.digest, uri: older.spec.artifact.uri, ...storeAccessOf(older.spec.artifact) };
    }
    if (!point?.uid) {
      const now = this.now().toISOString();
      const msg = `${message}; but there is no rollback point (first checkpoint of this target): holding, the Deployment stays as it is`;
      const current = await this.withoutRollbackRequest(cp);
      await this.writeStatus(current, withAnalysisCondition(cp.status ?? {}, 'False', REASON.NoRollbackPoint, msg, gen, now));
      this.event(cp, 'Warning', REASON.NoRollbackPoint, 'Hold', msg);
      return { requeueAfterMs: 60_000 };
    }
    const fresh = facts ?? (await this.d.deployments.read(ns, cp.spec.target.deployment));
    if (!fresh) return { requeueAfterMs: 0 };
    const model: ModelRef = { checkpoint: point.checkpoint, uid: point.uid, version: point.version, uri: point.uri, digest: point.digest, access: storeAccessOf(point) };
    const patched = await this.d.deployments.applyModel(fresh, cp.spec.target.container, model, cp.spec.target.modelEnv, cp.metadata.uid);
    this.d.observer?.rolledBack?.(reason);
    await this.d.audit?.record(ns, fresh.name, {
      action: 'rollback', from: cp.metadata.name, fromVersion: cp.spec.version, to: point.checkpoint, toVersion: point.version, reason, message,
      measurements: reason === REASON.RolloutFailed ? undefined : cp.status?.analysis?.measurements?.slice(-5),
      rollout: reason === REASON.RolloutFailed && cp.status?.rollout ? { reason: cp.status.rollout.reason, message: cp.status.rollout.message, problems: cp.status.rollout.problems } : undefined,
    }).catch((err: unknown) => this.d.log.warn('audit record failed', { error: String(err) }));
    const current = await this.withoutRollbackRequest(cp);
    const full = `${message}; Deployment ${patched.name} is back on ${point.checkpoint} (${point.version})`;
    return this.transition(current, patched, 'RolledBack', reason, full);
  }

  /** Clears a handled rollback request; keeps the in-memory status (the caller writes it next). */
  private async withoutRollbackRequest(cp: ModelCheckpoint): Promise<ModelCheckpoint> {
    if (!cp.metadata.annotations?.[ANNOTATIONS.rollbackRequest]) return cp;
    const updated = await this.d.checkpoints.clearAnnotation(cp, ANNOTATIONS.rollbackRequest);
    return { ...updated, status: cp.status };
  }

  /** Drops this checkpoint's claim if it still holds it (a compare-and-set on the annotation alone). */
  private async releaseClaim(cp: ModelCheckpoint, known?: DeploymentFacts): Promise<void> {
    const ns = cp.metadata.namespace as string;
    if (known && claimUid(known) !== cp.metadata.uid) return;
    await this.d.deployments.releaseClaim(ns, cp.spec.target.deployment, claimValue(cp.metadata.name as string, cp.metadata.uid as string));
  }

  /** The one place the fetch job starts (on entering Fetching, and again when a restart finds none running). */
  private startFetch(cp: ModelCheckpoint, gen: number): void {
    this.d.jobs.start(cp.metadata.uid as string, 'fetch', gen, (signal) => this.fetchFor(cp, signal));
  }

  /** Notes when this operator claimed a Deployment (patchDeployment waits for the status write that follows). */
  private claimed(facts: DeploymentFacts): void {
    this.claimedAt.set(`${facts.namespace}/${facts.name}`, { at: Date.now(), generation: facts.generation });
    if (this.claimedAt.size > 10_000) this.claimedAt.clear();
  }

  private async finalize(cp: ModelCheckpoint): Promise<ReconcileResult> {
    const uid = cp.metadata.uid as string;
    this.d.jobs.cancel(uid);
    await this.d.validator.cleanup(keyOf(cp));
    if (cp.spec?.target?.deployment) await this.releaseClaim(cp).catch(() => undefined);
    if ((cp.metadata.finalizers ?? []).includes(FINALIZER)) {
      try {
        await this.d.checkpoints.setFinalizer(cp, false);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    this.d.log.info('finalized: work cancelled, temp files removed, Deployment left as it is', { namespace: cp.metadata.namespace, name: cp.metadata.name });
    return;
  }

  /** Writes status; while a folded step runs, only in memory (fold.ts). */
  private async writeStatus(cp: ModelCheckpoint, status: ModelCheckpointStatus): Promise<ModelCheckpoint> {
    const fold = this.folds.get(keyOf(cp));
    if (fold?.deferring) return fold.defer(cp, status);
    await fold?.ready();
    const written = await this.d.checkpoints.writeStatus(cp, status);
    // This write carries the folded phases (it was computed from their status): their Events now.
    await fold?.landed();
    return written;
  }

  /** Runs `fn` once the status just written is on the apiserver: now, or when a folded write lands. */
  private async onceWritten(cp: ModelCheckpoint, fn: () => void | Promise<void>): Promise<void> {
    const fold = this.folds.get(keyOf(cp));
    if (fold?.deferring) fold.queue(fn);
    else await fn();
  }

  private event(cp: ModelCheckpoint, type: EventType, reason: string, action: string, note: string): void {
    this.d.events.emit({ apiVersion: API_VERSION, kind: KIND, namespace: cp.metadata.namespace as string, name: cp.metadata.name as string, uid: cp.metadata.uid }, type, reason, action, note);
  }
}

/** How long after its own claim the Deployment patch waits for the Deployment controller's status write. */
const CLAIM_SETTLE_MS = 1_000;
/** Phases in which the rollout of the checkpoint's pods is read (when the Deployment runs it). */
const ROLLOUT_PHASES: ReadonlySet<Phase> = new Set(['Validated', 'Deploying', 'Superseded']);
const FETCH_PHASES: ReadonlySet<Phase> = new Set(['Pending', 'Fetching', 'Validating']);
/** spec.rollout.progressDeadlineSeconds when unset: the Deployment API's own default. */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 600;

function sameRollout(a: RolloutView | undefined, b: RolloutView | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * Steps that say which checkpoint the Deployment runs changed: a live checkpoint leaves
 * production (Superseded, RolledBack, or its Deployment is gone), or one that had left comes back
 * (Superseded or RolledBack, then Deployed). Decided on a fresh read, never on the cache alone.
 */
function changesProduction(v: View, step: Step): boolean {
  const phase = v.status.phase;
  if (phase === undefined) return false;
  if (LIVE_PHASES.has(phase)) {
    return (step.kind === 'Transition' && (step.to === 'Superseded' || step.to === 'RolledBack')) || (step.kind === 'Stall' && step.reason === REASON.TargetNotFound);
  }
  // Coming back waits for the rollout, read after this check: a cache that says the Deployment
  // runs this checkpoint again is confirmed before that rollout is even looked at.
  return (phase === 'Superseded' || phase === 'RolledBack') && v.target.exists && v.target.runningUid === v.uid && (step.kind !== 'Transition' || step.to === 'Deployed');
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

function failedJob(error: unknown, kind: string): JobView {
  if (error instanceof StageError) return { state: 'failed', reason: error.reason, message: error.message, terminal: error.terminal };
  const message = error instanceof Error ? error.message : String(error);
  return { state: 'failed', reason: kind === 'fetch' ? REASONS.FetchFailed : REASONS.ValidationError, message, terminal: true };
}

