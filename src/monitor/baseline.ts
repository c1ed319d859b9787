// A metric's baseline: the queries that ask Prometheus for the previous checkpoint's value, and
// the number an answer gives. Pure (eslint enforces it); the guard asks the provider.
import type { AnalysisMetricSpec } from '../api/types.js';
import { renderQuery, type QueryVars } from './promql.js';
import type { QueryResult } from './prometheus.js';

/**
 * The baseline queries, each with the time to ask it at, in the order to try: the explicit
 * baselineQuery now, or else the metric's query over the previous checkpoint's series (`vars`
 * name it) before the rollout began. Throws as renderQuery does.
 */
export function baselineQueries(metric: AnalysisMetricSpec, vars: QueryVars, windowSeconds: number | undefined, deployedAt: Date, now: Date): Array<[string, Date]> {
  // The previous checkpoint's series averaged over the window before the rollout began,
  // so a few missing scrapes at that instant still give a baseline.
  // `>= -Inf` drops NaN points (a ratio with no traffic between two scrapes), which would
  // otherwise make the whole average NaN. A series younger than one subquery step has no
  // window yet: then the instant value at the rollout is the baseline.
  const windowS = Math.max(1, Math.round(windowSeconds ?? 600));
  const base = renderQuery(metric.query, vars);
  return metric.baselineQuery
    ? [[renderQuery(metric.baselineQuery, vars), now]]
    : [[`avg_over_time(((${base}) >= -Inf)[${windowS}s:])`, deployedAt], [base, deployedAt]];
}

/** The baseline an answer gives: the mean of its finite values, or undefined if it has none. */
export function baselineFrom(r: QueryResult): number | undefined {
  const values = r.kind === 'vector' ? r.samples.map((s) => s.value) : r.kind === 'scalar' ? [r.value] : [];
  const finite = values.filter(Number.isFinite);
  return finite.length > 0 ? finite.reduce((a, b) => a + b, 0) / finite.length : undefined;
}
