// Validation Jobs (spec.validation.runner: Job): the only module that creates, reads and deletes
// batch/v1 Jobs and reads their pods' logs. The decisions (the manifest, what a pod status means,
// whether a result belongs to this checkpoint) are src/validation/job-spec.ts's.
//
// Restart safety: the Job's name is fixed by checkpoint uid and generation, so a create that
// finds it already there (409) adopts the running Job instead of starting a second one.
import type { ValidationJobOverrides } from '../api/types.js';
import type { ValidationReport, ValidationRequest } from '../validation/contract.js';
import { StageError } from '../validation/contract.js';
import { sleep } from '../validation/fetch.js';
import { CONTAINER, JOB_STAGE, buildValidationJob, jobName, jobState, mayStart, parseJobResult, type CheckpointRef, type JobFacts, type JobTemplate } from '../validation/job-spec.js';
import { ApiError, isConflict, isNotFound, paths, type KubeClient } from './client.js';

interface RawJob {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; ownerReferences?: Array<{ uid?: string }> };
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
  /** How often a running Job is looked at (default 2 s). */
  pollMs?: number;
}

export class ValidationJobs {
  private readonly running = new Map<string, string>(); // job key -> namespace
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly client: KubeClient,
    private readonly opts: ValidationJobsOptions,
  ) {}

  /**
   * Runs (or adopts) this generation's Job and answers its report. A failure is a StageError:
   * terminal ones (OOMKilled, DeadlineExceeded, image errors, a result for someone else) end the
   * checkpoint Failed; transient ones are retried by the controller, after the Job is deleted so
   * the retry creates a fresh one under the same name.
   */
  async run(cp: CheckpointRef, request: ValidationRequest, overrides: ValidationJobOverrides | undefined, signal: AbortSignal): Promise<ValidationReport> {
    const name = jobName(cp.uid, cp.generation);
    const key = `${cp.namespace}/${name}`;
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
      if (job.metadata.labels?.['modelgate.io/checkpoint-uid'] !== cp.uid) {
        throw new StageError('JobNameTaken', `a Job named ${name} in ${cp.namespace} exists but is not this checkpoint's: delete it`, true, JOB_STAGE);
      }
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
        await sleep(this.opts.pollMs ?? 2000, signal);
        const next = await this.client.find<RawJob>(paths.job(cp.namespace, name));
        if (!next || next.metadata.uid !== job.metadata.uid) {
          throw new StageError('JobDeleted', `the validation Job ${name} was deleted before it finished: it is run again`, false, JOB_STAGE);
        }
        job = next;
      }
    } catch (err) {
      if (err instanceof StageError) throw err;
      throw transient(err);
    } finally {
      this.release(key);
    }
  }

  /** Deletes this generation's Job and its pod (a superseded generation, a deleted checkpoint). */
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

  /** Waits for room under the caps; Jobs adopted after a restart take a slot like new ones. */
  private async slot(key: string, namespace: string, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (this.running.has(key)) return;
      const inNamespace = [...this.running.values()].filter((n) => n === namespace).length;
      if (mayStart({ total: this.running.size, inNamespace }, { total: this.opts.maxJobs, perNamespace: this.opts.maxJobsPerNamespace })) {
        this.running.set(key, namespace);
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  private release(key: string): void {
    if (!this.running.delete(key)) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Jobs this operator is running or watching now. */
  get active(): number {
    return this.running.size;
  }
}

function transient(err: unknown): StageError {
  const message = err instanceof Error ? err.message : String(err);
  const status = err instanceof ApiError ? err.status : 0;
  // 403/422: the operator's RBAC or the Job it built is wrong; the same spec fails again.
  const terminal = status === 403 || status === 422 || status === 400;
  return new StageError(terminal ? 'JobRejected' : 'JobApiError', `validation Job: ${message}`, terminal, JOB_STAGE);
}

