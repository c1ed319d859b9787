import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReconcileDeadlineError, WorkQueue, runWorkers } from '../../../src/controller/queue.js';

/** Resolves with the promise's value, or 'pending' if it has not settled within `ms`. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, sleep(ms).then(() => 'pending' as const)]);
}

/** Polls until `cond` holds (or fails after `ms`), so timing tests do not depend on machine load. */
async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not reached in time');
    await sleep(5);
  }
}

describe('controller/queue WorkQueue', () => {
  let queues: WorkQueue[] = [];
  const make = (...args: ConstructorParameters<typeof WorkQueue>): WorkQueue => {
    const q = new WorkQueue(...args);
    queues.push(q);
    return q;
  };
  afterEach(() => {
    for (const q of queues) q.shutdown();
    queues = [];
  });

  it('hands keys out in FIFO order and de-duplicates waiting keys', async () => {
    const depths: number[] = [];
    const q = make({ onDepth: (d) => depths.push(d) });
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('c');
    q.add('b');
    assert.equal(q.depth, 3);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(await q.get(), 'c');
    assert.equal(q.depth, 0);
    assert.deepEqual(depths, [1, 2, 3, 2, 1, 0]);
    assert.equal(await settledWithin(q.get(), 20), 'pending');
  });

  it('reports how long each key waited from its first add (a duplicate add does not restart the clock)', async () => {
    let t = 1_000;
    const waits: number[] = [];
    const q = make({ onWait: (s) => waits.push(s), now: () => t });
    q.add('a');
    t += 250;
    q.add('b');
    q.add('a');
    t += 750;
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.deepEqual(waits, [1, 0.75]);
    // Handed straight to a waiting worker: no wait.
    const p = q.get();
    q.add('c');
    assert.equal(await p, 'c');
    assert.deepEqual(waits, [1, 0.75, 0]);
  });

  it('a waiting get() receives the next added key', async () => {
    const q = make();
    const p = q.get();
    assert.equal(await settledWithin(p, 10), 'pending');
    q.add('x');
    assert.equal(await p, 'x');
    assert.ok(q.isProcessing('x'));
  });

  it('a key added while processing is handed out again only after done()', async () => {
    const q = make();
    q.add('k');
    assert.equal(await q.get(), 'k');
    q.add('k');
    q.add('k');
    assert.equal(q.depth, 0, 'not queued while processing');
    const next = q.get();
    assert.equal(await settledWithin(next, 20), 'pending');
    q.done('k');
    assert.equal(await next, 'k', 'handed out once after done');
    q.done('k');
    assert.equal(await settledWithin(q.get(), 20), 'pending', 'the two adds collapsed into one');
  });

  it('done() without a re-add does not requeue', async () => {
    const q = make();
    q.add('k');
    await q.get();
    q.done('k');
    assert.equal(q.depth, 0);
    assert.equal(q.isProcessing('k'), false);
    assert.equal(await settledWithin(q.get(), 20), 'pending');
  });

  it('a key re-added while processing goes behind keys already waiting', async () => {
    const q = make();
    q.add('a');
    assert.equal(await q.get(), 'a');
    q.add('b');
    q.add('a');
    q.done('a');
    assert.equal(await q.get(), 'b');
    assert.equal(await q.get(), 'a');
  });

  it('addAfter adds the key after the delay', async () => {
    const q = make();
    const start = Date.now();
    q.addAfter('k', 40);
    assert.equal(q.depth, 0);
    assert.equal(await q.get(), 'k');
    assert.ok(Date.now() - start >= 35, `came after ${Date.now() - start} ms`);
  });

  it('addAfter with a delay of 0 or less adds at once', async () => {
    const q = make();
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    assert.equal(q.depth, 2);
  });

  it('addAfter keeps the earliest schedule for a key', async () => {
    const q = make();
    const start = Date.now();
    q.addAfter('k', 30);
    q.addAfter('k', 150); // later: ignored
    assert.equal(await q.get(), 'k');
    const t = Date.now() - start;
    assert.ok(t < 120, `came after ${t} ms, the later schedule won`);
    q.done('k');
    assert.equal(await settledWithin(q.get(), 200), 'pending', 'the later schedule must not fire as well');
  });

  it('an earlier addAfter replaces a later one', async () => {
    const q = make();
    const start = Date.now();
    q.addAfter('k', 150);
    q.addAfter('k', 20);
    assert.equal(await q.get(), 'k');
    assert.ok(Date.now() - start < 120);
    q.done('k');
    assert.equal(await settledWithin(q.get(), 200), 'pending', 'the replaced schedule was cleared');
  });

  it('nudge() (news about a dependency) waits out a failure backoff; add() and a success do not', async () => {
    const q = make({ baseDelayMs: 80, jitter: 0 });
    q.nudge('a');
    assert.equal(await settledWithin(q.get(), 50), 'a', 'no backoff: a nudge adds at once');
    q.done('a');
    q.addRateLimited('a');
    q.nudge('a');
    assert.equal(q.depth, 0, 'backing off: the nudge waits for the retry');
    assert.equal(await settledWithin(q.get(), 300), 'a', 'the backoff ends and the key comes');
    q.done('a');
    q.addRateLimited('a');
    q.add('a');
    assert.equal(q.depth, 1, 'add() is the object itself changing: at once even while backing off');
    assert.equal(await q.get(), 'a');
    q.done('a');
    q.forget('a');
    q.nudge('a');
    assert.equal(q.depth, 1, 'after a success, nudges add at once again');
  });

  it('addRateLimited grows exponentially per key, with injected jitter, capped', () => {
    const q = make({ baseDelayMs: 1000, maxDelayMs: 10_000, jitter: 0.5, random: () => 0 });
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('a')), [1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.equal(q.retries('a'), 6);
    assert.equal(q.addRateLimited('b'), 1000, 'per key');
    const j = make({ baseDelayMs: 100, maxDelayMs: 10_000, jitter: 0.5, random: () => 1 });
    assert.deepEqual([j.addRateLimited('a'), j.addRateLimited('a')], [150, 300]);
    const half = make({ baseDelayMs: 100, jitter: 0.2, random: () => 0.5 });
    assert.equal(half.addRateLimited('a'), 110);
  });

  it('the backoff stays bounded by maxDelayMs plus at most the jitter share', () => {
    const q = make({ baseDelayMs: 500, maxDelayMs: 4000, jitter: 0.2, random: () => 0.999 });
    for (let i = 0; i < 60; i++) {
      const d = q.addRateLimited('k');
      assert.ok(Number.isFinite(d) && d <= 4000 * 1.2, `delay ${d} at retry ${i}`);
    }
  });

  it('forget resets the backoff to the base', () => {
    const q = make({ baseDelayMs: 100, jitter: 0 });
    q.addRateLimited('k');
    q.addRateLimited('k');
    assert.equal(q.retries('k'), 2);
    q.forget('k');
    assert.equal(q.retries('k'), 0);
    assert.equal(q.addRateLimited('k'), 100);
  });

  it('addRateLimited requeues the key after the delay', async () => {
    const q = make({ baseDelayMs: 20, jitter: 0 });
    q.addRateLimited('k');
    assert.equal(q.depth, 0);
    assert.equal(await settledWithin(q.get(), 200), 'k');
  });

  it('shutdown resolves waiting get() calls with undefined, then refuses new keys', async () => {
    const q = make();
    const a = q.get();
    const b = q.get();
    q.shutdown();
    assert.equal(await a, undefined);
    assert.equal(await b, undefined);
    q.add('x');
    q.addAfter('y', 0);
    assert.equal(q.depth, 0);
    assert.equal(await q.get(), undefined);
  });

  it('shutdown drains keys already waiting, then returns undefined', async () => {
    const q = make();
    q.add('a');
    q.shutdown();
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), undefined);
  });

  it('shutdown cancels pending delayed adds', async () => {
    const q = make();
    q.addAfter('k', 20);
    q.shutdown();
    await sleep(50);
    assert.equal(q.depth, 0);
    assert.equal(await q.get(), undefined);
  });
});

describe('controller/queue runWorkers', () => {
  it('never runs one key on two workers at once, and processes every key added', async () => {
    const q = new WorkQueue({ baseDelayMs: 5, jitter: 0 });
    const active = new Map<string, number>();
    const violations: string[] = [];
    const counts = new Map<string, number>();
    let maxParallel = 0;
    let running = 0;
    const keys = ['a', 'b', 'c', 'd'];
    const done = runWorkers(q, 4, async (key) => {
      const n = (active.get(key) ?? 0) + 1;
      active.set(key, n);
      if (n > 1) violations.push(key);
      running++;
      maxParallel = Math.max(maxParallel, running);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      // add the same key (and others) while it is processed
      q.add(key);
      q.add(keys[(keys.indexOf(key) + 1) % keys.length]!);
      await sleep(2 + Math.floor(Math.random() * 4));
      running--;
      active.set(key, (active.get(key) ?? 1) - 1);
    }, () => assert.fail('no errors expected'));
    for (let i = 0; i < 20; i++) for (const k of keys) q.add(k);
    await sleep(150);
    q.shutdown();
    await done;
    assert.deepEqual(violations, []);
    assert.ok(maxParallel > 1, 'several workers did run in parallel on different keys');
    for (const k of keys) assert.ok((counts.get(k) ?? 0) >= 2, `key ${k} processed ${counts.get(k)} times`);
  });

  it('retries a failing key with backoff and reports it, forgets after success', async () => {
    const q = new WorkQueue({ baseDelayMs: 10, jitter: 0 });
    const errors: Array<[string, string, number]> = [];
    let calls = 0;
    const done = runWorkers(q, 2, async (key) => {
      calls++;
      if (calls <= 3) throw new Error(`boom ${calls}`);
      assert.equal(key, 'k');
    }, (key, err, retryIn) => errors.push([key, (err as Error).message, retryIn]));
    q.add('k');
    await waitFor(() => calls >= 4);
    await sleep(20);
    assert.equal(calls, 4);
    assert.deepEqual(errors, [['k', 'boom 1', 10], ['k', 'boom 2', 20], ['k', 'boom 3', 40]]);
    assert.equal(q.retries('k'), 0, 'success forgets the failures');
    q.shutdown();
    await done;
  });

  it('requeues after requeueAfterMs', async () => {
    const q = new WorkQueue();
    const times: number[] = [];
    const done = runWorkers(q, 1, async () => {
      times.push(Date.now());
      return times.length < 3 ? { requeueAfterMs: 20 } : undefined;
    }, () => undefined);
    q.add('k');
    await waitFor(() => times.length >= 3);
    await sleep(40);
    q.shutdown();
    await done;
    assert.equal(times.length, 3);
    assert.ok(times[1]! - times[0]! >= 15 && times[2]! - times[1]! >= 15, `gaps ${times[1]! - times[0]!}, ${times[2]! - times[1]!}`);
  });

  it('requeueAfterMs 0 runs the key again right after it is done', async () => {
    const q = new WorkQueue();
    let calls = 0;
    const done = runWorkers(q, 2, async () => {
      calls++;
      return calls < 5 ? { requeueAfterMs: 0 } : undefined;
    }, () => undefined);
    q.add('k');
    await waitFor(() => calls >= 5);
    await sleep(20);
    q.shutdown();
    await done;
    assert.equal(calls, 5);
  });

  it('resolves once the queue shuts down', async () => {
    const q = new WorkQueue();
    const done = runWorkers(q, 3, async () => undefined, () => undefined);
    assert.equal(await settledWithin(done, 20), 'pending');
    q.shutdown();
    assert.equal(await settledWithin(done, 100), undefined);
  });

  it('a reconcile past its deadline is aborted, requeued with backoff and reported, and the only worker takes the next key meanwhile', async () => {
    const q = new WorkQueue({ baseDelayMs: 30, jitter: 0 });
    const deadlines: Array<[string, number, number]> = [];
    const reasons: unknown[] = [];
    const fastRuns: number[] = [];
    let slowRuns = 0;
    let slowActive = 0;
    let overlap = false;
    const done = runWorkers(q, 1, async (key, signal) => {
      if (key === 'fast') {
        fastRuns.push(Date.now());
        return;
      }
      slowRuns++;
      if (++slowActive > 1) overlap = true;
      try {
        // Honours the signal, but late: the worker must not wait for it.
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => {
          reasons.push(signal.reason);
          setTimeout(resolve, 200);
        }, { once: true }));
        throw signal.reason as Error;
      } finally {
        slowActive--;
      }
    }, () => assert.fail('a deadline is reported through onDeadline, not as an error'), {
      deadlineMs: 50,
      onDeadline: (key, ms, retryIn) => deadlines.push([key, ms, retryIn]),
    });
    const started = Date.now();
    q.add('slow');
    await sleep(5);
    q.add('fast');
    await waitFor(() => fastRuns.length === 1);
    assert.ok(fastRuns[0]! - started < 150, `the other key ran ${fastRuns[0]! - started} ms after the start, while the slow one was still running`);
    assert.equal(slowActive, 1, 'the slow reconcile is still running');
    assert.deepEqual(deadlines, [['slow', 50, 30]]);
    assert.ok(reasons[0] instanceof ReconcileDeadlineError, 'the signal carries the deadline as its reason');
    assert.match((reasons[0] as Error).message, /deadline of 50 ms/);
    // The retry waits for the late reconcile to settle: the key never runs twice at a time.
    await waitFor(() => slowRuns >= 2, 3000);
    assert.equal(overlap, false);
    assert.ok(q.retries('slow') >= 1);
    q.shutdown();
    await done;
    assert.equal(slowActive, 0, 'shutdown waited for the reconcile that outlived its deadline');
  });

  it('a reconcile within its deadline is not aborted', async () => {
    const q = new WorkQueue();
    let aborted: boolean | undefined;
    const deadlines: string[] = [];
    const done = runWorkers(q, 1, async (_key, signal) => {
      await sleep(20);
      aborted = signal.aborted;
    }, () => undefined, { deadlineMs: 500, onDeadline: (key) => deadlines.push(key) });
    q.add('k');
    await waitFor(() => aborted !== undefined);
    await sleep(20);
    q.shutdown();
    await done;
    assert.equal(aborted, false);
    assert.deepEqual(deadlines, []);
  });

  it('the stop signal aborts running reconciles at once, without an error report', async () => {
    const q = new WorkQueue();
    const stop = new AbortController();
    const errors: string[] = [];
    let started = false;
    const done = runWorkers(q, 1, async (_key, signal) => {
      started = true;
      await new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    }, (key) => errors.push(key), { deadlineMs: 60_000, stop: stop.signal });
    q.add('k');
    await waitFor(() => started);
    const t = Date.now();
    stop.abort(new Error('the operator is stopping'));
    q.shutdown();
    assert.equal(await settledWithin(done, 500), undefined, 'the workers ended without waiting for the 60 s deadline');
    assert.ok(Date.now() - t < 500);
    assert.deepEqual(errors, []);
  });
});
