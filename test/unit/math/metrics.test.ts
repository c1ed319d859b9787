import assert from 'node:assert/strict';
import {
  accuracy, auc, calibration, computeMetrics, f1, isDisplayOnlyMetric, logLoss, mae, metricDirection,
  metricEvaluator, METRICS_BY_TASK, precision, recall, rmse,
} from '../../../src/math/metrics.js';

const close = (actual: number, expected: number, tol = 1e-9): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);

const oneHot = (classes: number[], k: number): number[][] => classes.map((c) => Array.from({ length: k }, (_, j) => (j === c ? 1 : 0)));

describe('math/metrics', () => {
  describe('classification', () => {
    it('AUC of the scikit-learn example is 0.75', () => {
      // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
      assert.equal(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
      // the same as two-column probability rows (positive class = column 1)
      assert.equal(auc([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]], [0, 0, 1, 1]), 0.75);
    });

    it('AUC counts ties as half (average rank)', () => {
      assert.equal(auc([0.5, 0.5], [0, 1]), 0.5);
      // positives 0.5 and 0.9 against negatives 0.2 and 0.5: (1 + 0.5 + 1 + 1) / 4
      assert.equal(auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]), 0.875);
      assert.equal(auc([0.9, 0.8, 0.1], [0, 0, 1]), 0);
    });

    it('AUC is NaN with a single class', () => {
      assert.ok(Number.isNaN(auc([0.1, 0.9], [1, 1])));
    });

    it('log loss matches the scikit-learn example (0.21616...)', () => {
      // sklearn.metrics.log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]])
      close(logLoss([[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]], [1, 0, 0, 1]), 0.21616187468057912, 1e-12);
      close(logLoss([0.9, 0.1, 0.2, 0.65], [1, 0, 0, 1]), 0.21616187468057912, 1e-12);
    });

    it('clips log loss at 1e-15 so a confident miss is finite', () => {
      close(logLoss([0, 1], [1, 0]), -Math.log(1e-15), 1e-9);
      // three classes: -mean(log p[true]) with p = 0.7, 0.5, clip(0)
      close(logLoss([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25], [1, 0, 0]], [0, 1, 2]), -(Math.log(0.7) + Math.log(0.5) + Math.log(1e-15)) / 3);
    });

    it('binary accuracy, precision, recall and f1 use the positive class at p >= 0.5', () => {
      const p = [0.9, 0.4, 0.6, 0.1, 0.8, 0.5];
      const y = [1, 1, 0, 0, 1, 0];
      // predicted [1, 0, 1, 0, 1, 1]: tp 2, fp 2, fn 1, tn 1
      close(accuracy(p, y), 3 / 6);
      close(precision(p, y), 2 / 4);
      close(recall(p, y), 2 / 3);
      close(f1(p, y), (2 * 2) / (2 * 2 + 2 + 1));
    });

    it('macro-averages multi-class precision, recall and f1 like the scikit-learn example', () => {
      // sklearn docs: y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]
      const pred = oneHot([0, 2, 1, 0, 0, 1], 3);
      const y = [0, 1, 2, 0, 1, 2];
      close(precision(pred, y), 0.2222222222222222);
      close(recall(pred, y), 0.3333333333333333);
      close(f1(pred, y), 0.26666666666666666);
      close(accuracy(pred, y), 2 / 6);
      // sklearn accuracy_score([0, 2, 1, 3], [0, 1, 2, 3]) == 0.5
      assert.equal(accuracy(oneHot([0, 1, 2, 3], 4), [0, 2, 1, 3]), 0.5);
    });

    it('multi-class AUC is the macro one-vs-rest mean', () => {
      const probs = [
        [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4], [0.4, 0.35, 0.25],
      ];
      const y = [0, 1, 2, 1, 2, 0];
      const perClass = [0, 1, 2].map((c) => auc(probs.map((r) => r[c] as number), y.map((v) => (v === c ? 1 : 0))));
      // by hand: class 0 positives 0.6, 0.4 vs negatives 0.2, 0.1, 0.5, 0.3 -> 7/8 (0.4 < 0.5);
      // class 1 positives 0.5, 0.4 vs 0.3, 0.2, 0.3, 0.35 -> 1; class 2 positives 0.7, 0.4 vs 0.1, 0.3, 0.1, 0.25 -> 1
      assert.deepEqual(perClass, [0.875, 1, 1]);
      close(auc(probs, y), (0.875 + 1 + 1) / 3);
      // a class absent from the labels is left out of the mean rather than counted as 0 or 1
      close(auc(probs.slice(0, 4), [0, 1, 1, 0]), auc(probs.slice(0, 4).map((r) => r[0] as number), [1, 0, 0, 1]) / 2 + auc(probs.slice(0, 4).map((r) => r[1] as number), [0, 1, 1, 0]) / 2);
    });

    it('accepts one-hot label rows', () => {
      assert.equal(accuracy(oneHot([0, 2, 1], 3), oneHot([0, 2, 2], 3)), 2 / 3);
    });

    it('refuses shapes that no metric can describe', () => {
      assert.throws(() => accuracy([0.1, 0.2], [0, 1, 1]), /2 samples but labels hold 3/);
      assert.throws(() => accuracy([0.1, 0.9], [0, 2]), /label 2 at sample 1 is not 0 or 1/);
      assert.throws(() => accuracy(oneHot([0, 1, 2], 3), [0, 1, 3]), /not a class id in \[0, 2\]/);
      assert.throws(() => accuracy(oneHot([0, 1, 2], 3), [0, 1, 1.5]), /not a class id/);
      assert.throws(() => auc([2.5, -1], [0, 1]), /outside \[0, 1\].*outputName/);
      assert.throws(() => accuracy([[0.1, 0.9], [0.2, 0.3, 0.5]], [0, 1]), /predictions\[1\] has 3 values/);
    });
  });

  it('computes regression MAE and RMSE', () => {
    assert.equal(mae([1, 3, 5], [1, 2, 3]), 1);
    close(rmse([1, 3, 5], [1, 2, 3]), Math.sqrt(5 / 3));
    // rows compare element by element
    assert.equal(mae([[1, 2], [3, 4]], [[1, 3], [5, 4]]), 3 / 4);
    assert.throws(() => mae([[1, 2]], [1]), /2 values per sample but labels have 1/);
  });

  it('computes conversion AUC, log loss and calibration', () => {
    const m = computeMetrics('conversion', [0.4, 0.4, 0.4, 0.4, 0.4], [0, 0, 0, 0, 1]);
    assert.deepEqual(Object.keys(m), ['auc', 'logLoss', 'calibration', 'calibrationError']);
    close(m.calibration as number, 2);
    close(m.calibrationError as number, 1);
    assert.equal(m.auc, 0.5);
    close(m.logLoss as number, -(4 * Math.log(0.6) + Math.log(0.4)) / 5);
    close(calibration([0.1, 0.3], [0, 1]), 0.4);
  });

  it('gives NaN calibration (not a crash, not Infinity) when nothing converted', () => {
    const m = computeMetrics('conversion', [0.1, 0.2], [0, 0]);
    assert.ok(Number.isNaN(m.calibration));
    assert.ok(Number.isNaN(m.calibrationError));
    assert.ok(Number.isNaN(m.auc));
    assert.ok(Number.isFinite(m.logLoss));
  });

  it('gives NaN for every metric with zero samples', () => {
    for (const task of ['classification', 'regression', 'conversion'] as const) {
      const m = computeMetrics(task, [], []);
      assert.deepEqual(Object.keys(m), [...METRICS_BY_TASK[task]]);
      for (const [k, v] of Object.entries(m)) assert.ok(Number.isNaN(v), `${task} ${k}`);
    }
  });

  it('gives NaN for every metric when a prediction or label is NaN', () => {
    for (const m of [
      computeMetrics('classification', [0.9, NaN, 0.2], [1, 0, 0]),
      computeMetrics('classification', [[0.2, 0.3, 0.5], [0.1, 0.1, NaN]], [2, 0]),
      computeMetrics('regression', [1, 2], [1, NaN]),
      computeMetrics('conversion', [0.1, 0.2], [NaN, 1]),
    ]) {
      for (const [k, v] of Object.entries(m)) assert.ok(Number.isNaN(v), k);
    }
  });

  it('evaluates a resample given as indices like the duplicated data', () => {
    const p = [0.9, 0.4, 0.6, 0.1, 0.8, 0.35];
    const y = [1, 1, 0, 0, 1, 0];
    const idx = [0, 0, 2, 3, 3, 3, 5, 1];
    const evaluate = metricEvaluator('classification', p, y);
    const viaIndices = evaluate(idx);
    const direct = computeMetrics('classification', idx.map((i) => p[i] as number), idx.map((i) => y[i] as number));
    for (const k of Object.keys(direct)) close(viaIndices[k] as number, direct[k] as number, 1e-12);
    assert.deepEqual(Object.keys(evaluate(idx, ['auc'])), ['auc']);
    assert.throws(() => evaluate([0, 6]), /sample index 6/);
    const probs = [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]];
    const cls = [0, 1, 2, 2];
    const mIdx = [1, 1, 2, 0, 3, 0];
    const mv = metricEvaluator('classification', probs, cls)(mIdx);
    const md = computeMetrics('classification', mIdx.map((i) => probs[i] as number[]), mIdx.map((i) => cls[i] as number));
    for (const k of Object.keys(md)) close(mv[k] as number, md[k] as number, 1e-12);
    // an empty resample has no samples: NaN, not 0
    assert.ok(Number.isNaN(evaluate([]).accuracy));
  });

  it('knows which direction is better', () => {
    for (const m of ['accuracy', 'precision', 'recall', 'f1', 'auc', 'roas', 'ctr', 'conversionRate', 'throughput']) {
      assert.equal(metricDirection(m), 'HigherIsBetter', m);
    }
    for (const m of ['logLoss', 'mae', 'rmse', 'latencyP95Ms', 'latency', 'calibrationError', 'p99Ms', 'memoryMiB']) {
      assert.equal(metricDirection(m), 'LowerIsBetter', m);
    }
    assert.ok(isDisplayOnlyMetric('calibration'));
    assert.ok(!isDisplayOnlyMetric('calibrationError'));
    assert.throws(() => metricDirection('calibration'), /calibrationError/);
  });
});
