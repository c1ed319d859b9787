// Counting measurements and deciding from the counts: the per-metric counters kept in status,
// the newest measurements kept, and the one decision (Rollback, Hold, Continue, Healthy) they
// lead to. Pure (eslint enforces it): elapsed time is passed in.
import type { AnalysisAction, AnalysisMetricSpec, AnalysisSpec, Measurement } from '../api/types.js';
import { AnalysisReasons, type AnalysisReason } from '../api/reasons.js';

export const ANALYSIS_DEFAULTS = {
  durationSeconds: 600,
  failureLimit: 0,
  inconclusiveLimit: 3,
  errorLimit: 3,
  onError: 'Hold' as AnalysisAction,
  onInconclusive: 'Hold' as AnalysisAction,
  keepMeasurements: 10,
} as const;

export interface MetricCounts {
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
}
export type CountsByMetric = Record<string, MetricCounts>;

const ZERO: MetricCounts = { successful: 0, failed: 0, inconclusive: 0, error: 0 };

/**
 * Adds measurements to the per-metric counters (returns a new object).
 * `successful`, `failed` and `inconclusive` are totals; `error` counts CONSECUTIVE errors and
 * is reset by any answer from Prometheus, so a short outage followed by recovery does not
 * accumulate towards the error limit (Argo Rollouts' consecutiveErrorLimit).
 */
export function updateCounts(counts: CountsByMetric | undefined, measurements: readonly Measurement[]): CountsByMetric {
  const next: CountsByMetric = {};
  for (const [k, v] of Object.entries(counts ?? {})) next[k] = { ...v };
  for (const m of measurements) {
    const c = (next[m.metric] ??= { ...ZERO });
    switch (m.phase) {
      case 'Successful':
        c.successful += 1;
        c.error = 0;
        break;
      case 'Failed':
        c.failed += 1;
        c.error = 0;
        break;
      case 'Inconclusive':
        c.inconclusive += 1;
        c.error = 0;
        break;
      case 'Error':
        c.error += 1;
        break;
    }
  }
  return next;
}

/** Appends new measurements and keeps the newest `keep` per metric, in time order. */
export function appendMeasurements(list: readonly Measurement[] | undefined, added: readonly Measurement[], keep: number = ANALYSIS_DEFAULTS.keepMeasurements): Measurement[] {
  const all = [...(list ?? []), ...added];
  const seen = new Map<string, number>();
  const kept: Measurement[] = [];
  for (let i = all.length - 1; i >= 0; i -= 1) {
    const m = all[i] as Measurement;
    const n = seen.get(m.metric) ?? 0;
    if (n >= keep) continue;
    seen.set(m.metric, n + 1);
    kept.push(m);
  }
  return kept.reverse();
}

export type DecisionAction = 'Continue' | 'Rollback' | 'Hold' | 'Healthy';

export interface Decision {
  action: DecisionAction;
  reason: AnalysisReason;
  message: string;
}

/** A limit on one counter: past it, the analysis stops with `action`. */
interface LimitRule {
  count: (c: MetricCounts) => number;
  limit: (m: AnalysisMetricSpec) => number;
  action: (spec: AnalysisSpec) => DecisionAction;
  reason: AnalysisReason;
  /** The message, before the newest measurement's. */
  says: (metric: string, n: number, limit: number) => string;
}

/** The counters' limits, in the order they are checked (each over every metric before the next). */
const LIMIT_RULES: readonly LimitRule[] = [
  {
    count: (c) => c.failed,
    limit: (m) => m.failureLimit ?? ANALYSIS_DEFAULTS.failureLimit,
    action: () => 'Rollback',
    reason: AnalysisReasons.FailureLimitExceeded,
    says: (metric, n, limit) => `Metric ${metric} failed ${n} time${n === 1 ? '' : 's'}, beyond its failureLimit of ${limit}.`,
  },
  {
    count: (c) => c.error,
    limit: (m) => m.errorLimit ?? ANALYSIS_DEFAULTS.errorLimit,
    action: (spec) => spec.onError ?? ANALYSIS_DEFAULTS.onError,
    reason: AnalysisReasons.ErrorLimitExceeded,
    says: (metric, n, limit) => `Metric ${metric} could not be measured ${n} times in a row, beyond its errorLimit of ${limit}.`,
  },
  {
    count: (c) => c.inconclusive,
    limit: (m) => m.inconclusiveLimit ?? ANALYSIS_DEFAULTS.inconclusiveLimit,
    action: (spec) => spec.onInconclusive ?? ANALYSIS_DEFAULTS.onInconclusive,
    reason: AnalysisReasons.InconclusiveLimitExceeded,
    says: (metric, n, limit) => `Metric ${metric} was inconclusive ${n} times, beyond its inconclusiveLimit of ${limit}.`,
  },
];

/** The counters and newest measurements, looked up by metric name. */
interface MetricRecord {
  countOf(name: string): MetricCounts;
  newest(name: string): Measurement | undefined;
}

function recordOf(counts: CountsByMetric | undefined, latest: readonly Measurement[]): MetricRecord {
  return {
    countOf: (name) => counts?.[name] ?? ZERO,
    newest: (name) => {
      for (let i = latest.length - 1; i >= 0; i -= 1) if (latest[i]?.metric === name) return latest[i];
      return undefined;
    },
  };
}

/** The first limit a metric's counter is past (LIMIT_RULES' order), with its newest measurement's message, or undefined. */
function limitExceeded(spec: AnalysisSpec, metrics: readonly AnalysisMetricSpec[], record: MetricRecord): Decision | undefined {
  for (const rule of LIMIT_RULES) {
    for (const metric of metrics) {
      const limit = rule.limit(metric);
      const n = rule.count(record.countOf(metric.name));
      if (n > limit) {
        const m = record.newest(metric.name);
        const detail = m?.message ? ` Latest: ${m.message}` : '';
        return { action: rule.action(spec), reason: rule.reason, message: `${rule.says(metric.name, n, limit)}${detail}` };
      }
    }
  }
  return undefined;
}

/** Within every limit: Continue until the window has passed and every metric's newest measurement is Successful, then Healthy. */
function windowDecision(spec: AnalysisSpec, metrics: readonly AnalysisMetricSpec[], record: MetricRecord, elapsedSeconds: number): Decision {
  const duration = spec.durationSeconds ?? ANALYSIS_DEFAULTS.durationSeconds;
  if (duration <= 0) {
    return { action: 'Continue', reason: AnalysisReasons.WatchingIndefinitely, message: 'durationSeconds is 0: watching without end.' };
  }
  if (elapsedSeconds < duration) {
    return {
      action: 'Continue',
      reason: AnalysisReasons.Running,
      message: `Analysis has run ${Math.floor(elapsedSeconds)} of ${duration} seconds.`,
    };
  }
  const lacking = metrics.filter((m) => record.countOf(m.name).successful < 1 || record.newest(m.name)?.phase !== 'Successful').map((m) => m.name);
  if (lacking.length > 0) {
    return {
      action: 'Continue',
      reason: AnalysisReasons.AwaitingSuccessfulMeasurement,
      message: `The ${duration}-second window has passed, but ${lacking.join(', ')} ${lacking.length === 1 ? 'has' : 'have'} no successful newest measurement yet.`,
    };
  }
  return {
    action: 'Healthy',
    reason: AnalysisReasons.AnalysisSucceeded,
    message: `Every metric passed over ${duration} seconds (${metrics.map((m) => `${m.name}: ${record.countOf(m.name).successful} successful`).join(', ')}).`,
  };
}

/**
 * One decision from the counters and the newest measurements, checked in this order:
 * 1. a CRITICAL measurement -> Rollback at once;
 * 2. failures beyond a metric's failureLimit (default 0) -> Rollback;
 * 3. consecutive errors beyond errorLimit (default 3) -> onError (default Hold);
 * 4. inconclusive measurements beyond inconclusiveLimit (default 3) -> onInconclusive (default Hold);
 * 5. Healthy once elapsedSeconds >= durationSeconds (default 600; 0 = never) and every metric has
 *    at least one successful measurement and its newest measurement in `latest` is Successful;
 * 6. otherwise Continue.
 */
export function decide(spec: AnalysisSpec, counts: CountsByMetric | undefined, latest: readonly Measurement[], elapsedSeconds: number): Decision {
  const metrics = spec.metrics ?? [];
  if (metrics.length === 0) {
    return { action: 'Hold', reason: AnalysisReasons.NoMetrics, message: 'The analysis lists no metrics, so nothing can show the checkpoint is healthy.' };
  }
  const critical = latest.find((m) => m.severity === 'CRITICAL');
  if (critical) {
    return { action: 'Rollback', reason: AnalysisReasons.CriticalRegression, message: critical.message ?? `Metric ${critical.metric} regressed critically.` };
  }
  const record = recordOf(counts, latest);
  return limitExceeded(spec, metrics, record) ?? windowDecision(spec, metrics, record, elapsedSeconds);
}
