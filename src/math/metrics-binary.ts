// Binary classification and conversion metrics: one positive-class score per sample against 0/1
// labels. Pure: no I/O.
import { anyNaN, clip, METRICS_BY_TASK, nanRecord, orderBy, sweepAuc, Weights } from './metrics-core.js';
import type { Matrix, MetricEvaluator } from './metrics-core.js';

/**
 * The evaluator of a binary task: predictions of width 1 (the positive-class probability) or 2
 * (column 1 is the positive class), labels one 0/1 value per sample.
 */
export function binaryEvaluator(task: 'classification' | 'conversion', p: Matrix, y: Matrix): MetricEvaluator {
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
