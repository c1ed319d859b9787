import assert from 'node:assert/strict';
import { mulberry32, pairedBootstrap } from '../../../src/math/bootstrap.js';
import { metricEvaluator } from '../../../src/math/metrics.js';

/** Per-sample correctness (1/0) with the given hit rate, from a fixed seed. */
function correctness(n: number, rate: number, seed: number): Uint8Array {
  const rng = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => (rng() < rate ? 1 : 0));
}

function accuracyDiff(cand: Uint8Array, base: Uint8Array): (idx: Uint32Array) => number {
  return (idx) => {
    let d = 0;
    for (let i = 0; i < idx.length; i++) d += (cand[idx[i] as number] as number) - (base[idx[i] as number] as number);
    return d / idx.length;
  };
}

describe('math/bootstrap', () => {
  const n = 10_000;
  const cand = correctness(n, 0.9, 11);
  const base = correctness(n, 0.7, 12);

  it('is reproducible for a seed and changes with the seed', () => {
    const a = pairedBootstrap({ n: 2000, statistic: accuracyDiff(cand, base), resamples: 200, seed: 7 });
    const b = pairedBootstrap({ n: 2000, statistic: accuracyDiff(cand, base), resamples: 200, seed: 7 });
    const c = pairedBootstrap({ n: 2000, statistic: accuracyDiff(cand, base), resamples: 200, seed: 8 });
    assert.deepEqual(a, b);
    assert.notDeepEqual([a.low, a.high], [c.low, c.high]);
    assert.equal(a.resamples, 200);
  });

  it('never calls Math.random', () => {
    const original = Math.random;
    Math.random = () => { throw new Error('Math.random called'); };
    try {
      pairedBootstrap({ n: 100, statistic: accuracyDiff(cand, base), resamples: 10, seed: 1 });
    } finally {
      Math.random = original;
    }
  });

  // Speed is measured in bench/decision.ts against a reference run, never timed here.
  it('brackets the true difference of a clear improvement and excludes 0', () => {
    const r = pairedBootstrap({ n, statistic: accuracyDiff(cand, base), resamples: 1000, seed: 42 });
    assert.ok(r.low <= r.estimate && r.estimate <= r.high);
    assert.ok(r.low < 0.2 && 0.2 < r.high, `[${r.low}, ${r.high}] should contain 0.2`);
    assert.ok(r.low > 0.15 && r.high < 0.25, `[${r.low}, ${r.high}] should be narrow`);
  });

  it('excludes 0 above for a clear regression, and straddles 0 when nothing changed', () => {
    const regression = pairedBootstrap({ n, statistic: accuracyDiff(base, cand), resamples: 1000, seed: 3 });
    assert.ok(regression.high < 0, `high ${regression.high}`);
    const same = pairedBootstrap({ n, statistic: accuracyDiff(cand, correctness(n, 0.9, 99)), resamples: 1000, seed: 3 });
    assert.ok(same.low < 0 && same.high > 0, `[${same.low}, ${same.high}]`);
  });

  it('works with metric evaluators on resampled indices (AUC difference)', () => {
    const m = 5000;
    const rng = mulberry32(5);
    const labels = Array.from({ length: m }, () => (rng() < 0.3 ? 1 : 0));
    const good = labels.map((y) => Math.min(1, Math.max(0, 0.5 + (y ? 0.2 : -0.2) + (rng() - 0.5) * 0.6)));
    const weak = labels.map((y) => Math.min(1, Math.max(0, 0.5 + (y ? 0.05 : -0.05) + (rng() - 0.5) * 0.6)));
    const evalGood = metricEvaluator('conversion', good, labels);
    const evalWeak = metricEvaluator('conversion', weak, labels);
    const r = pairedBootstrap({
      n: m,
      statistic: (idx) => (evalWeak(idx, ['auc']).auc as number) - (evalGood(idx, ['auc']).auc as number),
      resamples: 500,
      seed: 9,
    });
    assert.ok(r.high < 0, `weak model's AUC should be clearly lower: [${r.low}, ${r.high}]`);
  });

  it('never yields a passing interval from NaN', () => {
    const allNaN = pairedBootstrap({ n: 10, statistic: () => NaN, resamples: 50, seed: 1 });
    assert.ok(Number.isNaN(allNaN.estimate) && Number.isNaN(allNaN.low) && Number.isNaN(allNaN.high));
    let calls = 0;
    // the estimate is fine but most resamples are not: the interval is NaN, the count says why
    const mostlyNaN = pairedBootstrap({ n: 10, statistic: () => (calls++ % 3 === 0 ? 0.1 : NaN), resamples: 90, seed: 1 });
    assert.equal(mostlyNaN.estimate, 0.1);
    assert.ok(Number.isNaN(mostlyNaN.low) && Number.isNaN(mostlyNaN.high));
    assert.ok(mostlyNaN.resamples < 45);
    const empty = pairedBootstrap({ n: 0, statistic: () => 0, resamples: 10, seed: 1 });
    assert.ok(Number.isNaN(empty.estimate) && Number.isNaN(empty.low));
    assert.throws(() => pairedBootstrap({ n: 10, statistic: () => 0, resamples: 0 }), RangeError);
    assert.throws(() => pairedBootstrap({ n: 1.5, statistic: () => 0 }), RangeError);
  });
});
