import assert from 'node:assert/strict';
import { latencySummary, mean, percentile } from '../../../src/math/stats.js';

describe('math/stats', () => {
  it('computes the mean, NaN for empty input or any NaN', () => {
    assert.equal(mean([1, 2, 3, 4]), 2.5);
    assert.ok(Number.isNaN(mean([])));
    assert.ok(Number.isNaN(mean([1, NaN, 3])));
  });

  it('interpolates percentiles linearly like numpy (sorted or not), without reordering the input', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    assert.equal(percentile([1, 2, 3, 4], 0), 1);
    assert.equal(percentile([1, 2, 3, 4], 100), 4);
    // numpy.percentile([15, 20, 35, 40, 50], 40) == 29.0
    const unsorted = [50, 15, 40, 20, 35];
    assert.ok(Math.abs(percentile(unsorted, 40) - 29) < 1e-12);
    assert.deepEqual(unsorted, [50, 15, 40, 20, 35]);
    assert.equal(percentile(new Float64Array([7]), 95), 7);
    assert.equal(percentile([1, Infinity, Infinity], 90), Infinity);
  });

  it('returns NaN for empty input or any NaN, and refuses p outside [0, 100]', () => {
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.ok(Number.isNaN(percentile([1, NaN, 3], 50)));
    assert.throws(() => percentile([1], 101), RangeError);
    assert.throws(() => percentile([1], -1), RangeError);
    assert.throws(() => percentile([1], NaN), RangeError);
  });

  it('summarises latencies (1..100) and never passes a NaN', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    const s = latencySummary(values);
    assert.equal(s.count, 100);
    assert.equal(s.p50, 50.5);
    assert.ok(Math.abs(s.p95 - 95.05) < 1e-9);
    assert.ok(Math.abs(s.p99 - 99.01) < 1e-9);
    assert.equal(s.mean, 50.5);
    assert.equal(s.max, 100);
    // one NaN among many values must not leave the middle percentiles looking fine
    const bad = latencySummary([...values, NaN]);
    assert.equal(bad.count, 101);
    for (const k of ['p50', 'p95', 'p99', 'mean', 'max'] as const) assert.ok(Number.isNaN(bad[k]), k);
    const empty = latencySummary([]);
    assert.equal(empty.count, 0);
    assert.ok(Number.isNaN(empty.p95));
  });
});
