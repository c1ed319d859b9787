// The reconcile: read the checkpoint and its target afresh, ask the phase machine for the next
// step, do that one step's I/O, write status. Long work runs as background jobs (jobs.ts);
// every write is conditional on the resourceVersion it was computed from.
import { CONDITION, setCondition } from '../api/conditions.js';
import { REASON } from '../api/reasons.js';
import {
  ANNOTATIONS, API_VERSION, DEFAULT_MODEL_ENV, FINALIZER, KIND,
  type AnalysisStatus, type ModelCheckpoint, type ModelCheckpointStatus, type Phase, type RollbackPoint,
} from '../api/types.js';
import { isConflict, isNotFound } from '../kube/client.js';
import type { Checkpoints } from '../kube/checkpoints.js';
import { claimUid, claimValue, runningModel, type DeploymentFacts, type Deployments, type ModelRef } from '../kube/deployments.js';
import type { EventRecorder, EventType } from '../kube/events.js';
import { StageError, type BaselineRef, type CheckpointValidator, type ValidationReport } from '../validation/contract.js';
import type { JobRegistry } from './jobs.js';
import { CLAIMING_PHASES, decide, LIVE_PHASES, type JobView, type Step, type TargetView, type View } from './phases.js';
import type { ReconcileResult } from './queue.js';
import { restarted, withPhase, withStages, withStall, withWaiting } from './status.js';

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

/** What the live guard answers for one look at Prometheus. */
export interface AnalysisOutcome {
  analysis: AnalysisStatus;
  action: 'Continue' | 'Rollback' | 'Hold' | 'Healthy';
  reason: string;
  message: string;
  requeueAfterMs: number;
}

export interface Analyzer {
  analyze(cp: ModelCheckpoint, now: Date, signal?: AbortSignal): Promise<AnalysisOutcome>;
}

/** Numbers the reconciler reports; the operator wires them to prom-client. */
export interface ReconcileObserver {
  transition?(from: Phase | undefined, to: Phase): void;
  deployed?(): void;
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
  /** The checkpoint cache (informer), to judge claim liveness and find production checkpoints. */
  cachedCheckpoint: (namespace: string, name: string) => ModelCheckpoint | undefined;
  /**
   * The checkpoint as the cache knows it, or as this operator last wrote it when the cache has
   * not caught up yet (read your own writes). Undefined: read it from the apiserver.
   */
  readCheckpoint?: (namespace: string, name: string) => ModelCheckpoint | undefined;
  /** Told about every object this reconciler wrote, for readCheckpoint. */
  noteWritten?: (cp: ModelCheckpoint) => void;
  /** Told about every Deployment this reconciler wrote, for cachedDeployment. */
  noteDeploymentWritten?: (facts: DeploymentFacts) => void;
  /**
   * The Deployment from the cache, or as this operator last wrote it until the watch catches up;
   * null when the synced cache holds no such Deployment, undefined when the cache cannot say.
   * Writes that depend on it carry its resourceVersion, so a stale read costs one 409 and a
   * fresh retry, never a wrong write.
   */
  cachedDeployment: (namespace: string, name: string) => DeploymentFacts | null | undefined;
  analyzer?: Analyzer;
  audit?: AuditLog;
  log: Logger;
  observer?: ReconcileObserver;
  now?: () => Date;
  /** How many deployed checkpoints the rollback history keeps. */
  rollbackHistory?: number;
  /** Test hook for the crash-between-patch-and-status fault test: called right after the Deployment patch. */
  afterDeploymentPatch?: () => void;
}

const keyOf = (cp: ModelCheckpoint): string => `${cp.metadata.namespace}/${cp.metadata.name}`;

export class Reconciler {
  private readonly now: () => Date;

  constructor(private readonly d: ReconcilerDeps) {
    this.now = d.now ?? (() => new Date());
  }

  /** Conflicts (someone wrote in between) are retried this often with a fresh read before backing off. */
  static readonly CONFLICT_RETRIES = 3;

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    for (let attempt = 0; ; attempt++) {
      // The first pass reads the cache; after a 409 the apiserver's current object.
      const cp = attempt === 0 ? (this.d.readCheckpoint?.(namespace, name) ?? (await this.d.checkpoints.get(namespace, name))) : await this.d.checkpoints.get(namespace, name);
      if (!cp) return; // deleted: the finalizer already cleaned up
      const target = cp.metadata.deletionTimestamp ? undefined : await this.readTarget(cp, attempt > 0);
      const view = this.view(cp, target);
      if (target && view.status.phase === 'Deployed' && view.target.exists && !view.target.rolledOut && view.target.runningUid === view.uid) {
        // The Deployment's revision annotation lags while others keep writing to it; the
        // ReplicaSet made for this checkpoint's template says the same thing sooner.
        const revision = await this.d.deployments.rolloutRevision(target, view.uid);
        if (revision) {
          view.target.rolledOut = true;
          target.revision = revision;
        }
      }
      const step = decide(view);
      this.d.log.debug('reconcile step', { namespace, name, phase: cp.status?.phase, step: step.kind, attempt });
      try {
        return await this.execute(cp, target, view, step);
      } catch (err) {
        // A conflict past the retries goes back to the queue, which backs off per key.
        if (!isConflict(err) || attempt + 1 >= Reconciler.CONFLICT_RETRIES) throw err;
      }
    }
  }

  /** The target from the cache on a first pass; after a conflict, from the apiserver. */
  private async readTarget(cp: ModelCheckpoint, fresh: boolean): Promise<DeploymentFacts | undefined> {
    const ns = cp.metadata.namespace as string;
    // null: the synced cache knows it is absent, so a stalled checkpoint costs no GET; the
    // watch brings it back when the Deployment appears.
    const cached = fresh ? undefined : this.d.cachedDeployment(ns, cp.spec.target.deployment);
    if (cached === null) return undefined;
    return cached ?? (await this.d.deployments.read(ns, cp.spec.target.deployment));
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
        rolledBackFromUid: facts.annotations[ANNOTATIONS.rolledBackFrom] || undefined,
        claimUid: holder,
        claimLive: holder !== undefined && this.claimIsLive(cp.metadata.namespace as string, facts, holder),
        // Rolled out once the Deployment controller stamped a revision other than the one the
        // Deployment had when it was patched (annotation writers keep bumping its generation, so
        // observedGeneration may never catch up), or has observed the latest generation.
        rolledOut: facts.revision !== undefined && ((cp.status?.deployment?.revision !== undefined && facts.revision !== cp.status.deployment.revision) || facts.observedGeneration >= facts.generation),
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
      productionDigest: cp.status?.validatedAgainst ? (cp.status.validatedAgainst.digest ?? '') : undefined,
    };
  }

  /** A claim is live while its holder exists and is on its way to (or in) production. */
  private claimIsLive(namespace: string, facts: DeploymentFacts, holderUid: string): boolean {
    const value = facts.annotations[ANNOTATIONS.claim] ?? '';
    const holderName = value.slice(0, value.lastIndexOf('/'));
    const holder = this.d.cachedCheckpoint(namespace, holderName);
    if (!holder || holder.metadata.uid !== holderUid || holder.metadata.deletionTimestamp) return false;
    return CLAIMING_PHASES.has(holder.status?.phase ?? 'Pending');
  }

  private async execute(cp: ModelCheckpoint, facts: DeploymentFacts | undefined, v: View, step: Step): Promise<ReconcileResult> {
    const now = this.now().toISOString();
    const gen = v.generation;
    const status = cp.status ?? {};
    switch (step.kind) {
      case 'Finalize':
        return this.finalize(cp);
      case 'AddFinalizer': {
        // No separate Pending write: the next pass writes Fetching, or Pending with the reason
        // it stalls, one round trip sooner.
        this.written(await this.d.checkpoints.setFinalizer(cp, true));
        return { requeueAfterMs: 0 };
      }
      case 'Restart':
        this.d.jobs.cancel(v.uid);
        await this.writeStatus(cp, restarted(status, gen, step.message, now));
        this.event(cp, 'Normal', REASON.SpecChanged, 'Restart', step.message);
        return { requeueAfterMs: 0 };
      case 'Stall': {
        if (status.conditions?.find((c) => c.type === CONDITION.stalled && c.status === 'True' && c.reason === step.reason) && status.observedGeneration === gen) {
          return { requeueAfterMs: 60_000 };
        }
        await this.writeStatus(cp, withStall(status, status.phase ?? 'Pending', step.reason, step.message, gen, now));
        this.event(cp, 'Warning', step.reason, 'Wait', step.message);
        // The Deployment watch brings us back when the target appears; this is a safety net.
        return { requeueAfterMs: 60_000 };
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
        return this.transition(cp, facts, step.to, step.reason, step.message);
      case 'StartFetch':
        this.d.jobs.start(v.uid, 'fetch', gen, (signal) => this.d.validator.fetch(cp.spec.artifact, signal));
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
          const fetched = await this.d.validator.fetch(cp.spec.artifact, signal);
          return this.d.validator.validate({ key: keyOf(cp), generation: gen, candidate: cp.spec.artifact, training: cp.spec.training, spec: cp.spec.validation ?? {}, baseline }, fetched, signal);
        });
        return { requeueAfterMs: 30_000 };
      }
      case 'AwaitJob':
        return { requeueAfterMs: 30_000 };
      case 'RecordValidation':
        return this.recordValidation(cp, v);
      case 'ClaimAndDeploy':
        return facts ? this.claimAndDeploy(cp, v, facts) : { requeueAfterMs: 0 };
      case 'PatchDeployment':
        return facts ? this.patchDeployment(cp, v, facts) : { requeueAfterMs: 0 };
      case 'AwaitRollout':
        return { requeueAfterMs: 2_000 };
      case 'Analyze':
        return this.analyze(cp, v, facts);
      case 'Rollback':
        return this.rollback(cp, step.reason, step.message, step.to, facts);
      case 'Drift': {
        const c = status.conditions?.find((x) => x.type === CONDITION.ready);
        if (c?.reason !== REASON.Drift) {
          const conditions = setCondition(status.conditions, { type: CONDITION.ready, status: 'False', reason: REASON.Drift, message: step.message }, gen, now);
          await this.writeStatus(cp, { ...status, conditions });
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
    if (LIVE_PHASES.has(to) && facts) {
      status = {
        ...status,
        deployment: { ...(status.deployment ?? { deployedAt: now, deployment: facts.name }), revision: facts.revision, generation: facts.generation },
      };
      if (to === 'Deployed') {
        status.conditions = setCondition(status.conditions, { type: CONDITION.deployed, status: 'True', reason, message: `${message}; Deployment ${facts.name} revision ${facts.revision ?? 'pending'}` }, gen, now);
      }
    }
    if (to === 'Superseded' || to === 'RolledBack') {
      status.conditions = setCondition(status.conditions, { type: CONDITION.deployed, status: 'False', reason, message }, gen, now);
    }
    if (to === 'RolledBack') status.rolledBackGeneration = gen;
    if (from === 'Deploying' && to === 'Deployed') {
      // Also after a restart that found the patch already done: the audit trail misses no deploy.
      await this.d.audit?.record(cp.metadata.namespace as string, cp.spec.target.deployment, {
        action: 'deploy', checkpoint: cp.metadata.name, version: cp.spec.version, digest: cp.spec.artifact.digest, revision: facts?.revision,
        severity: cp.status?.severity, rollbackPoint: cp.status?.deployment?.rollbackPoint?.checkpoint, stages: cp.status?.stages?.map((s) => ({ stage: s.stage, verdict: s.verdict, summary: s.summary })),
      }).catch((err: unknown) => this.d.log.warn('audit record failed', { error: String(err) }));
    }
    await this.writeStatus(cp, status);
    this.d.observer?.transition?.(from, to);
    const warn = to === 'Failed' || to === 'Rejected' || to === 'RolledBack';
    this.event(cp, warn ? 'Warning' : 'Normal', reason, to, message);
    this.d.log.info(`phase ${from ?? 'none'} -> ${to}`, { namespace: cp.metadata.namespace, name: cp.metadata.name, phase: to, reason, message });
    if (to === 'Fetching') this.d.jobs.start(cp.metadata.uid as string, 'fetch', gen, (signal) => this.d.validator.fetch(cp.spec.artifact, signal));
    if (to === 'Validating') this.d.jobs.clear(cp.metadata.uid as string, 'fetch', gen);
    if (from && CLAIMING_PHASES.has(from) && !CLAIMING_PHASES.has(to)) await this.releaseClaim(cp, facts);
    if (to === 'Failed' || to === 'Rejected') await this.d.validator.cleanup(keyOf(cp)).catch(() => undefined);
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
    await this.d.checkpoints.applyOwnedConfigMap(cp, reportName, {
      'report.json': JSON.stringify({ checkpoint: keyOf(cp), generation: gen, validatedAt: now, validatedAgainst: cp.status?.validatedAgainst, ...report }, null, 2),
    }, { 'modelgate.io/checkpoint': cp.metadata.name as string });
    for (const s of report.stages) this.d.observer?.gate?.(s.stage, s.verdict, s.durationMs);
    let status = withStages(cp.status ?? {}, report.stages, gen, now);
    status = { ...status, severity: report.severity, reportConfigMap: reportName };
    const to: Phase = report.passed ? 'Validated' : 'Rejected';
    for (const s of report.stages) {
      if (s.verdict === 'Failed' || s.verdict === 'Error') this.event(cp, 'Warning', s.reason, `Gate:${s.stage}`, s.message);
    }
    const result = await this.transition({ ...cp, status }, undefined, to, report.reason, report.message);
    this.d.jobs.clear(uid, 'validate', gen);
    return result;
  }

  /** The checkpoint now serving the target, if the operator put it there. */
  private baselineFor(cp: ModelCheckpoint, facts: DeploymentFacts | undefined): BaselineRef | undefined {
    if (!facts) return undefined;
    const running = runningModel(facts, cp.spec.target.container, cp.spec.target.modelEnv);
    if (!running.uid || !running.checkpoint || running.uid === cp.metadata.uid) return undefined;
    const prod = this.d.cachedCheckpoint(cp.metadata.namespace as string, running.checkpoint);
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
      };
    }
    // The chain of older points comes from the checkpoint being replaced, which kept its own.
    const keep = Math.max(0, (this.d.rollbackHistory ?? 5) - 1);
    const prev = rollbackPoint ? this.d.cachedCheckpoint(ns, rollbackPoint.checkpoint) : undefined;
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
    const [, claimedNow] = await Promise.all([this.writeStatus(cp, status), claiming]);
    if (claimedNow) {
      this.wroteDeployment(claimedNow);
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
      this.wroteDeployment(await this.d.deployments.setClaim(fresh, claimValue(cp.metadata.name as string, v.uid)));
      return { requeueAfterMs: 0 };
    }
    const model: ModelRef = { checkpoint: cp.metadata.name as string, uid: v.uid, version: cp.spec.version, uri: cp.spec.artifact.uri, digest: cp.spec.artifact.digest };
    const patched = this.wroteDeployment(await this.d.deployments.applyModel(fresh, cp.spec.target.container, model, cp.spec.target.modelEnv));
    this.d.afterDeploymentPatch?.();
    this.d.observer?.deployed?.();
    return this.transition(cp, patched, 'Deployed', REASON.Deployed, `Deployment ${patched.name} now runs ${cp.spec.model} ${cp.spec.version} (${cp.spec.artifact.digest.slice(0, 19)}…)`);
  }

  private async analyze(cp: ModelCheckpoint, v: View, facts: DeploymentFacts | undefined): Promise<ReconcileResult> {
    if (!this.d.analyzer) return this.transition(cp, undefined, 'Healthy', REASON.Healthy, 'no analyzer configured');
    const out = await this.d.analyzer.analyze(cp, this.now());
    const now = this.now().toISOString();
    const status = cp.status ?? {};
    switch (out.action) {
      case 'Healthy':
        return this.transition(cp, undefined, 'Healthy', out.reason, out.message, { analysis: out.analysis });
      case 'Rollback':
        return this.rollback({ ...cp, status: { ...status, analysis: out.analysis } }, out.reason, out.message, undefined, facts);
      case 'Hold':
      case 'Continue': {
        const conditions = setCondition(status.conditions, {
          type: CONDITION.analysis,
          status: out.action === 'Hold' ? 'False' : 'Unknown',
          reason: out.reason,
          message: out.message,
        }, v.generation, now);
        if (JSON.stringify(status.analysis) !== JSON.stringify(out.analysis) || JSON.stringify(conditions) !== JSON.stringify(status.conditions)) {
          await this.writeStatus(cp, { ...status, analysis: out.analysis, conditions });
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
      point = { checkpoint: to, uid: older.metadata.uid, version: older.spec.version, digest: older.spec.artifact.digest, uri: older.spec.artifact.uri };
    }
    if (!point?.uid) {
      const now = this.now().toISOString();
      const msg = `${message}; but there is no rollback point (first checkpoint of this target): holding, the Deployment stays as it is`;
      const conditions = setCondition(cp.status?.conditions, { type: CONDITION.analysis, status: 'False', reason: REASON.NoRollbackPoint, message: msg }, gen, now);
      const current = await this.withoutRollbackRequest(cp);
      await this.writeStatus(current, { ...(cp.status ?? {}), conditions });
      this.event(cp, 'Warning', REASON.NoRollbackPoint, 'Hold', msg);
      return { requeueAfterMs: 60_000 };
    }
    const fresh = facts ?? (await this.d.deployments.read(ns, cp.spec.target.deployment));
    if (!fresh) return { requeueAfterMs: 0 };
    const model: ModelRef = { checkpoint: point.checkpoint, uid: point.uid, version: point.version, uri: point.uri, digest: point.digest };
    const patched = this.wroteDeployment(await this.d.deployments.applyModel(fresh, cp.spec.target.container, model, cp.spec.target.modelEnv, cp.metadata.uid));
    this.d.observer?.rolledBack?.(reason);
    await this.d.audit?.record(ns, fresh.name, {
      action: 'rollback', from: cp.metadata.name, fromVersion: cp.spec.version, to: point.checkpoint, toVersion: point.version, reason, message,
      measurements: cp.status?.analysis?.measurements?.slice(-5),
    }).catch((err: unknown) => this.d.log.warn('audit record failed', { error: String(err) }));
    const current = await this.withoutRollbackRequest(cp);
    const full = `${message}; Deployment ${patched.name} is back on ${point.checkpoint} (${point.version})`;
    return this.transition(current, patched, 'RolledBack', reason, full);
  }

  /** Clears a handled rollback request; keeps the in-memory status (the caller writes it next). */
  private async withoutRollbackRequest(cp: ModelCheckpoint): Promise<ModelCheckpoint> {
    if (!cp.metadata.annotations?.[ANNOTATIONS.rollbackRequest]) return cp;
    const updated = this.written(await this.d.checkpoints.clearAnnotation(cp, ANNOTATIONS.rollbackRequest));
    return { ...updated, status: cp.status };
  }

  /** Drops this checkpoint's claim if it still holds it (a compare-and-set on the annotation alone). */
  private async releaseClaim(cp: ModelCheckpoint, known?: DeploymentFacts): Promise<void> {
    const ns = cp.metadata.namespace as string;
    if (known && claimUid(known) !== cp.metadata.uid) return;
    const released = await this.d.deployments.releaseClaim(ns, cp.spec.target.deployment, claimValue(cp.metadata.name as string, cp.metadata.uid as string));
    if (released) this.wroteDeployment(released);
  }

  private wroteDeployment(facts: DeploymentFacts): DeploymentFacts {
    this.d.noteDeploymentWritten?.(facts);
    return facts;
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

  private async writeStatus(cp: ModelCheckpoint, status: ModelCheckpointStatus): Promise<ModelCheckpoint> {
    return this.written(await this.d.checkpoints.writeStatus(cp, status));
  }

  private written(cp: ModelCheckpoint): ModelCheckpoint {
    this.d.noteWritten?.(cp);
    return cp;
  }

  private event(cp: ModelCheckpoint, type: EventType, reason: string, action: string, note: string): void {
    this.d.events.emit({ apiVersion: API_VERSION, kind: KIND, namespace: cp.metadata.namespace as string, name: cp.metadata.name as string, uid: cp.metadata.uid }, type, reason, action, note);
  }
}

/** The rollback annotation: "true" for the recorded rollback point, a name for an older checkpoint. */
function rollbackRequestOf(cp: ModelCheckpoint): string | undefined {
  const v = cp.metadata.annotations?.[ANNOTATIONS.rollbackRequest]?.trim();
  return v && v !== 'false' ? v : undefined;
}

function failedJob(error: unknown, kind: string): JobView {
  if (error instanceof StageError) return { state: 'failed', reason: error.reason, message: error.message, terminal: error.terminal };
  const message = error instanceof Error ? error.message : String(error);
  return { state: 'failed', reason: kind === 'fetch' ? 'FetchFailed' : 'ValidationError', message, terminal: true };
}

