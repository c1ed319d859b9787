// One job sent to one worker and watched until it settles: the reply, the worker's death, the
// deadline, the memory cap, the caller's abort, a send that fails. Whichever comes first settles
// the job and stops the others; the deadline, the cap and the abort kill the worker. The queue
// of workers is the pool's (worker-pool.ts).
import { StageError } from './contract.js';
import { REASONS } from '../api/reasons.js';
import { decodeResult } from './worker-protocol.js';
import type { BenchmarkResult, RunOptions, WorkerJob, WorkerReply, WorkerRequest } from './worker-protocol.js';
import { readProcMemory } from './worker-process.js';
import type { Slot } from './worker-process.js';

type Stage = NonNullable<RunOptions['stage']>;

export interface Dispatch {
  slot: Slot;
  request: WorkerRequest;
  stage: Stage;
  timeoutMs: number;
  memoryMiB: number;
  memoryPollMs: number;
  signal?: AbortSignal;
  /** Take the slot out of the pool: its worker died or is being killed. */
  forget: () => void;
}

/** Send the job and settle with its decoded result, or reject with the StageError that ended it. */
export function dispatchJob(d: Dispatch): Promise<unknown> {
  d.slot.peakKiB = 0;
  d.slot.log = [];
  return new Promise((resolve, reject) => new JobWatch(d, resolve, reject).start());
}

/** The watchers of one dispatched job; the first to fire settles it. */
class JobWatch {
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  private poll: NodeJS.Timeout | undefined;
  private readonly job: WorkerJob;

  constructor(
    private readonly d: Dispatch,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.job = d.request.job;
  }

  start(): void {
    const child = this.d.slot.child;
    this.timer = setTimeout(this.onTimeout, this.d.timeoutMs);
    this.poll = setInterval(this.onPoll, this.d.memoryPollMs);
    this.poll.unref();
    child.on('message', this.onMessage);
    child.once('exit', this.onExit);
    this.d.signal?.addEventListener('abort', this.onAbort, { once: true });
    child.send(this.d.request, this.onSent);
  }

  /** Settle once: stop every watcher, then resolve or reject. */
  private finish(fn: () => void): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    clearInterval(this.poll);
    this.d.slot.child.off('message', this.onMessage);
    this.d.slot.child.off('exit', this.onExit);
    this.d.signal?.removeEventListener('abort', this.onAbort);
    fn();
  }

  private kill(): void {
    this.d.forget();
    this.d.slot.child.kill('SIGKILL');
  }

  private fail(reason: string, message: string, terminal: boolean): void {
    this.finish(() => this.reject(new StageError(reason, message, terminal, this.d.stage)));
  }

  private readonly onMessage = (msg: WorkerReply): void => {
    if (msg.id !== this.d.request.id) return;
    if (!msg.ok) return this.fail(msg.error.reason, msg.error.message, msg.error.terminal);
    const result = withPoolReadings(this.job, decodeResult(this.job, msg.result), this.d.slot);
    this.finish(() => this.resolve(result));
  };

  private readonly onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
    this.d.forget();
    this.fail(
      REASONS.ValidatorCrashed,
      `The validation worker died during the '${this.job.type}' job (${sig ? `signal ${sig}` : `exit code ${code}`}); the model likely crashes onnxruntime or exhausts memory: check the model with onnxruntime locally.`,
      true,
    );
  };

  private readonly onAbort = (): void => {
    this.kill();
    const reason: unknown = this.d.signal?.reason;
    this.finish(() => this.reject(reason instanceof Error ? reason : new Error('aborted')));
  };

  private readonly onTimeout = (): void => {
    this.kill();
    this.fail(
      REASONS.ValidationTimeout,
      `The '${this.job.type}' job did not finish within ${Math.round(this.d.timeoutMs / 1000)} s and its worker was killed; raise spec.validation.timeoutSeconds or use a smaller dataset or model.`,
      true,
    );
  };

  /** Read the worker's RSS: keep the peak, kill it over the cap. */
  private readonly onPoll = (): void => {
    const pid = this.d.slot.child.pid;
    if (pid === undefined) return;
    const mem = readProcMemory(pid);
    if (!mem) return;
    this.d.slot.peakKiB = Math.max(this.d.slot.peakKiB, mem.rssKiB);
    if (mem.rssKiB <= this.d.memoryMiB * 1024) return;
    this.kill();
    this.fail(
      REASONS.ValidatorMemoryExceeded,
      `The validation worker used ${Math.round(mem.rssKiB / 1024)} MiB during the '${this.job.type}' job, over the cap of ${this.d.memoryMiB} MiB, and was killed; use a smaller model or batch, or raise the worker memory cap.`,
      true,
    );
  };

  private readonly onSent = (err: Error | null): void => {
    if (!err) return;
    this.kill();
    this.fail(REASONS.ValidatorCrashed, `The validation worker could not take the '${this.job.type}' job (${err.message}).`, false);
  };
}

/** What the pool adds to a result: the peak RSS it read from /proc (benchmark), the worker's stderr (benchmark, evaluate). */
function withPoolReadings(job: WorkerJob, result: unknown, slot: Slot): unknown {
  if (job.type === 'benchmark') {
    // The pool's own /proc reading covers memory the child could not see itself.
    const r = result as BenchmarkResult;
    r.peakRssMiB = Math.max(r.peakRssMiB, slot.peakKiB / 1024);
  }
  if (slot.log.length > 0 && (job.type === 'benchmark' || job.type === 'evaluate')) (result as { runtimeLog?: string[] }).runtimeLog = [...slot.log];
  return result;
}
