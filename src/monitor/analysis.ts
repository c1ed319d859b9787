// The analysis judge, as one module: PromQL templates (promql.ts), judging one Prometheus answer
// into a measurement (judge.ts), and counting measurements and deciding from them (decide.ts).
// All pure, so every rule is unit-tested. Fetching a number (prometheus.ts) and judging it are
// separate steps, as in Argo Rollouts.
export { QUERY_PLACEHOLDERS, fillPlaceholders, renderQuery, templatePlaceholders, type FillOptions, type QueryPlaceholder, type QueryVars } from './promql.js';
export { judge, type JudgeOptions } from './judge.js';
export {
  ANALYSIS_DEFAULTS, appendMeasurements, decide, updateCounts, type CountsByMetric, type Decision, type DecisionAction, type MetricCounts,
} from './decide.js';
