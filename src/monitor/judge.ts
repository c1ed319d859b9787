// Judging one Prometheus answer for one metric into a measurement: Error, Inconclusive, Failed
// or Successful, with the value, baseline, bound and severity that made it so. Pure (eslint
// enforces it): fetching the number (prometheus.ts) and judging it (here) are separate steps.
import type { AnalysisMetricSpec, Measurement, Severity, SeverityBands } from '../api/types.js';
import { DEFAULT_BANDS, compareMetric, severityOf } from '../math/severity.js';
import type { QueryResult, Sample } from './prometheus.js';

export interface JudgeOptions {
  /** Measurement time: the caller's clock (this module reads none). */
  at: Date | string;
  /** The rendered query, recorded in the measurement. */
  query?: string;
  /** Fewer usable series than this is Inconclusive (default 1). */
  minSamples?: number;
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

function seriesName(s: Sample): string {
  const entries = Object.entries(s.labels).filter(([k]) => k !== '__name__');
  return entries.length === 0 ? '' : ` for {${entries.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
}

function pct(fraction: number): string {
  return Number.isFinite(fraction) ? `${fmt(fraction * 100)}%` : fmt(fraction);
}

/** The value of a series for the measurement: only a finite one is recorded. */
function withValue(s: Sample): Partial<Measurement> {
  return Number.isFinite(s.value) ? { value: s.value } : {};
}

type Make = (phase: Measurement['phase'], message: string, extra?: Partial<Measurement>) => Measurement;

/** Builds measurements sharing what every verdict records: metric, time, query, usable baseline. */
function measurementMaker(metric: AnalysisMetricSpec, baseline: number | undefined, options: JudgeOptions): Make {
  const at = typeof options.at === 'string' ? options.at : options.at.toISOString();
  const base: Measurement = { metric: metric.name, phase: 'Inconclusive', at };
  if (options.query !== undefined) base.query = options.query;
  if (baseline !== undefined && Number.isFinite(baseline)) base.baseline = baseline;
  return (phase, message, extra = {}) => ({ ...base, ...extra, phase, message });
}

/** Why an answer gives no number to judge (no series, too few, all NaN), or undefined if it does. */
function missingData(metric: AnalysisMetricSpec, series: readonly Sample[], numbers: readonly Sample[], minSamples: number): string | undefined {
  if (series.length === 0) return `Metric ${metric.name}: the query returned an empty vector (no data).`;
  if (series.length < minSamples) return `Metric ${metric.name}: the query returned ${series.length} series, fewer than the ${minSamples} needed.`;
  if (numbers.length === 0) return `Metric ${metric.name}: every series (${series.length}) is NaN.`;
  return undefined;
}

/** A series against the baseline: how much worse, and its severity band. */
interface Comparison {
  /** Whether a relative comparison is possible: it needs a finite, non-zero baseline (from 0 any change is an undefined ratio). */
  comparable: boolean;
  compare(s: Sample): { degradation: number; severity?: Severity };
  /** The series' severity as a measurement field (none when it cannot be compared). */
  severityField(s: Sample): Partial<Measurement>;
}

function comparison(metric: AnalysisMetricSpec, baseline: number | undefined, bands: SeverityBands | undefined): Comparison {
  const comparable = baseline !== undefined && Number.isFinite(baseline) && baseline !== 0;
  const compare = (s: Sample): { degradation: number; severity?: Severity } => {
    if (!comparable) return { degradation: Number.NaN };
    const { degradation } = compareMetric(metric.name, s.value, baseline, metric.direction);
    return Number.isNaN(degradation) ? { degradation } : { degradation, severity: severityOf(degradation, bands ?? DEFAULT_BANDS) };
  };
  const severityField = (s: Sample): Partial<Measurement> => {
    const { severity } = compare(s);
    return severity ? { severity } : {};
  };
  return { comparable, compare, severityField };
}

/** Failed when the lowest series is below `min` or the highest above `max` (bounds that need no baseline), else undefined. */
function absoluteBreach(metric: AnalysisMetricSpec, lowest: Sample, highest: Sample, cmp: Comparison, make: Make): Measurement | undefined {
  if (metric.min !== undefined && lowest.value < metric.min) {
    return make('Failed', `Metric ${metric.name} is ${fmt(lowest.value)}${seriesName(lowest)}, below min ${fmt(metric.min)}.`, {
      ...withValue(lowest),
      ...cmp.severityField(lowest),
      bound: `min ${fmt(metric.min)}`,
    });
  }
  if (metric.max !== undefined && highest.value > metric.max) {
    return make('Failed', `Metric ${metric.name} is ${fmt(highest.value)}${seriesName(highest)}, above max ${fmt(metric.max)}.`, {
      ...withValue(highest),
      ...cmp.severityField(highest),
      bound: `max ${fmt(metric.max)}`,
    });
  }
  return undefined;
}

/** The bounds a metric declares, as recorded in a passing measurement ("min 0.9, max 1"). */
function boundsOf(metric: AnalysisMetricSpec): string[] {
  const bounds: string[] = [];
  if (metric.min !== undefined) bounds.push(`min ${fmt(metric.min)}`);
  if (metric.max !== undefined) bounds.push(`max ${fmt(metric.max)}`);
  if (metric.maxRelativeDegradation !== undefined) bounds.push(`maxRelativeDegradation ${fmt(metric.maxRelativeDegradation)}`);
  return bounds;
}

/** What is known once the absolute bounds hold: the worst series and how it compares. */
interface WithinBounds {
  metric: AnalysisMetricSpec;
  baseline: number | undefined;
  bands: SeverityBands | undefined;
  worst: Sample;
  /** NaN series among the answer's `seriesCount`. */
  nanCount: number;
  seriesCount: number;
  cmp: Comparison;
  make: Make;
}

/**
 * The verdict within the absolute bounds, in this order: Failed beyond maxRelativeDegradation or
 * at CRITICAL; Inconclusive with NaN series, or with a relative bound but no usable baseline (or
 * a baseline of 0 and a worse value); otherwise Successful.
 */
function relativeVerdict(w: WithinBounds): Measurement {
  const { metric, baseline, bands, worst, cmp, make } = w;
  const bounds = boundsOf(metric);
  const passed: Partial<Measurement> = { ...withValue(worst), ...cmp.severityField(worst), ...(bounds.length > 0 ? { bound: bounds.join(', ') } : {}) };
  let described = `${fmt(worst.value)}${seriesName(worst)}`;

  if (cmp.comparable) {
    const { degradation, severity } = cmp.compare(worst);
    described += ` vs baseline ${fmt(baseline as number)} (${pct(Math.max(0, degradation))} worse)`;
    if (metric.maxRelativeDegradation !== undefined && degradation > metric.maxRelativeDegradation) {
      return make('Failed', `Metric ${metric.name} is ${described}, beyond maxRelativeDegradation ${pct(metric.maxRelativeDegradation)}.`, {
        ...passed,
        bound: `maxRelativeDegradation ${fmt(metric.maxRelativeDegradation)}`,
      });
    }
    if (severity === 'CRITICAL') {
      return make('Failed', `Metric ${metric.name} is ${described}, a CRITICAL regression.`, {
        ...passed,
        bound: `severity band severe ${fmt((bands ?? DEFAULT_BANDS).severe)}`,
      });
    }
  }
  if (w.nanCount > 0) {
    return make('Inconclusive', `Metric ${metric.name}: ${w.nanCount} of ${w.seriesCount} series are NaN; the rest pass.`, passed);
  }
  if (metric.maxRelativeDegradation !== undefined && !cmp.comparable) {
    if (baseline === undefined || !Number.isFinite(baseline)) {
      return make('Inconclusive', `Metric ${metric.name} is ${described}, but there is no usable baseline for maxRelativeDegradation.`, passed);
    }
    const worse = metric.direction === 'HigherIsBetter' ? worst.value < 0 : worst.value > 0;
    if (worse) {
      return make('Inconclusive', `Metric ${metric.name} is ${described} against a baseline of 0, where a relative degradation is undefined; add an absolute min or max.`, passed);
    }
    return make('Successful', `Metric ${metric.name} is ${described}, not worse than its baseline of 0.`, { ...passed, severity: 'NONE' });
  }
  return make('Successful', `Metric ${metric.name} is ${described}, within bounds.`, passed);
}

/**
 * Judges one Prometheus answer for one metric.
 * - Error: Prometheus unreachable, timed out, failed, or refused the query.
 * - Inconclusive: empty vector, too few series, NaN, or a relative bound with no usable baseline.
 * - Failed: a bound is broken, or the degradation is CRITICAL. With several series the worst
 *   one counts: the lowest against `min`, the highest against `max`, and the worst in the
 *   metric's direction against the baseline.
 * - Successful: otherwise. Missing data is never Successful.
 */
export function judge(
  metric: AnalysisMetricSpec,
  result: QueryResult,
  baseline: number | undefined,
  bands: SeverityBands | undefined,
  options: JudgeOptions,
): Measurement {
  const make = measurementMaker(metric, baseline, options);
  if (result.kind === 'error') {
    return make('Error', `${result.errorType}: ${result.message}`);
  }
  const series: Sample[] = result.kind === 'scalar' ? [{ labels: {}, value: result.value }] : result.samples;
  const numbers = series.filter((s) => !Number.isNaN(s.value));
  const missing = missingData(metric, series, numbers, options.minSamples ?? 1);
  if (missing !== undefined) return make('Inconclusive', missing);

  const byValue = [...numbers].sort((a, b) => a.value - b.value);
  const lowest = byValue[0] as Sample;
  const highest = byValue[byValue.length - 1] as Sample;
  const worst = metric.direction === 'HigherIsBetter' ? lowest : highest;
  const cmp = comparison(metric, baseline, bands);
  return absoluteBreach(metric, lowest, highest, cmp, make)
    ?? relativeVerdict({ metric, baseline, bands, worst, nanCount: series.length - numbers.length, seriesCount: series.length, cmp, make });
}
