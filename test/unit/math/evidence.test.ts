import assert from 'node:assert/strict';
import { mulberry32 } from '../../../src/math/bootstrap.js';
import { blockingEdge, decideMetric, degradationOf, denominatorFloor, pairedDegradations, PRIMARY_METRIC } from '../../../src/math/evidence.js';
import type { Evidence } from '../../../src/math/evidence.js';
import { metricEvaluator, perSampleValues } from '../../../src/math/metrics.js';
import { DEFAULT_BANDS } from '../../../src/math/severity.js';
import { criticalMetricsFor, judgeRegression } from '../../../src/validation/regression-judge.js';
import type { RegressionMetric } from '../../../src/validation/regression-judge.js';

const ev = (degradation: number, lower: number, upper: number, samples = 400): Evidence => ({ degradation, lower, upper, confidence: 0.95, samples });

/** Binary probabilities whose argmax is right with the given rate, seeded. */
function scores(labels: Uint8Array, hitRate: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  return Float64Array.from(labels, (y) => {
    const right = rng() < hitRate;
    const p = 0.55 + 0.4 * rng();
    return right === (y === 1) ? p : 1 - p;
  });
}

describe('math/evidence', () => {
  it('degradation is relative, signed by direction, and floored for near-zero baselines', () => {
    const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(degradationOf(0.8, 1.0, 'HigherIsBetter'), 0.2);
    assert.ok(degradationOf(1.1, 1.0, 'HigherIsBetter') < 0);
    close(degradationOf(0.06, 0.05, 'LowerIsBetter'), 0.2);
    // logLoss 0.005 -> 0.015 would be +200% relative; the 0.1 floor makes it 10%.
    close(degradationOf(0.015, 0.005, 'LowerIsBetter', denominatorFloor('logLoss')), 0.1);
    assert.equal(denominatorFloor('rmse', 50), 0.5);
    assert.equal(denominatorFloor('accuracy'), 0);
    assert.ok(Number.isNaN(degradationOf(NaN, 1, 'HigherIsBetter')));
    assert.equal(degradationOf(0, 0, 'LowerIsBetter'), 0);
    assert.equal(degradationOf(0.1, 0, 'LowerIsBetter'), Infinity);
  });

  it('the blocking edge is the top of the band below blockAt', () => {
    assert.equal(blockingEdge(DEFAULT_BANDS, 'SEVERE'), 0.15);
    assert.equal(blockingEdge(DEFAULT_BANDS, 'CRITICAL'), 0.3);
    assert.equal(blockingEdge(DEFAULT_BANDS, 'MODERATE'), 0.05);
    assert.equal(blockingEdge(DEFAULT_BANDS, 'MINOR'), 0);
    assert.equal(blockingEdge(DEFAULT_BANDS, 'NONE'), -Infinity);
  });

  it('passes only when the upper bound is within the allowed bands, whatever the point estimate', () => {
    assert.equal(decideMetric(ev(0.02, -0.01, 0.08), DEFAULT_BANDS, 'SEVERE').decision, 'Pass');
    // A point estimate just under the band with a wide interval is not a pass: the naive rule's failure.
    const near = decideMetric(ev(0.14, 0.05, 0.24), DEFAULT_BANDS, 'SEVERE');
    assert.equal(near.decision, 'InsufficientEvidence');
    assert.equal(near.severity, 'MODERATE');
    assert.ok(near.samplesNeeded! > 400, `needs more than the 400 it had, said ${near.samplesNeeded}`);
    assert.match(near.why, /400 samples cannot tell.*about \d+ holdout samples/);
  });

  it('blocks as Regression when the estimate is beyond the band and the lower bound shows it is worse', () => {
    const r = decideMetric(ev(0.2, 0.12, 0.28), DEFAULT_BANDS, 'SEVERE');
    assert.equal(r.decision, 'Regression');
    assert.equal(r.severity, 'SEVERE');
    // Beyond the band but the interval includes "no change": cannot tell, never a pass.
    const wide = decideMetric(ev(0.2, -0.05, 0.45, 40), DEFAULT_BANDS, 'SEVERE');
    assert.equal(wide.decision, 'InsufficientEvidence');
    assert.ok(wide.samplesNeeded! > 40);
  });

  it('NaN never passes; bounds it could not compute are InsufficientEvidence; blockAt NONE blocks all', () => {
    assert.equal(decideMetric(ev(NaN, NaN, NaN), DEFAULT_BANDS, 'SEVERE').decision, 'Regression');
    assert.equal(decideMetric(ev(0.01, NaN, NaN), DEFAULT_BANDS, 'SEVERE').decision, 'InsufficientEvidence');
    assert.equal(decideMetric(ev(-0.1, -0.2, -0.05), DEFAULT_BANDS, 'NONE').decision, 'Regression');
  });

  it('a single reported value (training metric) is judged on its point estimate', () => {
    assert.equal(decideMetric(ev(0.2, 0.2, 0.2, 0), DEFAULT_BANDS, 'SEVERE').decision, 'Regression');
    assert.equal(decideMetric(ev(0.1, 0.1, 0.1, 0), DEFAULT_BANDS, 'SEVERE').decision, 'Pass');
  });

  it('pairs every metric on one set of resamples: identical models give [0, 0], a worse one a bound above 0', () => {
    const rng = mulberry32(3);
    const n = 2000;
    const labels = Uint8Array.from({ length: n }, () => (rng() < 0.4 ? 1 : 0));
    const good = scores(labels, 0.92, 5);
    const bad = scores(labels, 0.7, 6);
    const y = Float64Array.from(labels);
    const metrics = ['accuracy', 'auc', 'logLoss'].map((metric) => ({ metric, direction: metric === 'logLoss' ? ('LowerIsBetter' as const) : ('HigherIsBetter' as const), floor: denominatorFloor(metric) }));
    const opts = { n, metrics, resamples: 300, confidence: 0.95, seed: 1 };
    const same = pairedDegradations({ ...opts, candidate: metricEvaluator('classification', good, y), baseline: metricEvaluator('classification', good, y) });
    for (const m of same) assert.deepEqual([m.degradation, m.lower, m.upper], [0, 0, 0], m.metric);
    const worse = pairedDegradations({ ...opts, candidate: metricEvaluator('classification', bad, y), baseline: metricEvaluator('classification', good, y) });
    const acc = worse.find((m) => m.metric === 'accuracy')!;
    assert.ok(Math.abs(acc.degradation - (0.92 - 0.7) / 0.92) < 0.03, `accuracy degradation ${acc.degradation}`);
    assert.ok(acc.lower > 0.15 && acc.lower < acc.degradation && acc.degradation < acc.upper, JSON.stringify(acc));
    assert.equal(acc.resamples, 300);
    // Deterministic for a seed.
    const again = pairedDegradations({ ...opts, candidate: metricEvaluator('classification', bad, y), baseline: metricEvaluator('classification', good, y) });
    assert.deepEqual(again, worse);
  });

  it('per-sample contributions give the evaluator\'s values, and the fast resampling path the same bounds', () => {
    const rng = mulberry32(9);
    const n = 1500;
    const y3 = Float64Array.from({ length: n }, () => Math.floor(rng() * 3));
    const probs = Array.from({ length: n }, (_, i) => {
      const row = [rng(), rng(), rng()];
      row[y3[i]!]! += rng() < 0.7 ? 1 : 0;
      const s = row[0]! + row[1]! + row[2]!;
      return row.map((v) => v / s);
    });
    const evalM = metricEvaluator('classification', probs, y3)();
    for (const metric of ['accuracy', 'logLoss']) {
      const ps = perSampleValues('classification', probs, y3, metric)!;
      const mean = ps.values.reduce((a, v) => a + v, 0) / n;
      assert.ok(Math.abs(ps.finish(mean) - evalM[metric]!) < 1e-12, metric);
    }
    const yr = Float64Array.from({ length: n }, () => rng() * 100);
    const pr = Float64Array.from(yr, (v) => v + (rng() - 0.5) * 20);
    const evalR = metricEvaluator('regression', pr, yr)();
    for (const metric of ['mae', 'rmse']) {
      const ps = perSampleValues('regression', pr, yr, metric)!;
      assert.ok(Math.abs(ps.finish(ps.values.reduce((a, v) => a + v, 0) / n) - evalR[metric]!) < 1e-9, metric);
    }
    assert.equal(perSampleValues('classification', probs, y3, 'auc'), undefined, 'AUC is not a mean');
    // Same seed, same resamples: the fast path and the evaluator path agree.
    const other = probs.map((r) => [r[1]!, r[0]!, r[2]!]);
    const base = { n, resamples: 200, confidence: 0.95, seed: 4, candidate: metricEvaluator('classification', other, y3), baseline: metricEvaluator('classification', probs, y3) };
    const slow = pairedDegradations({ ...base, metrics: [{ metric: 'accuracy', direction: 'HigherIsBetter', floor: 0 }] })[0]!;
    const fast = pairedDegradations({ ...base, metrics: [{ metric: 'accuracy', direction: 'HigherIsBetter', floor: 0, perSample: { candidate: perSampleValues('classification', other, y3, 'accuracy')!, baseline: perSampleValues('classification', probs, y3, 'accuracy')! } }] })[0]!;
    assert.ok(Math.abs(fast.lower - slow.lower) < 1e-12 && Math.abs(fast.upper - slow.upper) < 1e-12, `${JSON.stringify(fast)} vs ${JSON.stringify(slow)}`);
    assert.ok(fast.lower > 0, 'a candidate with two classes swapped is worse');
  });

  it('the critical metric defaults to the task primary one; others are reported, not blocking', () => {
    assert.deepEqual(criticalMetricsFor('classification', undefined), ['accuracy']);
    assert.deepEqual(criticalMetricsFor('conversion', undefined), [PRIMARY_METRIC.conversion]);
    assert.deepEqual(criticalMetricsFor('regression', undefined), ['rmse']);
    const m = (metric: string, e: Evidence): RegressionMetric => ({ ...e, metric, source: 'holdout', direction: 'HigherIsBetter', candidate: 0, baseline: 0, floor: 0, resamples: 1000 });
    const base = { task: 'classification' as const, training: [], criticalMetrics: undefined, bands: DEFAULT_BANDS, blockAt: 'SEVERE' as const, policy: 'Block' as const, problems: [], measured: true };
    // logLoss far worse (say +137% on a near-zero baseline) while accuracy is flat: passes, logLoss reported CRITICAL.
    const j = judgeRegression({ ...base, holdout: [m('accuracy', ev(0, -0.02, 0.02)), m('logLoss', ev(1.37, -0.3, 2.5))] });
    assert.equal(j.decision, 'Pass');
    assert.equal(j.comparisons.find((c) => c.metric === 'logLoss')!.severity, 'CRITICAL');
    assert.equal(j.comparisons.find((c) => c.metric === 'logLoss')!.critical, false);
    // Declared critical, it decides.
    const k = judgeRegression({ ...base, criticalMetrics: ['logLoss'], holdout: [m('accuracy', ev(0, -0.02, 0.02)), m('logLoss', ev(1.37, 0.5, 2.5))] });
    assert.equal(k.decision, 'Regression');
    assert.equal(k.deciding?.metric, 'logLoss');
    // A declared critical metric that was never measured is never a pass.
    const missing = judgeRegression({ ...base, criticalMetrics: ['ndcg'], holdout: [m('accuracy', ev(0, 0, 0))] });
    assert.equal(missing.decision, 'Regression');
    assert.match(missing.message, /critical metric 'ndcg' was not measured/);
  });
});
