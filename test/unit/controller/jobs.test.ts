import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobRegistry } from '../../../src/controller/jobs.js';

/** A promise the test resolves or rejects by hand, and the signal the job was given. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => sleep(0);

describe('controller/jobs JobRegistry', () => {
  it('reports running, then the value, and calls onDone once with the uid', async () => {
    const done: string[] = [];
    const jobs = new JobRegistry((uid) => done.push(uid));
    const d = deferred<number>();
    jobs.start('u1', 'fetch', 1, () => d.promise);
    assert.deepEqual(jobs.get('u1', 'fetch', 1), { state: 'running' });
    assert.equal(jobs.running, 1);
    d.resolve(42);
    await tick();
    assert.deepEqual(jobs.get<number>('u1', 'fetch', 1), { state: 'succeeded', value: 42 });
    assert.deepEqual(done, ['u1']);
    assert.equal(jobs.running, 0);
  });

  it('records a failure and calls onDone', async () => {
    const done: string[] = [];
    const jobs = new JobRegistry((uid) => done.push(uid));
    const err = new Error('digest mismatch');
    jobs.start('u1', 'validate', 2, async () => {
      throw err;
    });
    await tick();
    assert.deepEqual(jobs.get('u1', 'validate', 2), { state: 'failed', error: err });
    assert.deepEqual(done, ['u1']);
  });

  it('get answers only for the same uid, kind and generation', () => {
    const jobs = new JobRegistry(() => undefined);
    jobs.start('u1', 'fetch', 1, () => new Promise<never>(() => undefined));
    assert.equal(jobs.get('u1', 'validate', 1), undefined);
    assert.equal(jobs.get('u1', 'fetch', 2), undefined);
    assert.equal(jobs.get('u2', 'fetch', 1), undefined);
  });

  it('start is idempotent per (uid, kind, generation): the work runs once', async () => {
    const jobs = new JobRegistry(() => undefined);
    let runs = 0;
    const signals: AbortSignal[] = [];
    const work = async (signal: AbortSignal): Promise<string> => {
      runs++;
      signals.push(signal);
      await sleep(5);
      return 'v';
    };
    jobs.start('u1', 'fetch', 1, work);
    jobs.start('u1', 'fetch', 1, work);
    jobs.start('u1', 'fetch', 1, work);
    assert.equal(runs, 1);
    await sleep(20);
    assert.equal(signals[0]!.aborted, false);
    // still idempotent after it finished: the outcome stays until cleared
    jobs.start('u1', 'fetch', 1, work);
    assert.equal(runs, 1);
    assert.deepEqual(jobs.get('u1', 'fetch', 1), { state: 'succeeded', value: 'v' });
  });

  it('a new generation aborts the old job, and the old result is never visible', async () => {
    const done: string[] = [];
    const jobs = new JobRegistry((uid) => done.push(uid));
    const old = deferred<string>();
    let oldSignal: AbortSignal | undefined;
    jobs.start('u1', 'validate', 1, (signal) => {
      oldSignal = signal;
      return old.promise;
    });
    const fresh = deferred<string>();
    jobs.start('u1', 'validate', 2, () => fresh.promise);
    assert.equal(oldSignal!.aborted, true);
    assert.ok(oldSignal!.reason instanceof Error);
    assert.equal(jobs.get('u1', 'validate', 1), undefined);
    // the old job ignores the abort and finishes anyway: nothing of it shows
    old.resolve('stale');
    await tick();
    assert.equal(jobs.get('u1', 'validate', 1), undefined);
    assert.deepEqual(jobs.get('u1', 'validate', 2), { state: 'running' });
    assert.deepEqual(done, [], 'no onDone for superseded work');
    fresh.resolve('new');
    await tick();
    assert.deepEqual(jobs.get('u1', 'validate', 2), { state: 'succeeded', value: 'new' });
    assert.deepEqual(done, ['u1']);
  });

  it('a failing superseded job does not overwrite the new one either', async () => {
    const jobs = new JobRegistry(() => undefined);
    const old = deferred<string>();
    jobs.start('u1', 'fetch', 1, () => old.promise);
    jobs.start('u1', 'validate', 1, () => new Promise<string>(() => undefined));
    old.reject(new Error('aborted'));
    await tick();
    assert.deepEqual(jobs.get('u1', 'validate', 1), { state: 'running' });
  });

  it('another kind for the same uid replaces the job and aborts it', () => {
    const jobs = new JobRegistry(() => undefined);
    let fetchSignal: AbortSignal | undefined;
    jobs.start('u1', 'fetch', 1, (s) => {
      fetchSignal = s;
      return new Promise<never>(() => undefined);
    });
    jobs.start('u1', 'validate', 1, () => new Promise<never>(() => undefined));
    assert.equal(fetchSignal!.aborted, true);
    assert.equal(jobs.get('u1', 'fetch', 1), undefined);
    assert.equal(jobs.running, 1);
  });

  it('jobs of different uids are independent', async () => {
    const jobs = new JobRegistry(() => undefined);
    const signals: AbortSignal[] = [];
    for (const uid of ['a', 'b', 'c']) {
      jobs.start(uid, 'fetch', 1, (s) => {
        signals.push(s);
        return new Promise<never>(() => undefined);
      });
    }
    assert.equal(jobs.running, 3);
    assert.ok(signals.every((s) => !s.aborted));
  });

  it('cancel aborts and forgets; a late result is ignored; start again runs fresh work', async () => {
    const done: string[] = [];
    const jobs = new JobRegistry((uid) => done.push(uid));
    const d = deferred<string>();
    let signal: AbortSignal | undefined;
    jobs.start('u1', 'fetch', 1, (s) => {
      signal = s;
      return d.promise;
    });
    jobs.cancel('u1');
    assert.equal(signal!.aborted, true);
    assert.equal(jobs.get('u1', 'fetch', 1), undefined);
    assert.equal(jobs.running, 0);
    d.resolve('late');
    await tick();
    assert.equal(jobs.get('u1', 'fetch', 1), undefined);
    assert.deepEqual(done, []);
    jobs.cancel('u1'); // no job: no throw
    let runs = 0;
    jobs.start('u1', 'fetch', 1, async () => {
      runs++;
      return 'again';
    });
    await tick();
    assert.equal(runs, 1);
    assert.deepEqual(jobs.get('u1', 'fetch', 1), { state: 'succeeded', value: 'again' });
  });

  it('clear forgets only a finished job of that kind and generation', async () => {
    const jobs = new JobRegistry(() => undefined);
    const d = deferred<string>();
    jobs.start('u1', 'fetch', 1, () => d.promise);
    jobs.clear('u1', 'fetch', 1);
    assert.deepEqual(jobs.get('u1', 'fetch', 1), { state: 'running' }, 'a running job is not cleared');
    d.resolve('x');
    await tick();
    jobs.clear('u1', 'validate', 1);
    jobs.clear('u1', 'fetch', 2);
    assert.deepEqual(jobs.get('u1', 'fetch', 1), { state: 'succeeded', value: 'x' });
    jobs.clear('u1', 'fetch', 1);
    assert.equal(jobs.get('u1', 'fetch', 1), undefined);
    let runs = 0;
    jobs.start('u1', 'fetch', 1, async () => {
      runs++;
      return 'y';
    });
    assert.equal(runs, 1, 'after clear the same job can run again');
  });

  it('cancelAll aborts every job', () => {
    const jobs = new JobRegistry(() => undefined);
    const signals: AbortSignal[] = [];
    for (const uid of ['a', 'b']) {
      jobs.start(uid, 'fetch', 1, (s) => {
        signals.push(s);
        return new Promise<never>(() => undefined);
      });
    }
    jobs.cancelAll();
    assert.ok(signals.every((s) => s.aborted));
    assert.equal(jobs.running, 0);
  });
});
