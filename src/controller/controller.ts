// Wires informers to the work queue and the queue to the reconciler. Events only enqueue keys:
// a checkpoint event its own key, a Deployment event the keys of the checkpoints that target it,
// an analysis template event the keys of the checkpoints that reference it.
import { CLUSTER_TEMPLATE_KIND, TEMPLATE_KIND, type AnalysisTemplate, type ModelCheckpoint, type ValidationRunner } from '../api/types.js';
import type { KubeClient } from '../kube/client.js';
import { paths } from '../kube/client.js';
import { Checkpoints } from '../kube/checkpoints.js';
import { CheckpointCache, DeploymentCache } from '../kube/cache.js';
import { Deployments } from '../kube/deployments.js';
import { EventRecorder } from '../kube/events.js';
import { SupervisedInformer } from '../kube/informer.js';
import { AnalysisTemplates } from '../kube/templates.js';
import { refKey, templateKey, templateRefs } from '../monitor/templates.js';
import type { CheckpointValidator } from '../validation/contract.js';
import { inReconcile, withReconcileFields } from './context.js';
import { JobRegistry } from './jobs.js';
import { runWorkers, WorkQueue } from './queue.js';
import type { RetryPolicy } from './phases.js';
import type { Analyzer } from '../monitor/guard.js';
import type { AuditLog, Logger, ReconcileObserver, ValidationJobRunner } from './deps.js';
import { Reconciler } from './reconciler.js';
import { digestsToKeep } from '../validation/cache-budget.js';

interface KObj {
  metadata?: { name?: string; namespace?: string; uid?: string };
}

export interface ControllerOptions {
  client: KubeClient;
  validator: CheckpointValidator;
  analyzer?: Analyzer;
  audit?: AuditLog;
  log: Logger;
  observer?: ReconcileObserver;
  workers?: number;
  identity?: string;
  resyncMs?: number;
  onInformerUp?: (resource: string, up: boolean) => void;
  onQueueDepth?: (depth: number) => void;
  onQueueWait?: (seconds: number) => void;
  onReconcile?: (result: 'success' | 'requeue' | 'error', seconds: number) => void;
  afterDeploymentPatch?: () => void;
  rollbackHistory?: number;
  /** How transient failures of fetch and validation are retried. */
  retryPolicy?: RetryPolicy;
  /** Deadline of one reconcile (ms); past it the reconcile is aborted and retried with backoff. Default 30 s. */
  reconcileDeadlineMs?: number;
  /** How long a reconcile waits for work it started before writing that it runs (ReconcilerDeps.foldWaitMs). */
  foldWaitMs?: number;
  /** Validation as Kubernetes Jobs (spec.validation.runner: Job) and the runner of checkpoints that name none. */
  validationJobs?: ValidationJobRunner;
  defaultRunner?: ValidationRunner;
}

/** Phases a checkpoint passes through on its own; one that stays long in them is stuck. */
const TRANSIENT_PHASES: ReadonlySet<string> = new Set(['Pending', 'Fetching', 'Validating', 'Validated', 'Deploying', 'Deployed']);

export class Controller {
  readonly queue: WorkQueue;
  readonly checkpointInformer: SupervisedInformer<ModelCheckpoint & KObj>;
  readonly deploymentInformer: SupervisedInformer<KObj>;
  readonly templateInformer: SupervisedInformer<AnalysisTemplate>;
  readonly clusterTemplateInformer: SupervisedInformer<AnalysisTemplate>;
  readonly jobs: JobRegistry;
  private readonly reconciler: Reconciler;
  /** `<ns>/<deployment>` → keys of the checkpoints that target it. */
  private readonly byTarget = new Map<string, Set<string>>();
  private readonly targetOf = new Map<string, string>();
  /** Template key (monitor/templates.ts templateKey) → keys of the checkpoints that reference it. */
  private readonly byTemplate = new Map<string, Set<string>>();
  private readonly templatesOf = new Map<string, string[]>();
  private workersDone?: Promise<void>;
  /** Aborted by stop(): running reconciles (their Prometheus queries) end at once. */
  private readonly stopping = new AbortController();
  /** Checkpoint uid -> namespace/name, from the cache: a finished job's uid finds its key at once. */
  private readonly keyByUid = new Map<string, string>();
  /** The informer caches with this operator's own writes on top (read your own writes). */
  private readonly checkpointCache: CheckpointCache;
  private readonly deploymentCache: DeploymentCache;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue({ onDepth: o.onQueueDepth, onWait: o.onQueueWait });
    this.jobs = new JobRegistry((uid) => this.enqueueUid(uid));
    const informer = <T extends KObj>(resource: string, path: string): SupervisedInformer<T> => new SupervisedInformer<T>(o.client, resource, path, {
      resyncMs: o.resyncMs,
      onUp: (isUp) => o.onInformerUp?.(resource, isUp),
      onError: (err, retryInMs) => o.log.warn('informer stopped; restarting', { resource, error: err instanceof Error ? err.message : String(err), retryInMs }),
    });
    this.checkpointInformer = informer('modelcheckpoints', paths.checkpoints());
    this.deploymentInformer = informer('deployments', paths.deployments());
    this.templateInformer = informer('modelanalysistemplates', paths.analysisTemplates());
    this.clusterTemplateInformer = informer('clustermodelanalysistemplates', paths.clusterAnalysisTemplates());

    // First, so a delivered write of ours is known before the key is queued.
    this.checkpointCache = new CheckpointCache(this.checkpointInformer);
    this.deploymentCache = new DeploymentCache(this.deploymentInformer);
    this.watchEvents();
    this.reconciler = this.reconcilerFor(o);
  }

  /** Informer events queue the checkpoints they concern (a Deployment's or a template's wake those that use it). */
  private watchEvents(): void {
    const onCheckpoint = (cp: ModelCheckpoint & KObj): void => {
      const key = `${cp.metadata.namespace}/${cp.metadata.name}`;
      this.index(key, `${cp.metadata.namespace}/${cp.spec?.target?.deployment}`);
      this.indexTemplates(key, templateRefs(cp.spec?.analysis).map((ref) => refKey(ref, cp.metadata.namespace as string)));
      if (cp.metadata.uid) this.keyByUid.set(cp.metadata.uid, key);
      this.queue.add(key);
    };
    this.checkpointInformer.on('add', onCheckpoint);
    this.checkpointInformer.on('update', onCheckpoint);
    this.checkpointInformer.on('resync', onCheckpoint);
    this.checkpointInformer.on('delete', (cp) => {
      const key = `${cp.metadata.namespace}/${cp.metadata.name}`;
      this.index(key, undefined);
      this.indexTemplates(key, []);
      if (cp.metadata.uid) {
        this.jobs.cancel(cp.metadata.uid);
        this.keyByUid.delete(cp.metadata.uid);
      }
      this.queue.add(key);
    });
    const onDeployment = (d: KObj): void => {
      for (const key of this.byTarget.get(`${d.metadata?.namespace}/${d.metadata?.name}`) ?? []) this.queue.nudge(key);
    };
    for (const ev of ['add', 'update', 'delete', 'resync'] as const) this.deploymentInformer.on(ev, onDeployment);
    // A template that appears or changes wakes the checkpoints waiting for it (a running analysis
    // reads its recorded copy, so for those the wake-up changes nothing).
    const onTemplate = (kind: AnalysisTemplate['kind']) => (t: AnalysisTemplate): void => {
      for (const key of this.byTemplate.get(templateKey(kind, t.metadata?.name ?? '', t.metadata?.namespace)) ?? []) this.queue.nudge(key);
    };
    for (const ev of ['add', 'update', 'delete', 'resync'] as const) {
      this.templateInformer.on(ev, onTemplate(TEMPLATE_KIND));
      this.clusterTemplateInformer.on(ev, onTemplate(CLUSTER_TEMPLATE_KIND));
    }
  }

  private reconcilerFor(o: ControllerOptions): Reconciler {
    const templates = new AnalysisTemplates(o.client);

    const client = o.client;
    return new Reconciler({
      checkpoints: new Checkpoints(client, this.checkpointCache),
      deployments: new Deployments(client, this.deploymentCache),
      events: new EventRecorder(client, 'modelgate.io/operator', o.identity ?? 'modelgate', (err) => o.log.warn('event not written', { error: String(err) })),
      validator: o.validator,
      jobs: this.jobs,
      ...(o.validationJobs ? { validationJobs: o.validationJobs } : {}),
      ...(o.defaultRunner ? { defaultRunner: o.defaultRunner } : {}),
      checkpointCache: this.checkpointCache,
      deploymentCache: this.deploymentCache,
      analyzer: o.analyzer,
      templates: {
        // The synced cache is the answer (absent means absent); before it syncs, the apiserver.
        read: async (ref, ns) => {
          const informer = ref.clusterScope ? this.clusterTemplateInformer : this.templateInformer;
          if (informer.isUp) return informer.get(ref.name, ref.clusterScope ? undefined : ns);
          return templates.get(ref, ns);
        },
      },
      audit: o.audit,
      log: withReconcileFields(o.log),
      observer: o.observer,
      afterDeploymentPatch: o.afterDeploymentPatch,
      rollbackHistory: o.rollbackHistory,
      retryPolicy: o.retryPolicy,
      ...(o.foldWaitMs !== undefined ? { foldWaitMs: o.foldWaitMs } : {}),
    });
  }

  private index(key: string, target: string | undefined): void {
    const old = this.targetOf.get(key);
    if (old === target) return;
    if (old) this.byTarget.get(old)?.delete(key);
    if (target) {
      this.targetOf.set(key, target);
      let set = this.byTarget.get(target);
      if (!set) this.byTarget.set(target, (set = new Set()));
      set.add(key);
    } else this.targetOf.delete(key);
  }

  private indexTemplates(key: string, refs: string[]): void {
    const old = this.templatesOf.get(key) ?? [];
    if (old.length === refs.length && old.every((r, i) => r === refs[i])) return;
    for (const r of old) {
      const set = this.byTemplate.get(r);
      set?.delete(key);
      if (set?.size === 0) this.byTemplate.delete(r);
    }
    for (const r of refs) {
      let set = this.byTemplate.get(r);
      if (!set) this.byTemplate.set(r, (set = new Set()));
      set.add(key);
    }
    if (refs.length > 0) this.templatesOf.set(key, refs);
    else this.templatesOf.delete(key);
  }

  /** A background job (fetch, validation) finished: its checkpoint is reconciled next. */
  private enqueueUid(uid: string): void {
    const key = this.keyByUid.get(uid);
    if (key) this.queue.add(key);
  }

  /** The artifacts the download cache must keep (rollback points, production), from the cache. */
  keptDigests(): Set<string> {
    return digestsToKeep(this.checkpointInformer.list());
  }

  /** Phase counts from the cache, for the checkpoints-by-phase gauge. */
  phaseCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const cp of this.checkpointInformer.list()) {
      const p = cp.status?.phase ?? 'Pending';
      counts[p] = (counts[p] ?? 0) + 1;
    }
    return counts;
  }

  /**
   * For each checkpoint in a phase that should pass (not Healthy, Monitoring or a terminal one):
   * the phase and when it entered it (the last history entry for that phase).
   */
  phaseAges(): Array<{ namespace: string; name: string; phase: string; since: string }> {
    const out: Array<{ namespace: string; name: string; phase: string; since: string }> = [];
    for (const cp of this.checkpointInformer.list()) {
      const phase = cp.status?.phase ?? 'Pending';
      if (!TRANSIENT_PHASES.has(phase)) continue;
      const entered = [...(cp.status?.history ?? [])].reverse().find((h) => h.phase === phase)?.time ?? cp.metadata.creationTimestamp;
      if (entered) out.push({ namespace: cp.metadata.namespace ?? '', name: cp.metadata.name ?? '', phase, since: entered });
    }
    return out;
  }

  get synced(): boolean {
    return this.checkpointInformer.isUp && this.deploymentInformer.isUp && this.templateInformer.isUp && this.clusterTemplateInformer.isUp && (this.o.validationJobs?.synced ?? true);
  }

  /** Starts the informers (waits for their first list), then the workers. */
  async start(): Promise<void> {
    await Promise.all([this.deploymentInformer.start(), this.templateInformer.start(), this.clusterTemplateInformer.start(), this.o.validationJobs?.start?.(), this.checkpointInformer.start()]);
    const workers = this.o.workers ?? 4;
    this.workersDone = runWorkers(this.queue, workers, (key, signal) => this.reconcileOne(key, signal), (key, err, retryInMs) => {
      this.o.log.error('reconcile failed; retrying', { key, error: err instanceof Error ? err.message : String(err), retryInMs, retries: this.queue.retries(key) });
    }, {
      deadlineMs: this.o.reconcileDeadlineMs ?? 30_000,
      stop: this.stopping.signal,
      onDeadline: (key, deadlineMs, retryInMs) => {
        this.o.onReconcile?.('error', deadlineMs / 1000);
        this.o.log.warn('reconcile passed its deadline: aborted its queries, the worker moves on; retrying', { key, deadlineMs, retryInMs, retries: this.queue.retries(key) });
      },
    });
  }

  private async reconcileOne(key: string, signal: AbortSignal): Promise<{ requeueAfterMs?: number } | void> {
    const started = performance.now();
    try {
      const r = await inReconcile(key, () => this.reconciler.reconcile(key, signal));
      this.o.onReconcile?.(r && r.requeueAfterMs !== undefined ? 'requeue' : 'success', (performance.now() - started) / 1000);
      return r;
    } catch (err) {
      this.o.onReconcile?.('error', (performance.now() - started) / 1000);
      throw err;
    }
  }

  /** Stops taking work, waits for running reconciles, aborts background jobs. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the operator is stopping'));
    this.queue.shutdown();
    this.jobs.cancelAll();
    await this.workersDone;
    await Promise.all([this.checkpointInformer.stop(), this.deploymentInformer.stop(), this.templateInformer.stop(), this.clusterTemplateInformer.stop(), this.o.validationJobs?.stop?.()]);
  }
}
