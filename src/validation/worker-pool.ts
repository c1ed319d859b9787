// A pool of child processes that run onnxruntime away from the operator's event loop. Each job has
// a deadline (the child is killed: ValidationTimeout) and a memory cap (--max-old-space-size for
// the V8 heap and the child's RSS, polled from /proc: ValidatorMemoryExceeded); a child that dies
// fails only its own job (ValidatorCrashed) and the pool starts a fresh one for the next job.
// Here: the queue of workers and scopes. The messages are worker-protocol.ts's, a worker process
// is worker-process.ts's, one job's watch (reply, death, deadline, cap) is worker-dispatch.ts's.
import { StageError } from './contract.js';
import { REASONS } from '../api/reasons.js';
import { dispatchJob } from './worker-dispatch.js';
import { running, spawnWorker } from './worker-process.js';
import type { Slot } from './worker-process.js';
import type { JobResult, RunOptions, WorkerJob, WorkerRelease, WorkerRequest, WorkerScope } from './worker-protocol.js';

// The protocol and the process helpers under the pool's path, where their importers find them.
export * from './worker-protocol.js';
export { readProcMemory, WORKER_ENV_KEEP, workerEnvironment } from './worker-process.js';

export interface WorkerPoolOptions {
  /** Child processes at most (default 1). */
  size?: number;
  /** Memory cap per child in MiB: V8 heap limit and RSS limit (default 2048). */
  memoryMiB?: number;
  /** Default deadline per job (ms) when run() gets none (default 300 s). */
  jobTimeoutMs?: number;
  /** How often the child's RSS is read (ms, default 250). */
  memoryPollMs?: number;
  /** Accept the test-only 'crash' / 'hang' jobs (FAKE FAULT INJECTION). Default false. */
  faultInjection?: boolean;
  /** Threads onnxruntime may use per child (default 1). */
  threads?: number;
}

interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class WorkerPool {
  private readonly size: number;
  private readonly memoryMiB: number;
  private readonly jobTimeoutMs: number;
  private readonly memoryPollMs: number;
  private readonly faultInjection: boolean;
  private readonly threads: number;
  private readonly slots = new Set<Slot>();
  private readonly waiters: Waiter[] = [];
  private nextId = 1;
  private nextScope = 1;
  private closed = false;
  /** Children started so far (a crash or timeout replaces one). */
  started = 0;

  constructor(options: WorkerPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? 1);
    this.memoryMiB = options.memoryMiB ?? 2048;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 300_000;
    this.memoryPollMs = options.memoryPollMs ?? 250;
    this.faultInjection = options.faultInjection ?? false;
    this.threads = options.threads ?? 1;
  }

  /** Live child processes. */
  get workers(): number {
    return this.slots.size;
  }

  /** Process ids of the live children (tests read their /proc entries). */
  get pids(): number[] {
    return [...this.slots].map((s) => s.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Run one job in a child; rejects with StageError (ValidatorCrashed, ValidationTimeout, ...). */
  async run<J extends WorkerJob>(job: J, options: RunOptions = {}): Promise<JobResult<J>> {
    this.checkRunnable(job, options);
    const slot = await this.acquire(options.signal);
    try {
      return (await this.dispatch(slot, job, options)) as JobResult<J>;
    } finally {
      this.release(slot);
    }
  }

  /** Throws when the job may not start: the pool is closed, a fault job without faultInjection, the caller aborted. */
  private checkRunnable(job: WorkerJob, options: RunOptions): void {
    if (this.closed) throw new StageError(REASONS.ValidatorCrashed, 'The validation worker pool is closed; restart the operator.', false, options.stage ?? 'holdout');
    if ((job.type === 'crash' || job.type === 'hang') && !this.faultInjection) {
      throw new Error(`Job type '${job.type}' is a test-only fault injection; create the pool with faultInjection: true.`);
    }
    options.signal?.throwIfAborted();
  }

  /** A scope: jobs that share one worker and its cache (see WorkerScope). */
  scope(): WorkerScope {
    const id = this.nextScope++;
    let slot: Slot | undefined;
    let released = false;
    let chain: Promise<unknown> = Promise.resolve();
    const alive = (s: Slot): boolean => running(s.child) && this.slots.has(s);
    const runOne = async <J extends WorkerJob>(job: J, options: RunOptions): Promise<JobResult<J>> => {
      if (released) throw new Error('This worker scope was released.');
      this.checkRunnable(job, options);
      if (slot && !alive(slot)) {
        // Killed or crashed during an earlier job of the scope: give its place back, take another.
        const dead = slot;
        slot = undefined;
        this.release(dead);
      }
      slot ??= await this.acquire(options.signal);
      return (await this.dispatch(slot, job, options, id)) as JobResult<J>;
    };
    return {
      run: <J extends WorkerJob>(job: J, options: RunOptions = {}): Promise<JobResult<J>> => {
        const next = chain.then(() => runOne(job, options));
        chain = next.catch(() => undefined);
        return next;
      },
      release: () => {
        if (released) return;
        released = true;
        const s = slot;
        slot = undefined;
        if (!s) return;
        if (alive(s)) {
          try {
            const msg: WorkerRelease = { release: id };
            s.child.send(msg, () => undefined);
          } catch {
            /* the channel closed: the child is going away with its cache */
          }
        }
        this.release(s);
      },
    };
  }

  /** Kill every child; pending and later jobs fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new StageError(REASONS.ValidatorCrashed, 'The validation worker pool was closed.', false, 'holdout'));
    const exits = [...this.slots].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (!running(s.child)) return resolve();
          s.child.once('exit', () => resolve());
          s.child.kill('SIGKILL');
        }),
    );
    this.slots.clear();
    await Promise.all(exits);
  }

  private spawn(): Slot {
    const slot = spawnWorker({ memoryMiB: this.memoryMiB, threads: this.threads, faultInjection: this.faultInjection });
    slot.child.once('exit', () => this.slots.delete(slot));
    slot.child.on('error', () => undefined);
    this.slots.add(slot);
    this.started++;
    return slot;
  }

  private acquire(signal?: AbortSignal): Promise<Slot> {
    for (const s of this.slots) {
      if (!s.busy && running(s.child)) {
        s.busy = true;
        return Promise.resolve(s);
      }
    }
    if (this.slots.size < this.size) {
      const s = this.spawn();
      s.busy = true;
      return Promise.resolve(s);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (signal) {
        w.signal = signal;
        w.onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
  }

  private release(slot: Slot): void {
    slot.busy = false;
    const alive = running(slot.child) && this.slots.has(slot);
    const w = this.waiters.shift();
    if (!w) return;
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    if (alive) {
      slot.busy = true;
      w.resolve(slot);
    } else if (this.closed) {
      w.reject(new StageError(REASONS.ValidatorCrashed, 'The validation worker pool was closed.', false, 'holdout'));
    } else {
      const s = this.spawn();
      s.busy = true;
      w.resolve(s);
    }
  }

  private dispatch(slot: Slot, job: WorkerJob, options: RunOptions, scope?: number): Promise<unknown> {
    const id = this.nextId++;
    const request: WorkerRequest = scope === undefined ? { id, job } : { id, job, scope };
    return dispatchJob({
      slot,
      request,
      stage: options.stage ?? 'holdout',
      timeoutMs: options.timeoutMs ?? this.jobTimeoutMs,
      memoryMiB: this.memoryMiB,
      memoryPollMs: this.memoryPollMs,
      ...(options.signal ? { signal: options.signal } : {}),
      forget: () => this.slots.delete(slot),
    });
  }
}
