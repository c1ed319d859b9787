// Validation Jobs (spec.validation.runner: Job): the only module that creates, reads and deletes
// batch/v1 Jobs and reads their pods' logs. The decisions (the manifest, what a pod status means,
// whether a result belongs to this checkpoint) are src/validation/job-spec.ts's.
//
// Restart safety: the Job's name is fixed by checkpoint uid and generation, so a create that
// finds it already there (409) adopts the running Job instead of starting a second one.
import type { ValidationJobOverrides } from '../api/types.js';
import type { ValidationReport, ValidationRequest } from '../validation/contract.js';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { CONTAINER, JOB_STAGE, LABELS, buildValidationJob, jobName, jobState, mayStart, parseJobResult, unreachableFromPod, type CheckpointRef, type JobFacts, type JobTemplate } from '../validation/job-spec.js';
import { ApiError, isConflict, isNotFound, paths, type KubeClient } from './client.js';
import { SupervisedInformer } from './informer.js';

interface RawJob {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; ownerReferences?: Array<{ uid?: string }> };
  status?: { conditions?: JobFacts['conditions']; active?: number };
}

interface RawPod {
  metadata: { name: string; creationTimestamp?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    containerStatuses?: Array<{ name: string; state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; message?: string; exitCode?: number } } }>;
  };
}

export interface ValidationJobsOptions {
  template: JobTemplate;
  /** Running Jobs at once across the cluster and in one namespace (0: no cap). */
  maxJobs: number;
  maxJobsPerNamespace: number;
  /** How often a running Job's pod is looked at between Job events (default 5 s). */
  pollMs?: number;
  /** Resync period of the Job watch. */
  resyncMs?: number;
  onError?: (err: unknown, retryInMs: number) => void;
}

/** The Jobs this operator makes carry these labels; the watch and the caps see only them. */
const SELECTOR = `${LABELS.managedBy}=modelgate,${LABELS.component}=validation`;

export class ValidationJobs {
  /** Jobs a run() holds a slot for (job key -> namespace): counted before the watch shows them. */
  private readonly reserved = new Map<string, string>();
  private readonly waiters: Array<() => void> = [];
  /** run()s waiting for news of their Job (key -> wake-up). */
  private readonly watchers = new Map<string, () => void>();
  private readonly informer: SupervisedInformer<RawJob>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: ValidationJobsOptions,
  ) {
    // Watched, not polled: a Job's change wakes its run() at once, and the caps count the Jobs
    // that are running in the cluster, so a Job adopted after a restart or started by another
    // replica takes its slot once.
    this.informer = new SupervisedInformer<RawJob>(client, 'jobs', '/apis/batch/v1/jobs', { labelSelector: SELECTOR, resyncMs: opts.resyncMs, onError: opts.onError });
    for (const ev of ['add', 'update', 'delete', 'resync'] as const) {
      this.informer.on(ev, (j) => {
        this.watchers.get(`${j.metadata.namespace}/${j.metadata.name}`)?.();
        if (ev !== 'add' && finished(j)) this.wakeWaiters();
      });
    }
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  get synced(): boolean {
    return this.informer.isUp;
  }

  /**
   * Runs (or adopts) this generation's Job and answers its report. A failure is a StageError:
   * terminal ones (OOMKilled, DeadlineExceeded, image errors, a result for someone else) end the
   * checkpoint Failed; transient ones are retried by the controller, after the Job is deleted so
   * the retry creates a fresh one under the same name.
   */
  async run(cp: CheckpointRef, request: ValidationRequest, overrides: ValidationJobOverrides | undefined, signal: AbortSignal): Promise<ValidationReport> {
    const unreachable = unreachableFromPod(request);
    if (unreachable) throw new StageError(REASONS.ArtifactNotReachableFromJob, unreachable, true, JOB_STAGE);
    const name = jobName(cp.uid, cp.generation);
    const key = `${cp.namespace}/${name}`;
    await this.supersede(cp.namespace, cp.uid, cp.generation);
    await this.slot(key, cp.namespace, signal);
    try {
      let job = await this.client.find<RawJob>(paths.job(cp.namespace, name));
      if (!job) {
        try {
          job = await this.client.post<RawJob>(paths.jobs(cp.namespace), buildValidationJob(cp, request, this.opts.template, overrides));
        } catch (err) {
          if (!isConflict(err)) throw transient(err);
          job = await this.client.get<RawJob>(paths.job(cp.namespace, name));
        }
      }
      if (job.metadata.labels?.[LABELS.uid] !== cp.uid) {
        throw new StageError(REASONS.JobNameTaken, `a Job named ${name} in ${cp.namespace} exists but is not this checkpoint's: delete it`, true, JOB_STAGE);
      }
      return await this.follow(cp, request, job, signal);
    } catch (err) {
      if (err instanceof StageError) throw err;
      throw transient(err);
    } finally {
      this.release(key);
    }
  }

  /** Follows one Job to its end: woken by the watch, and every pollMs for its pod's state. */
  private async follow(cp: CheckpointRef, request: ValidationRequest, first: RawJob, signal: AbortSignal): Promise<ValidationReport> {
    const name = first.metadata.name;
    let job = first;
    for (;;) {
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const facts = await this.facts(cp.namespace, job);
      const s = jobState(facts);
      if (s.state === 'succeeded') {
        const log = await this.client.request<string>('GET', paths.podLog(cp.namespace, s.pod), { query: { container: CONTAINER, tailLines: 50 }, text: true, signal });
        return parseJobResult(log, { uid: cp.uid, generation: cp.generation, digest: request.candidate.digest });
      }
      if (s.state === 'failed') {
        // Transient: a fresh Job for the retry, under the same name. A pod stuck on its image
        // would otherwise sit until the deadline: stopped now. Any other failed Job stays (TTL) for a look.
        const stuck = facts.pod?.waiting !== undefined && facts.pod.terminated === undefined;
        if (!s.error.terminal || stuck) await this.delete(cp.namespace, name);
        throw s.error;
      }
      await this.news(`${cp.namespace}/${name}`, this.opts.pollMs ?? 5000, signal);
      const next = this.informer.isUp ? this.informer.get(name, cp.namespace) ?? (await this.client.find<RawJob>(paths.job(cp.namespace, name))) : await this.client.find<RawJob>(paths.job(cp.namespace, name));
      if (!next || next.metadata.uid !== job.metadata.uid) {
        throw new StageError(REASONS.JobDeleted, `the validation Job ${name} was deleted before it finished: it is run again`, false, JOB_STAGE);
      }
      job = next;
    }
  }

  /** Resolves on the next watch event of this Job, after ms, or rejects when aborted. */
  private news(key: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.watchers.get(key) === done) this.watchers.delete(key);
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.watchers.set(key, () => {
        done();
        resolve();
      });
    });
  }

  /**
   * Deletes this checkpoint's Jobs of other generations: a spec change makes the old run moot,
   * and it should not hold a slot or a node until its deadline.
   */
  async supersede(namespace: string, uid: string, generation: number): Promise<void> {
    const stale = this.informer.isUp
      ? this.informer.list(namespace).filter((j) => j.metadata.labels?.[LABELS.uid] === uid && j.metadata.labels?.[LABELS.generation] !== String(generation))
      : [];
    for (const j of stale) await this.delete(namespace, j.metadata.name);
  }

  /** Deletes this generation's Job and its pod (a superseded generation, a transient failure). */
  async delete(namespace: string, name: string): Promise<void> {
    try {
      await this.client.request('DELETE', paths.job(namespace, name), { query: { propagationPolicy: 'Background' } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async facts(namespace: string, job: RawJob): Promise<JobFacts> {
    const uid = job.metadata.uid;
    const pods = uid ? await this.client.request<{ items: RawPod[] }>('GET', paths.pods(namespace), { query: { labelSelector: `batch.kubernetes.io/controller-uid=${uid}` } }) : { items: [] };
    const pod = pods.items.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '')).at(-1);
    const cs = pod?.status?.containerStatuses?.find((c) => c.name === CONTAINER);
    return {
      conditions: job.status?.conditions ?? [],
      ...(pod ? { pod: { name: pod.metadata.name, phase: pod.status?.phase, reason: pod.status?.reason, message: pod.status?.message, waiting: cs?.state?.waiting, terminated: cs?.state?.terminated } } : {}),
    };
  }

  /** Running Jobs by key: those this process holds slots for, and unfinished ones the watch sees. */
  private runningJobs(): Map<string, string> {
    const all = new Map(this.reserved);
    if (this.informer.isUp) for (const j of this.informer.list()) if (!finished(j)) all.set(`${j.metadata.namespace}/${j.metadata.name}`, j.metadata.namespace ?? '');
    return all;
  }

  /** Waits for room under the caps, counting every running validation Job in the cluster. */
  private async slot(key: string, namespace: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      const running = this.runningJobs();
      // Its own Job (adopted after a restart) already holds its place.
      if (this.reserved.has(key) || running.has(key)) {
        this.reserved.set(key, namespace);
        return;
      }
      const inNamespace = [...running.values()].filter((n) => n === namespace).length;
      if (mayStart({ total: running.size, inNamespace }, { total: this.opts.maxJobs, perNamespace: this.opts.maxJobsPerNamespace })) {
        this.reserved.set(key, namespace);
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        // Woken when a slot frees here or a Job finishes anywhere; a timer as a safety net.
        const timer = setTimeout(() => wake(), 10_000);
        const wake = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiters.push(wake);
      });
    }
  }

  private release(key: string): void {
    if (this.reserved.delete(key)) this.wakeWaiters();
  }

  private wakeWaiters(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Validation Jobs running now: this operator's and any other the watch sees. */
  get active(): number {
    return this.runningJobs().size;
  }
}

function finished(j: RawJob): boolean {
  return (j.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

function transient(err: unknown): StageError {
  const message = err instanceof Error ? err.message : String(err);
  const status = err instanceof ApiError ? err.status : 0;
  // 403/422: the operator's RBAC or the Job it built is wrong; the same spec fails again.
  const terminal = status === 403 || status === 422 || status === 400;
  return new StageError(terminal ? 'JobRejected' : 'JobApiError', `validation Job: ${message}`, terminal, JOB_STAGE);
}

