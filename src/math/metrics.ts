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

export type Predictions = ArrayLike<number> | ArrayLike<ArrayLike<number>>;
export type Labels = ArrayLike<number> | ArrayLike<ArrayLike<number>>;

/** Log loss clips probabilities to [eps, 1 - eps] so a confident miss costs ~34.5, not Infinity. */
export const LOG_LOSS_EPS = 1e-15;

/** The metrics computeMetrics() returns per task, in this order. */
export const METRICS_BY_TASK: Readonly<Record<HoldoutTask, readonly string[]>> = {
  classification: ['accuracy', 'precision', 'recall', 'f1', 'auc', 'logLoss'],
  regression: ['mae', 'rmse'],
  conversion: ['auc', 'logLoss', 'calibration', 'calibrationError'],
};

/** Probabilities may overshoot [0, 1] by float rounding (softmax, sigmoid); beyond this they are not probabilities. */
const PROB_TOLERANCE = 1e-6;

interface Matrix {
  n: number;
  width: number;
  values: Float64Array; // sample-major, n * width
}

function toMatrix(x: Predictions | Labels, what: string): Matrix {
  const n = x.length;
  if (n === 0) return { n: 0, width: 0, values: new Float64Array(0) };
  const first = x[0];
  if (typeof first === 'number' || typeof first === 'bigint') {
    return { n, width: 1, values: Float64Array.from(x as ArrayLike<number>, Number) };
  }
  if (first === undefined || first === null || typeof (first as ArrayLike<number>).length !== 'number') {
    throw new RangeError(`${what}[0] is neither a number nor an array of numbers`);
  }
  const width = (first as ArrayLike<number>).length;
  if (width === 0) throw new RangeError(`${what}[0] is an empty row; every sample needs at least one value`);
  const values = new Float64Array(n * width);
  const rows = x as ArrayLike<ArrayLike<number>>;
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    if (row === undefined || row === null || row.length !== width) {
      throw new RangeError(`${what}[${i}] has ${row?.length ?? 'no'} values but ${what}[0] has ${width}; every row must have the same width`);
    }
    for (let j = 0; j < width; j++) values[i * width + j] = Number(row[j]);
  }
  return { n, width, values };
}

function anyNaN(values: Float64Array): boolean {
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) return true;
  return false;
}

function checkSameLength(p: Matrix, y: Matrix): void {
  if (p.n !== y.n) {
    throw new RangeError(`predictions hold ${p.n} samples but labels hold ${y.n}; they must pair up one to one`);
  }
}

function checkProbabilities(values: Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) continue; // NaN is reported as NaN metrics, not as a shape error
    if (!(v >= -PROB_TOLERANCE && v <= 1 + PROB_TOLERANCE)) {
      throw new RangeError(
        `prediction value ${v} (flat index ${i}) is outside [0, 1]: these metrics need probabilities; ` +
          'point the holdout gate at the probability output (outputName) or add a sigmoid/softmax to the model',
      );
    }
  }
}

function clip(p: number): number {
  return p < LOG_LOSS_EPS ? LOG_LOSS_EPS : p > 1 - LOG_LOSS_EPS ? 1 - LOG_LOSS_EPS : p;
}

/** Indices (sample ids, repetition allowed) as per-sample multiplicities; all ones when absent. */
class Weights {
  private counts: Uint32Array;
  private ones: Uint32Array | undefined;
  constructor(private readonly n: number) {
    this.counts = new Uint32Array(n);
  }
  for(indices: ArrayLike<number> | undefined): { w: Uint32Array; total: number } {
    if (indices === undefined) {
      this.ones ??= new Uint32Array(this.n).fill(1);
      return { w: this.ones, total: this.n };
    }
    const w = this.counts;
    w.fill(0);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j] as number;
      // Typed arrays ignore out-of-range writes, so a bad index would vanish silently without this.
      if (!(i >= 0 && i < this.n && Number.isInteger(i))) {
        throw new RangeError(`sample index ${i} is not an integer in [0, ${this.n})`);
      }
      w[i]! += 1;
    }
    return { w, total: indices.length };
  }
}

/** Ascending order of one score column (stride/offset pick the column). Ties keep input order. */
function orderBy(values: Float64Array, n: number, stride: number, offset: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => (values[a * stride + offset] as number) - (values[b * stride + offset] as number));
  return order;
}

/**
 * Weighted ROC AUC by one sweep over pre-sorted scores: each positive earns the weight of the
 * negatives scored below it plus half of those tied with it (the average-rank / Mann-Whitney rule).
 * NaN when either class has zero weight (AUC is undefined without both).
 */
function sweepAuc(
  order: Uint32Array,
  scores: Float64Array,
  stride: number,
  offset: number,
  isPositive: (i: number) => boolean,
  w: Uint32Array,
): number {
  let negBelow = 0;
  let num = 0;
  let pos = 0;
  let k = 0;
  const n = order.length;
  while (k < n) {
    const s = scores[(order[k] as number) * stride + offset] as number;
    let gp = 0;
    let gn = 0;
    while (k < n && scores[(order[k] as number) * stride + offset] === s) {
      const i = order[k] as number;
      const wi = w[i] as number;
      if (isPositive(i)) gp += wi;
      else gn += wi;
      k++;
    }
    num += gp * (negBelow + gn / 2);
    negBelow += gn;
    pos += gp;
  }
  const neg = negBelow;
  if (pos === 0 || neg === 0) return NaN;
  return num / (pos * neg);
}

function nanRecord(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) out[name] = NaN;
  return out;
}

/** Evaluates the task's metrics on all samples, or on a resample given as sample indices. */
export type MetricEvaluator = (indices?: ArrayLike<number>, only?: readonly string[]) => Record<string, number>;

function binaryEvaluator(task: 'classification' | 'conversion', p: Matrix, y: Matrix): MetricEvaluator {
  const names = METRICS_BY_TASK[task];
  const n = p.n;
  const col = p.width === 2 ? 1 : 0;
  const score = new Float64Array(n);
  for (let i = 0; i < n; i++) score[i] = p.values[i * p.width + col] as number;
  const label = new Uint8Array(n);
  let nan = anyNaN(score);
  for (let i = 0; i < n; i++) {
    const v = y.values[i] as number;
    if (Number.isNaN(v)) { nan = true; continue; }
    if (v !== 0 && v !== 1) {
      throw new RangeError(`label ${v} at sample ${i} is not 0 or 1; binary ${task} labels must be 0 (negative) or 1 (positive)`);
    }
    label[i] = v;
  }
  const weights = new Weights(n);
  let order: Uint32Array | undefined;
  return (indices, only) => {
    const want = only ?? names;
    const { w, total } = weights.for(indices);
    if (nan || total === 0) return nanRecord(names.filter((m) => want.includes(m)));
    const out: Record<string, number> = {};
    let tp = 0, fp = 0, fn = 0, correct = 0, ll = 0, sumP = 0, sumY = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i] as number;
      if (wi === 0) continue;
      const s = score[i] as number;
      const yi = label[i] as number;
      const pred = s >= 0.5 ? 1 : 0;
      if (pred === yi) correct += wi;
      if (pred === 1 && yi === 1) tp += wi;
      else if (pred === 1) fp += wi;
      else if (yi === 1) fn += wi;
      // Clip the probability of the true class (not p then 1 - p): 1 - (1 - 1e-15) is not 1e-15 in doubles.
      ll -= wi * Math.log(clip(yi === 1 ? s : 1 - s));
      sumP += wi * s;
      sumY += wi * yi;
    }
    // Zero-division conventions follow scikit-learn's default: an undefined ratio counts as 0.
    if (want.includes('accuracy') && names.includes('accuracy')) out.accuracy = correct / total;
    if (want.includes('precision') && names.includes('precision')) out.precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    if (want.includes('recall') && names.includes('recall')) out.recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    if (want.includes('f1') && names.includes('f1')) out.f1 = tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
    if (want.includes('auc')) {
      order ??= orderBy(score, n, 1, 0);
      out.auc = sweepAuc(order, score, 1, 0, (i) => label[i] === 1, w);
    }
    if (want.includes('logLoss')) out.logLoss = ll / total;
    if (task === 'conversion') {
      // Observed rate 0 makes the ratio undefined: NaN, never a divide-by-zero Infinity.
      const cal = sumY === 0 ? NaN : sumP / sumY;
      if (want.includes('calibration')) out.calibration = cal;
      if (want.includes('calibrationError')) out.calibrationError = Math.abs(cal - 1);
    }
    return out;
  };
}

function labelsAsClassIds(y: Matrix, k: number): { ids: Int32Array; nan: boolean } {
  const ids = new Int32Array(y.n);
  let nan = false;
  for (let i = 0; i < y.n; i++) {
    let v: number;
    if (y.width === 1) {
      v = y.values[i] as number;
    } else {
      // One-hot (or per-class score) rows: the class is the argmax.
      v = 0;
      let best = -Infinity;
      for (let c = 0; c < y.width; c++) {
        const x = y.values[i * y.width + c] as number;
        if (Number.isNaN(x)) { v = NaN; break; }
        if (x > best) { best = x; v = c; }
      }
    }
    if (Number.isNaN(v)) { nan = true; continue; }
    if (!Number.isInteger(v) || v < 0 || v >= k) {
      throw new RangeError(`label ${v} at sample ${i} is not a class id in [0, ${k - 1}] (the model outputs ${k} class probabilities)`);
    }
    ids[i] = v;
  }
  return { ids, nan };
}

function multiclassEvaluator(p: Matrix, y: Matrix): MetricEvaluator {
  const names = METRICS_BY_TASK.classification;
  const { n, width: k, values: probs } = p;
  const { ids: label, nan: labelNaN } = labelsAsClassIds(y, k);
  const nan = labelNaN || anyNaN(probs);
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probs[i * k + c] as number) > (probs[i * k + best] as number)) best = c;
    pred[i] = best; // first maximum wins ties, like numpy.argmax
  }
  const weights = new Weights(n);
  const orders: (Uint32Array | undefined)[] = new Array(k);
  const tp = new Float64Array(k);
  const predicted = new Float64Array(k);
  const support = new Float64Array(k);
  return (indices, only) => {
    const want = only ?? names;
    const { w, total } = weights.for(indices);
    if (nan || total === 0) return nanRecord(names.filter((m) => want.includes(m)));
    tp.fill(0); predicted.fill(0); support.fill(0);
    let correct = 0, ll = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i] as number;
      if (wi === 0) continue;
      const yi = label[i] as number;
      const pi = pred[i] as number;
      predicted[pi]! += wi;
      support[yi]! += wi;
      if (pi === yi) { correct += wi; tp[yi]! += wi; }
      ll -= wi * Math.log(clip(probs[i * k + yi] as number));
    }
    // Macro averages run over the classes seen in the labels or the predictions (scikit-learn's rule).
    let classes = 0, sp = 0, sr = 0, sf = 0;
    for (let c = 0; c < k; c++) {
      if (support[c] === 0 && predicted[c] === 0) continue;
      classes++;
      const t = tp[c] as number, fpc = (predicted[c] as number) - t, fnc = (support[c] as number) - t;
      sp += t + fpc > 0 ? t / (t + fpc) : 0;
      sr += t + fnc > 0 ? t / (t + fnc) : 0;
      sf += t > 0 ? (2 * t) / (2 * t + fpc + fnc) : 0;
    }
    const out: Record<string, number> = {};
    if (want.includes('accuracy')) out.accuracy = correct / total;
    if (want.includes('precision')) out.precision = sp / classes;
    if (want.includes('recall')) out.recall = sr / classes;
    if (want.includes('f1')) out.f1 = sf / classes;
    if (want.includes('auc')) {
      // One-vs-rest per class that has positives in this sample; NaN unless at least two classes do.
      let sum = 0, used = 0;
      for (let c = 0; c < k; c++) {
        if (support[c] === 0 || support[c] === total) continue;
        const order = (orders[c] ??= orderBy(probs, n, k, c));
        sum += sweepAuc(order, probs, k, c, (i) => label[i] === c, w);
        used++;
      }
      out.auc = used >= 2 ? sum / used : NaN;
    }
    if (want.includes('logLoss')) out.logLoss = ll / total;
    return out;
  };
}

function regressionEvaluator(p: Matrix, y: Matrix): MetricEvaluator {
  const names = METRICS_BY_TASK.regression;
  if (p.width !== y.width) {
    throw new RangeError(`predictions have ${p.width} values per sample but labels have ${y.width}; regression compares them one to one`);
  }
  const { n, width: d } = p;
  const nan = anyNaN(p.values) || anyNaN(y.values);
  const weights = new Weights(n);
  return (indices, only) => {
    const want = only ?? names;
    const { w, total } = weights.for(indices);
    if (nan || total === 0) return nanRecord(names.filter((m) => want.includes(m)));
    let abs = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i] as number;
      if (wi === 0) continue;
      for (let j = 0; j < d; j++) {
        const e = (p.values[i * d + j] as number) - (y.values[i * d + j] as number);
        abs += wi * Math.abs(e);
        sq += wi * e * e;
      }
    }
    const out: Record<string, number> = {};
    if (want.includes('mae')) out.mae = abs / (total * d);
    if (want.includes('rmse')) out.rmse = Math.sqrt(sq / (total * d));
    return out;
  };
}

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
