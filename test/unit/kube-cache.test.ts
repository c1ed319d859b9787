import assert from 'node:assert/strict';
import { OwnWrites } from '../../src/kube/cache.js';

describe('read your own writes over an informer cache (src/kube/cache.ts OwnWrites)', () => {
  it('serves our write until the watch delivers that version, then the cache', () => {
    const w = new OwnWrites<string>();
    w.wrote('ns/a', 'ours@5', '5', '4');
    assert.equal(w.pending('ns/a', '4'), 'ours@5', 'the cache is behind: our write');
    w.delivered('ns/a', '5');
    assert.equal(w.pending('ns/a', '5'), undefined, 'delivered: the cache');
  });

  it('a write whose response arrives after the watch delivered it is never served', () => {
    const w = new OwnWrites<string>();
    w.delivered('ns/a', '5');
    w.wrote('ns/a', 'ours@5', '5', '5');
    assert.equal(w.pending('ns/a', '5'), undefined);
  });

  it('an older write of ours is dropped when a newer one is already cached', () => {
    const w = new OwnWrites<string>();
    w.wrote('ns/a', 'ours@5', '5', '4');
    w.wrote('ns/a', 'ours@6', '6', '6');
    assert.equal(w.pending('ns/a', '6'), undefined, 'not ours@5 in place of the newer cache');
  });

  it('with delivered versions kept, a write the watch already passed (others wrote after it) is not served', () => {
    const w = new OwnWrites<string>(8);
    w.delivered('ns/d', '10');
    w.delivered('ns/d', '11');
    w.delivered('ns/d', '12');
    w.wrote('ns/d', 'ours@10', '10', '12');
    assert.equal(w.pending('ns/d', '12'), undefined, 'the cache holds 12, newer than our 10');
    // Without the delivered list the same sequence would serve the stale write.
    const plain = new OwnWrites<string>();
    plain.delivered('ns/d', '12');
    plain.wrote('ns/d', 'ours@10', '10', '12');
    plain.wrote('ns/d', 'ours@10', '10', '11');
    assert.equal(plain.pending('ns/d', '12'), 'ours@10', 'the case the delivered list exists for');
  });

  it('gives up on our write after 5 s when the watch never delivers it (a lost event)', () => {
    let t = 1_000;
    const w = new OwnWrites<string>(0, () => t);
    w.wrote('ns/a', 'ours@5', '5', '4');
    t += 4_999;
    assert.equal(w.pending('ns/a', '4'), 'ours@5');
    t += 2;
    assert.equal(w.pending('ns/a', '4'), undefined);
  });

  it('forgets a deleted object', () => {
    const w = new OwnWrites<string>(4);
    w.wrote('ns/a', 'ours@5', '5', '4');
    w.forget('ns/a');
    assert.equal(w.pending('ns/a', '4'), undefined);
  });
});
