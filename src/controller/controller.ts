// Wires informers to the work queue and the queue to the reconciler. Events only enqueue keys:
// a checkpoint event its own key, a Deployment event the keys of the checkpoints that target it.
import type { ModelCheckpoint } from '../api/types.js';
import type { KubeClient } from '../kube/client.js';
import { paths } from '../kube/client.js';
import { Checkpoints } from '../kube/checkpoints.js';
import { Deployments, factsOf, type DeploymentFacts } from '../kube/deployments.js';
import { EventRecorder } from '../kube/events.js';
import { SupervisedInformer } from '../kube/informer.js';
import type { CheckpointValidator } from '../validation/contract.js';
import { inReconcile, withReconcileFields } from './context.js';
import { JobRegistry } from './jobs.js';
import { runWorkers, WorkQueue } from './queue.js';
import { Reconciler, type Analyzer, type AuditLog, type Logger, type ReconcileObserver } from './reconciler.js';

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
  onReconcile?: (result: 'success' | 'requeue' | 'error', seconds: number) => void;
  afterDeploymentPatch?: () => void;
  rollbackHistory?: number;
}

export class Controller {
  readonly queue: WorkQueue;
  readonly checkpointInformer: SupervisedInformer<ModelCheckpoint & KObj>;
  readonly deploymentInformer: SupervisedInformer<KObj>;
  readonly jobs: JobRegistry;
  private readonly reconciler: Reconciler;
  /** `<ns>/<deployment>` → keys of the checkpoints that target it. */
  private readonly byTarget = new Map<string, Set<string>>();
  private readonly targetOf = new Map<string, string>();
  private workersDone?: Promise<void>;
  /** Objects this operator wrote that the informer has not delivered yet (read your own writes). */
  private readonly written = new Map<string, { cp: ModelCheckpoint; at: number }>();
  private readonly writtenDeployments = new Map<string, { facts: DeploymentFacts; at: number }>();

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue({ onDepth: o.onQueueDepth });
    this.jobs = new JobRegistry((uid) => this.enqueueUid(uid));
    const up = (resource: string) => (isUp: boolean) => o.onInformerUp?.(resource, isUp);
    const informerError = (resource: string) => (err: unknown, retryInMs: number) =>
      o.log.warn('informer stopped; restarting', { resource, error: err instanceof Error ? err.message : String(err), retryInMs });
    this.checkpointInformer = new SupervisedInformer(o.client, 'modelcheckpoints', paths.checkpoints(), { resyncMs: o.resyncMs, onUp: up('modelcheckpoints'), onError: informerError('modelcheckpoints') });
    this.deploymentInformer = new SupervisedInformer(o.client, 'deployments', paths.deployments(), { resyncMs: o.resyncMs, onUp: up('deployments'), onError: informerError('deployments') });

    const onCheckpoint = (cp: ModelCheckpoint & KObj): void => {
      const key = `${cp.metadata.namespace}/${cp.metadata.name}`;
      // The watch delivers in resourceVersion order: once our write arrives, the cache is as new.
      if (this.written.get(key)?.cp.metadata.resourceVersion === cp.metadata.resourceVersion) this.written.delete(key);
      this.index(key, `${cp.metadata.namespace}/${cp.spec?.target?.deployment}`);
      this.queue.add(key);
    };
    this.checkpointInformer.on('add', onCheckpoint);
    this.checkpointInformer.on('update', onCheckpoint);
    this.checkpointInformer.on('resync', onCheckpoint);
    this.checkpointInformer.on('delete', (cp) => {
      const key = `${cp.metadata.namespace}/${cp.metadata.name}`;
      this.written.delete(key);
      this.index(key, undefined);
      if (cp.metadata.uid) this.jobs.cancel(cp.metadata.uid);
      this.queue.add(key);
    });
    const onDeployment = (d: KObj & { metadata?: { resourceVersion?: string } }): void => {
      const dkey = `${d.metadata?.namespace}/${d.metadata?.name}`;
      if (this.writtenDeployments.get(dkey)?.facts.resourceVersion === d.metadata?.resourceVersion) this.writtenDeployments.delete(dkey);
      for (const key of this.byTarget.get(`${d.metadata?.namespace}/${d.metadata?.name}`) ?? []) this.queue.add(key);
    };
    for (const ev of ['add', 'update', 'delete', 'resync'] as const) this.deploymentInformer.on(ev, onDeployment);

    const client = o.client;
    this.reconciler = new Reconciler({
      checkpoints: new Checkpoints(client),
      deployments: new Deployments(client),
      events: new EventRecorder(client, 'modelgate.io/operator', o.identity ?? 'modelgate', (err) => o.log.warn('event not written', { error: String(err) })),
      validator: o.validator,
      jobs: this.jobs,
      cachedCheckpoint: (ns, name) => this.checkpointInformer.get(name, ns),
      readCheckpoint: (ns, name) => {
        const key = `${ns}/${name}`;
        const cached = this.checkpointInformer.isUp ? this.checkpointInformer.get(name, ns) : undefined;
        const mine = this.written.get(key);
        if (mine && Date.now() - mine.at < 5_000 && cached?.metadata.resourceVersion !== mine.cp.metadata.resourceVersion) return mine.cp;
        this.written.delete(key);
        return cached;
      },
      noteWritten: (cp) => {
        // The watch may deliver our write before the write's own response arrives: then the
        // cache is already as new, and anything after it is newer still.
        const cached = this.checkpointInformer.get(cp.metadata.name as string, cp.metadata.namespace);
        if (cached?.metadata.resourceVersion === cp.metadata.resourceVersion) return;
        this.written.set(`${cp.metadata.namespace}/${cp.metadata.name}`, { cp, at: Date.now() });
      },
      cachedDeployment: (ns, name): DeploymentFacts | null | undefined => {
        const key = `${ns}/${name}`;
        const d = this.deploymentInformer.isUp ? this.deploymentInformer.get(name, ns) : undefined;
        const mine = this.writtenDeployments.get(key);
        if (mine && Date.now() - mine.at < 5_000 && (d as KObj & { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion !== mine.facts.resourceVersion) return mine.facts;
        this.writtenDeployments.delete(key);
        // A synced informer that does not hold it is an answer: the Deployment is absent.
        if (!d) return this.deploymentInformer.isUp ? null : undefined;
        return factsOf(d);
      },
      noteDeploymentWritten: (facts) => {
        const d = this.deploymentInformer.get(facts.name, facts.namespace) as (KObj & { metadata?: { resourceVersion?: string } }) | undefined;
        if (d?.metadata?.resourceVersion === facts.resourceVersion) return;
        this.writtenDeployments.set(`${facts.namespace}/${facts.name}`, { facts, at: Date.now() });
      },
      analyzer: o.analyzer,
      audit: o.audit,
      log: withReconcileFields(o.log),
      observer: o.observer,
      afterDeploymentPatch: o.afterDeploymentPatch,
      rollbackHistory: o.rollbackHistory,
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

  private enqueueUid(uid: string): void {
    for (const cp of this.checkpointInformer.list()) {
      if (cp.metadata.uid === uid) this.queue.add(`${cp.metadata.namespace}/${cp.metadata.name}`);
    }
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

  get synced(): boolean {
    return this.checkpointInformer.isUp && this.deploymentInformer.isUp;
  }

  /** Starts the informers (waits for their first list), then the workers. */
  async start(): Promise<void> {
    await Promise.all([this.deploymentInformer.start(), this.checkpointInformer.start()]);
    const workers = this.o.workers ?? 4;
    this.workersDone = runWorkers(this.queue, workers, (key) => this.reconcileOne(key), (key, err, retryInMs) => {
      this.o.log.error('reconcile failed; retrying', { key, error: err instanceof Error ? err.message : String(err), retryInMs, retries: this.queue.retries(key) });
    });
  }

  private async reconcileOne(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const started = performance.now();
    try {
      const r = await inReconcile(key, () => this.reconciler.reconcile(key));
      this.o.onReconcile?.(r && r.requeueAfterMs !== undefined ? 'requeue' : 'success', (performance.now() - started) / 1000);
      return r;
    } catch (err) {
      this.o.onReconcile?.('error', (performance.now() - started) / 1000);
      throw err;
    }
  }

  /** Stops taking work, waits for running reconciles, aborts background jobs. */
  async stop(): Promise<void> {
    this.queue.shutdown();
    this.jobs.cancelAll();
    await this.workersDone;
    await Promise.all([this.checkpointInformer.stop(), this.deploymentInformer.stop()]);
  }
}
