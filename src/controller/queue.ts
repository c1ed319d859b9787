// A keyed work queue as client-go's: a key waits at most once (de-duplicated), is never handed
// to two workers at once (a key added while it is processed waits until done()), and failures
// back off exponentially per key. Events only add keys; the reconcile reads the object afresh.

export interface QueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Random share added to each backoff so many keys failing together do not retry together. */
  jitter?: number;
  random?: () => number;
  onDepth?: (depth: number) => void;
  /** How long each key waited from being queued to being handed to a worker, in seconds (client-go's queue_duration). */
  onWait?: (seconds: number) => void;
  now?: () => number;
}

export class WorkQueue {
  private readonly order: string[] = [];
  private readonly dirty = new Set<string>();
  /** When each key in `order` was queued (ms), for onWait. */
  private readonly queuedAt = new Map<string, number>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  /** Keys waiting out a failure backoff: news about other objects does not cut it short. */
  private readonly backingOff = new Set<string>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private closed = false;
  private readonly base: number;
  private readonly max: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly opts: QueueOptions = {}) {
    this.base = opts.baseDelayMs ?? 500;
    this.max = opts.maxDelayMs ?? 5 * 60_000;
    this.jitter = opts.jitter ?? 0.2;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
  }

  get depth(): number {
    return this.order.length;
  }

  add(key: string): void {
    if (this.closed || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.opts.onWait?.(0);
      waiter(key);
    } else {
      this.order.push(key);
      if (this.opts.onWait) this.queuedAt.set(key, this.now());
      this.opts.onDepth?.(this.order.length);
    }
  }

  /**
   * Adds the key because something it depends on changed (a Deployment event), unless the key is
   * waiting out a failure backoff: then its retry comes when the backoff ends. Without this, a
   * storm of writes to a Deployment turns a conflicting reconcile's backoff into a retry per event.
   */
  nudge(key: string): void {
    if (this.backingOff.has(key)) return;
    this.add(key);
  }

  /** Adds the key after `ms`; an earlier pending schedule for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.backingOff.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Requeue after a failure: base * 2^failures, capped, with jitter. Returns the delay. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.round(Math.min(this.max, this.base * 2 ** n) * (1 + this.jitter * this.random()));
    this.addAfter(key, delay);
    if (this.timers.has(key)) this.backingOff.add(key);
    return delay;
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The key succeeded: its backoff starts again from the base. */
  forget(key: string): void {
    this.failures.delete(key);
    this.backingOff.delete(key);
  }

  /** Waits for the next key; undefined once the queue is shut down and drained. */
  get(): Promise<string | undefined> {
    const key = this.order.shift();
    if (key !== undefined) {
      this.opts.onDepth?.(this.order.length);
      const at = this.queuedAt.get(key);
      if (at !== undefined) {
        this.queuedAt.delete(key);
        this.opts.onWait?.((this.now() - at) / 1000);
      }
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  shutdown(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.backingOff.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

export type ReconcileResult = { requeueAfterMs?: number } | void;

/** The reason a reconcile's signal carries when it passed its deadline. */
export class ReconcileDeadlineError extends Error {
  constructor(readonly deadlineMs: number) {
    super(`the reconcile passed its deadline of ${deadlineMs} ms`);
    this.name = 'ReconcileDeadlineError';
  }
}

export interface WorkerOptions {
  /**
   * Deadline of one reconcile. When it passes, the reconcile's signal is aborted (its queries
   * stop), the key is requeued with backoff and the worker takes the next key at once. The key
   * itself stays taken until the late reconcile settles, so it never runs twice at a time.
   */
  deadlineMs?: number;
  onDeadline?: (key: string, deadlineMs: number, retryInMs: number) => void;
  /** Aborted when the operator stops: every running reconcile's signal aborts with it. */
  stop?: AbortSignal;
}

/** Runs `workers` loops that take keys and reconcile them until the queue shuts down. */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  reconcile: (key: string, signal: AbortSignal) => Promise<ReconcileResult>,
  onError: (key: string, err: unknown, retryInMs: number) => void,
  opts: WorkerOptions = {},
): Promise<void> {
  const running = new Set<Promise<void>>();
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const ac = new AbortController();
      const signal = opts.stop ? AbortSignal.any([ac.signal, opts.stop]) : ac.signal;
      let late = false;
      const settled: Promise<void> = Promise.resolve()
        .then(() => reconcile(key, signal))
        .then(
          (result) => {
            queue.forget(key);
            if (result && result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
          },
          (err: unknown) => {
            // Past the deadline the retry is already scheduled and said so; when stopping there is none.
            if (late || opts.stop?.aborted) return;
            const delay = queue.addRateLimited(key);
            onError(key, err, delay);
          },
        )
        .finally(() => {
          queue.done(key);
          running.delete(settled);
        });
      running.add(settled);
      if (opts.deadlineMs === undefined) {
        await settled;
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<true>((resolve) => {
        timer = setTimeout(() => resolve(true), opts.deadlineMs);
      });
      const timedOut = await Promise.race([settled.then(() => false as const), expired]);
      clearTimeout(timer);
      if (timedOut) {
        late = true;
        ac.abort(new ReconcileDeadlineError(opts.deadlineMs));
        opts.onDeadline?.(key, opts.deadlineMs, queue.addRateLimited(key));
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  // Shut down: wait for reconciles that outlived their deadline too.
  await Promise.all([...running]);
}
