// Regression metrics: predictions compared with labels value by value. Pure: no I/O.
import { anyNaN, METRICS_BY_TASK, nanRecord, Weights } from './metrics-core.js';
import type { Matrix, MetricEvaluator } from './metrics-core.js';

/** The regression evaluator (mae, rmse over every value of every sample); widths must match. */
export function regressionEvaluator(p: Matrix, y: Matrix): MetricEvaluator {
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
