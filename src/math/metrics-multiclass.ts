// Multi-class classification metrics: one probability per class against class-id (or one-hot)
// labels; precision, recall, F1 and AUC as macro averages. Pure: no I/O.
import { anyNaN, clip, labelsAsClassIds, METRICS_BY_TASK, nanRecord, orderBy, sweepAuc, Weights } from './metrics-core.js';
import type { Matrix, MetricEvaluator } from './metrics-core.js';

/** Per-class weighted counts of one evaluation, reused across resamples. */
interface ClassCounts {
  tp: Float64Array;
  predicted: Float64Array;
  support: Float64Array;
}

/** The evaluator of a multi-class task: predictions of width k >= 3, one probability per class. */
export function multiclassEvaluator(p: Matrix, y: Matrix): MetricEvaluator {
  const names = METRICS_BY_TASK.classification;
  const { n, width: k, values: probs } = p;
  const { ids: label, nan: labelNaN } = labelsAsClassIds(y, k);
  const nan = labelNaN || anyNaN(probs);
  const pred = predictedClasses(probs, n, k);
  const weights = new Weights(n);
  const orders: (Uint32Array | undefined)[] = new Array(k);
  const counts: ClassCounts = { tp: new Float64Array(k), predicted: new Float64Array(k), support: new Float64Array(k) };
  return (indices, only) => {
    const want = only ?? names;
    const { w, total } = weights.for(indices);
    if (nan || total === 0) return nanRecord(names.filter((m) => want.includes(m)));
    const { correct, ll } = countClasses(counts, label, pred, probs, k, w);
    const { classes, sp, sr, sf } = macroSums(counts, k);
    const out: Record<string, number> = {};
    if (want.includes('accuracy')) out.accuracy = correct / total;
    if (want.includes('precision')) out.precision = sp / classes;
    if (want.includes('recall')) out.recall = sr / classes;
    if (want.includes('f1')) out.f1 = sf / classes;
    if (want.includes('auc')) {
      // One-vs-rest per class that has positives in this sample; NaN unless at least two classes do.
      let sum = 0, used = 0;
      for (let c = 0; c < k; c++) {
        if (counts.support[c] === 0 || counts.support[c] === total) continue;
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

/** Each sample's predicted class: the first maximum wins ties, like numpy.argmax. */
function predictedClasses(probs: Float64Array, n: number, k: number): Int32Array {
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probs[i * k + c] as number) > (probs[i * k + best] as number)) best = c;
    pred[i] = best;
  }
  return pred;
}

/** Fills the per-class counts for the weights w; returns the weight of correct predictions and the summed log loss. */
function countClasses(
  counts: ClassCounts,
  label: Int32Array,
  pred: Int32Array,
  probs: Float64Array,
  k: number,
  w: Uint32Array,
): { correct: number; ll: number } {
  const { tp, predicted, support } = counts;
  tp.fill(0); predicted.fill(0); support.fill(0);
  let correct = 0, ll = 0;
  for (let i = 0; i < label.length; i++) {
    const wi = w[i] as number;
    if (wi === 0) continue;
    const yi = label[i] as number;
    const pi = pred[i] as number;
    predicted[pi]! += wi;
    support[yi]! += wi;
    if (pi === yi) { correct += wi; tp[yi]! += wi; }
    ll -= wi * Math.log(clip(probs[i * k + yi] as number));
  }
  return { correct, ll };
}

/**
 * Sums of per-class precision, recall and F1 over the classes seen in the labels or the
 * predictions (scikit-learn's rule for macro averages), and how many classes that is.
 */
function macroSums(counts: ClassCounts, k: number): { classes: number; sp: number; sr: number; sf: number } {
  const { tp, predicted, support } = counts;
  let classes = 0, sp = 0, sr = 0, sf = 0;
  for (let c = 0; c < k; c++) {
    if (support[c] === 0 && predicted[c] === 0) continue;
    classes++;
    const t = tp[c] as number, fpc = (predicted[c] as number) - t, fnc = (support[c] as number) - t;
    sp += t + fpc > 0 ? t / (t + fpc) : 0;
    sr += t + fnc > 0 ? t / (t + fnc) : 0;
    sf += t > 0 ? (2 * t) / (2 * t + fpc + fnc) : 0;
  }
  return { classes, sp, sr, sf };
}
