// The machinery every metric evaluator shares: predictions and labels as one matrix shape, the
// shape and probability checks, resamples as per-sample weights, labels as class ids, the
// weighted AUC sweep. Pure: no I/O. metrics.ts documents the shapes and the NaN policy.
import type { HoldoutTask } from '../api/types.js';

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

/** Predictions or labels as one shape: n samples of `width` values each. */
export interface Matrix {
  n: number;
  width: number;
  values: Float64Array; // sample-major, n * width
}

export function toMatrix(x: Predictions | Labels, what: string): Matrix {
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

/** Whether any value is NaN (which makes every metric NaN). */
export function anyNaN(values: Float64Array): boolean {
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) return true;
  return false;
}

/** Throws unless predictions and labels pair up one to one. */
export function checkSameLength(p: Matrix, y: Matrix): void {
  if (p.n !== y.n) {
    throw new RangeError(`predictions hold ${p.n} samples but labels hold ${y.n}; they must pair up one to one`);
  }
}

/** Throws unless every value is a probability (within rounding); NaN is left to the NaN rule. */
export function checkProbabilities(values: Float64Array): void {
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

/** A probability clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] for log loss. */
export function clip(p: number): number {
  return p < LOG_LOSS_EPS ? LOG_LOSS_EPS : p > 1 - LOG_LOSS_EPS ? 1 - LOG_LOSS_EPS : p;
}

/** Indices (sample ids, repetition allowed) as per-sample multiplicities; all ones when absent. */
export class Weights {
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
export function orderBy(values: Float64Array, n: number, stride: number, offset: number): Uint32Array {
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
export function sweepAuc(
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

/** NaN for each named metric (the NaN rule, and zero samples). */
export function nanRecord(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) out[name] = NaN;
  return out;
}

/** Evaluates the task's metrics on all samples, or on a resample given as sample indices. */
export type MetricEvaluator = (indices?: ArrayLike<number>, only?: readonly string[]) => Record<string, number>;

/** Labels as class ids in [0, k): one id per sample, or the argmax of one-hot rows; `nan` when any is NaN. */
export function labelsAsClassIds(y: Matrix, k: number): { ids: Int32Array; nan: boolean } {
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
