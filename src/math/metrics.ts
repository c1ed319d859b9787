// Model-quality metrics over holdout predictions and labels. Pure: no I/O.
//
// Shapes accepted:
// - predictions: one number per sample (a flat array: the positive-class probability for binary
//   and conversion, the value for regression) or one row per sample (number[][] / typed rows).
//   Classification rows of width 1 or 2 are binary (the positive class is column 0 for width 1,
//   column 1 for width 2); width >= 3 is multi-class with one probability per class.
// - labels: one number per sample, or one row per sample. Classification rows of width > 1 are
//   read as one-hot (argmax); regression compares rows element by element.
//
// NaN policy: a NaN in any prediction or label makes every metric NaN (NaN never passes a gate).
// Zero samples also gives NaN for every metric. Shape errors (length mismatch, a label that is not
// a class id, probabilities outside [0, 1]) throw RangeError: they are configuration mistakes that
// no number can describe honestly.
//
// Every metric can be evaluated on a resample (indices drawn with repetition) in O(n) without
// re-sorting, through metricEvaluator(): resampling is turned into per-sample weights.
import type { Direction, HoldoutTask } from '../api/types.js';
import {
  anyNaN,
  checkProbabilities,
  checkSameLength,
  clip,
  labelsAsClassIds,
  METRICS_BY_TASK,
  nanRecord,
  toMatrix,
} from './metrics-core.js';
import type { Labels, MetricEvaluator, Predictions } from './metrics-core.js';
import { binaryEvaluator } from './metrics-binary.js';
import { multiclassEvaluator } from './metrics-multiclass.js';
import { regressionEvaluator } from './metrics-regression.js';

export { LOG_LOSS_EPS, METRICS_BY_TASK } from './metrics-core.js';
export type { Labels, MetricEvaluator, Predictions } from './metrics-core.js';

/**
 * Prepares predictions and labels once and returns a function that computes the task's metrics on
 * all samples, or on a resample given as sample indices (repetition allowed; O(n) per call, no
 * re-sorting), optionally only the named metrics. Throws RangeError on shape errors.
 * Use it for bootstrap statistics: `(idx) => evalCand(idx, ['auc']).auc - evalBase(idx, ['auc']).auc`.
 */
export function metricEvaluator(task: HoldoutTask, predictions: Predictions, labels: Labels): MetricEvaluator {
  const names = METRICS_BY_TASK[task];
  if (!names) throw new RangeError(`unknown holdout task ${String(task)}; use classification, regression or conversion`);
  const p = toMatrix(predictions, 'predictions');
  const y = toMatrix(labels, 'labels');
  checkSameLength(p, y);
  if (p.n === 0) return (_indices, only) => nanRecord(names.filter((m) => (only ?? names).includes(m)));
  if (task === 'regression') return regressionEvaluator(p, y);
  checkProbabilities(p.values);
  if (task === 'conversion') {
    if (p.width > 2) throw new RangeError(`conversion predictions must be one probability per sample, got ${p.width} values per sample`);
    if (y.width !== 1) throw new RangeError(`conversion labels must be one 0/1 value per sample, got ${y.width} values per sample`);
    return binaryEvaluator('conversion', p, y);
  }
  if (p.width <= 2) {
    if (y.width !== 1) {
      // One-hot binary labels: reduce to class ids first.
      const { ids, nan } = labelsAsClassIds(y, 2);
      const values = Float64Array.from(ids);
      if (nan) values.fill(NaN);
      return binaryEvaluator('classification', p, { n: y.n, width: 1, values });
    }
    return binaryEvaluator('classification', p, y);
  }
  return multiclassEvaluator(p, y);
}

/** Every metric of the task (METRICS_BY_TASK) on all samples; zero samples gives NaN for each. */
export function computeMetrics(task: HoldoutTask, predictions: Predictions, labels: Labels): Record<string, number> {
  return metricEvaluator(task, predictions, labels)();
}

function one(task: HoldoutTask, name: string, predictions: Predictions, labels: Labels): number {
  return metricEvaluator(task, predictions, labels)(undefined, [name])[name] as number;
}

/** Fraction of samples whose predicted class (argmax, or p >= 0.5 for binary) equals the label. */
export function accuracy(predictions: Predictions, labels: Labels): number {
  return one('classification', 'accuracy', predictions, labels);
}

/** Positive-class precision for binary, macro-averaged for multi-class; no predicted positives counts 0. */
export function precision(predictions: Predictions, labels: Labels): number {
  return one('classification', 'precision', predictions, labels);
}

/** Positive-class recall for binary, macro-averaged for multi-class; no actual positives counts 0. */
export function recall(predictions: Predictions, labels: Labels): number {
  return one('classification', 'recall', predictions, labels);
}

/** Positive-class F1 for binary, macro-averaged per-class F1 for multi-class. */
export function f1(predictions: Predictions, labels: Labels): number {
  return one('classification', 'f1', predictions, labels);
}

/** ROC AUC (ties by average rank); multi-class is the macro one-vs-rest mean. NaN with a single class. */
export function auc(predictions: Predictions, labels: Labels): number {
  return one('classification', 'auc', predictions, labels);
}

/** Mean negative log-likelihood of the true class, probabilities clipped to [1e-15, 1 - 1e-15]. */
export function logLoss(predictions: Predictions, labels: Labels): number {
  return one('classification', 'logLoss', predictions, labels);
}

/** Mean absolute error over every value of every sample. */
export function mae(predictions: Predictions, labels: Labels): number {
  return one('regression', 'mae', predictions, labels);
}

/** Root mean squared error over every value of every sample. */
export function rmse(predictions: Predictions, labels: Labels): number {
  return one('regression', 'rmse', predictions, labels);
}

/** Mean predicted probability / observed positive rate (1 = calibrated); NaN when nothing converted. */
export function calibration(predictions: Predictions, labels: Labels): number {
  return one('conversion', 'calibration', predictions, labels);
}

const HIGHER = new Set([
  'accuracy', 'precision', 'recall', 'f1', 'auc', 'roas', 'ctr', 'conversionrate', 'throughput', 'successrate',
  'r2', 'revenue', 'ndcg', 'map', 'hitrate',
]);
const LOWER = new Set(['logloss', 'mae', 'mse', 'rmse', 'mape', 'calibrationerror', 'errorrate', 'cost', 'cpa']);
const DISPLAY_ONLY = new Set(['calibration']);

/** Metrics that are reported but have no better direction (compare calibrationError instead). */
export function isDisplayOnlyMetric(name: string): boolean {
  return DISPLAY_ONLY.has(name.toLowerCase());
}

/**
 * Which way is better for a metric. Known names come from a table; other names fall back to a
 * rule: names mentioning latency, loss, error, duration or memory, or ending in a unit (ms,
 * seconds, bytes, mib), are LowerIsBetter; everything else is HigherIsBetter.
 * Throws RangeError for display-only metrics (`calibration`: closer to 1 is better, so neither
 * direction is right; compare `calibrationError` = |calibration - 1|, LowerIsBetter).
 */
export function metricDirection(name: string): Direction {
  const key = name.toLowerCase();
  if (DISPLAY_ONLY.has(key)) {
    throw new RangeError(`${name} is display-only (closer to 1 is better); compare calibrationError instead`);
  }
  if (HIGHER.has(key)) return 'HigherIsBetter';
  if (LOWER.has(key)) return 'LowerIsBetter';
  if (/latency|loss|error|duration|memory/.test(key) || /(ms|seconds|bytes|mib)$/.test(key)) return 'LowerIsBetter';
  return 'HigherIsBetter';
}

/**
 * Per-sample contributions of a metric that is a mean over samples (accuracy, logLoss, mae, and
 * rmse as the root of a mean), so a bootstrap resample costs one sum instead of an evaluator
 * pass: metric = finish(mean of values over the resample). Undefined for metrics that are not
 * means (auc, precision, recall, f1, calibration), and when any value is NaN (the evaluator's
 * NaN rule then applies). Same shapes and rules as metricEvaluator.
 */
export function perSampleValues(task: HoldoutTask, predictions: Predictions, labels: Labels, metric: string): { values: Float64Array; finish: (mean: number) => number } | undefined {
  const p = toMatrix(predictions, 'predictions');
  const y = toMatrix(labels, 'labels');
  checkSameLength(p, y);
  const n = p.n;
  if (n === 0 || anyNaN(p.values) || anyNaN(y.values)) return undefined;
  const values = new Float64Array(n);
  const identity = (m: number): number => m;
  if (task === 'regression') {
    if (p.width !== y.width || (metric !== 'mae' && metric !== 'rmse')) return undefined;
    const d = p.width;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const e = (p.values[i * d + j] as number) - (y.values[i * d + j] as number);
        s += metric === 'mae' ? Math.abs(e) : e * e;
      }
      values[i] = s / d;
    }
    return { values, finish: metric === 'rmse' ? Math.sqrt : identity };
  }
  if (metric !== 'accuracy' && metric !== 'logLoss') return undefined;
  if (task === 'conversion' && metric === 'accuracy') return undefined;
  if (p.width <= 2) {
    const col = p.width === 2 ? 1 : 0;
    const ids = y.width === 1 ? y.values : Float64Array.from(labelsAsClassIds(y, 2).ids);
    for (let i = 0; i < n; i++) {
      const s = p.values[i * p.width + col] as number;
      const yi = ids[i] as number;
      if (yi !== 0 && yi !== 1) return undefined;
      values[i] = metric === 'accuracy' ? ((s >= 0.5 ? 1 : 0) === yi ? 1 : 0) : -Math.log(clip(yi === 1 ? s : 1 - s));
    }
    return { values, finish: identity };
  }
  const k = p.width;
  const { ids } = labelsAsClassIds(y, k);
  for (let i = 0; i < n; i++) {
    const yi = ids[i] as number;
    if (metric === 'logLoss') {
      values[i] = -Math.log(clip(p.values[i * k + yi] as number));
      continue;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if ((p.values[i * k + c] as number) > (p.values[i * k + best] as number)) best = c;
    values[i] = best === yi ? 1 : 0;
  }
  return { values, finish: identity };
}
