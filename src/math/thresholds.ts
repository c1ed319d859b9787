// Absolute bounds on holdout metrics (spec.validation.holdout.thresholds). Pure: no I/O.
import type { MetricThreshold } from '../api/types.js';

export interface ThresholdResult {
  metric: string;
  /** The measured value; NaN when the metric is missing or not computable. */
  value: number;
  min?: number;
  max?: number;
  passed: boolean;
  /** One line a person can act on. */
  message: string;
}

/** Six significant digits: enough to see why 0.8999999 failed a 0.9 minimum, short enough to read. */
function fmt(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
}

function bounds(t: MetricThreshold): string {
  const parts: string[] = [];
  if (t.min !== undefined) parts.push(`min ${fmt(t.min)}`);
  if (t.max !== undefined) parts.push(`max ${fmt(t.max)}`);
  return parts.join(', ');
}

/**
 * Checks each threshold against the computed metrics. Bounds are inclusive (value >= min and
 * value <= max pass). A missing metric, a NaN value, a threshold with neither bound, or min > max
 * fails, with a message naming the metric and what to do about it.
 */
export function checkThresholds(metrics: Record<string, number>, thresholds: MetricThreshold[]): ThresholdResult[] {
  return thresholds.map((t) => {
    const base = {
      metric: t.metric,
      ...(t.min !== undefined ? { min: t.min } : {}),
      ...(t.max !== undefined ? { max: t.max } : {}),
    };
    const fail = (value: number, message: string): ThresholdResult => ({ ...base, value, passed: false, message });
    if (t.min === undefined && t.max === undefined) {
      return fail(NaN, `threshold on ${t.metric} sets neither min nor max; set at least one bound or remove it`);
    }
    if (t.min !== undefined && t.max !== undefined && t.min > t.max) {
      return fail(NaN, `threshold on ${t.metric} has min ${fmt(t.min)} above max ${fmt(t.max)}; no value can pass, fix the bounds`);
    }
    if (!Object.hasOwn(metrics, t.metric)) {
      const known = Object.keys(metrics).sort().join(', ') || 'none';
      return fail(NaN, `metric ${t.metric} was not computed (available: ${known}); fix the threshold's metric name or the holdout task`);
    }
    const value = metrics[t.metric] as number;
    if (Number.isNaN(value)) {
      return fail(
        NaN,
        `metric ${t.metric} is NaN (not computable: the model produced NaN, or the holdout lacks a class or positives); ` +
          'fix the model output or use a holdout dataset with every class present',
      );
    }
    if (t.min !== undefined && !(value >= t.min)) {
      return fail(value, `${t.metric} ${fmt(value)} is below the minimum ${fmt(t.min)}`);
    }
    if (t.max !== undefined && !(value <= t.max)) {
      return fail(value, `${t.metric} ${fmt(value)} is above the maximum ${fmt(t.max)}`);
    }
    return { ...base, value, passed: true, message: `${t.metric} ${fmt(value)} within ${bounds(t)}` };
  });
}
