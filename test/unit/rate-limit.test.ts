import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenBucket } from '../../src/kube/rate-limit.js';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

async function isSettled(p: Promise<unknown>, ms = 15): Promise<boolean> {
  let settled = false;
  p.then(() => { settled = true; }, () => { settled = true; });
  await sleep(ms);
  return settled;
}

describe('kube/rate-limit TokenBucket', () => {
  it('refuses qps <= 0 and burst < 1', () => {
    assert.throws(() => new TokenBucket(0, 1), /qps > 0 and burst >= 1/);
    assert.throws(() => new TokenBucket(-1, 1), /qps=-1/);
    assert.throws(() => new TokenBucket(Number.NaN, 1), /qps/);
    assert.throws(() => new TokenBucket(1, 0), /burst=0/);
    assert.doesNotThrow(() => new TokenBucket(0.5, 1));
  });

  it('serves the burst at once, then waits for the clock', async () => {
    const clock = manualClock();
    // 1000 qps: the bucket polls every millisecond; the injected clock decides when a token is due
    const b = new TokenBucket(1000, 3, clock.now);
    const first = [b.take(), b.take(), b.take()];
    assert.equal(await isSettled(Promise.all(first), 5), true, 'the burst is served without the clock moving');
    const fourth = b.take();
    assert.equal(await isSettled(fourth, 30), false, 'no token left and the clock did not move');
    clock.advance(1); // one token per millisecond
    assert.equal(await isSettled(fourth, 30), true);
    const fifth = b.take();
    clock.advance(0.5);
    assert.equal(await isSettled(fifth, 30), false, 'half a token is not a token');
    clock.advance(0.5);
    await fifth;
  });

  it('refills no more than the burst after a long idle time', async () => {
    const clock = manualClock();
    const b = new TokenBucket(1000, 2, clock.now);
    await Promise.all([b.take(), b.take()]);
    clock.advance(60_000);
    await Promise.all([b.take(), b.take()]);
    const third = b.take();
    assert.equal(await isSettled(third, 30), false, 'only `burst` tokens were stored');
    clock.advance(1);
    await third;
  });

  it('paces at qps after the burst (real clock)', async () => {
    const b = new TokenBucket(50, 2); // 20 ms per token after the first two
    const start = performance.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 6 }, () => b.take().then(() => times.push(performance.now() - start))));
    assert.ok(times[1]! < 15, `burst not immediate: ${times[1]}`);
    const total = times[5]!;
    assert.ok(total >= 70 && total < 300, `6 takes at 50 qps with burst 2 took ${total.toFixed(1)} ms (expected ~80)`);
  });

  it('serves callers in FIFO order', async () => {
    const b = new TokenBucket(200, 1);
    const order: number[] = [];
    await Promise.all(Array.from({ length: 8 }, (_, i) => b.take().then(() => order.push(i))));
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('rejects at once with an already-aborted signal and takes no token', async () => {
    const clock = manualClock();
    const b = new TokenBucket(1000, 1, clock.now);
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await assert.rejects(b.take(ac.signal), /gone/);
    await b.take(); // the token is still there
    const after = b.take();
    assert.equal(await isSettled(after, 20), false);
    clock.advance(1);
    await after;
  });

  it('an aborted waiter does not block the callers behind it', async () => {
    const clock = manualClock();
    const b = new TokenBucket(1000, 1, clock.now);
    await b.take();
    const ac = new AbortController();
    const aborted = b.take(ac.signal);
    const next = b.take();
    ac.abort(new Error('cancelled'));
    clock.advance(1); // one token
    await assert.rejects(aborted, /cancelled/);
    await next;
  });

  it('an abort while waiting rejects promptly, not only when a token would be due', async () => {
    const b = new TokenBucket(2, 1); // next token in 500 ms
    await b.take();
    const ac = new AbortController();
    const start = performance.now();
    const waiting = b.take(ac.signal);
    setTimeout(() => ac.abort(new Error('deadline')), 20);
    await assert.rejects(waiting, /deadline/);
    const took = performance.now() - start;
    assert.ok(took < 200, `the aborted take settled after ${took.toFixed(0)} ms (abort at 20 ms)`);
  });

  it('an abort of a caller queued behind others rejects promptly, not when its turn comes', async () => {
    const b = new TokenBucket(2, 1); // one token per 500 ms
    await b.take();
    const ahead = b.take(); // waits ~500 ms for the next token
    const ac = new AbortController();
    const start = performance.now();
    const queued = b.take(ac.signal);
    setTimeout(() => ac.abort(new Error('deadline')), 20);
    await assert.rejects(queued, /deadline/);
    const took = performance.now() - start;
    await ahead;
    assert.ok(took < 200, `the aborted queued take settled after ${took.toFixed(0)} ms (abort at 20 ms)`);
  });
});
