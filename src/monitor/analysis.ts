// The analysis judge: pure functions from Prometheus answers to measurements, and from
// measurements to one decision. No I/O (eslint enforces it), so every rule is unit-tested.
// Fetching a number (prometheus.ts) and judging it (here) are separate steps, as in Argo Rollouts.
import type { AnalysisAction, AnalysisMetricSpec, AnalysisSpec, Measurement, Severity, SeverityBands } from '../api/types.js';
import { AnalysisReasons, type AnalysisReason } from '../api/reasons.js';
import { DEFAULT_BANDS, compareMetric, severityOf } from '../math/severity.js';
import type { QueryResult, Sample } from './prometheus.js';


export const ANALYSIS_DEFAULTS = {
  durationSeconds: 600,
  failureLimit: 0,
  inconclusiveLimit: 3,
  errorLimit: 3,
  onError: 'Hold' as AnalysisAction,
  onInconclusive: 'Hold' as AnalysisAction,
  keepMeasurements: 10,
} as const;

// ---------------------------------------------------------------------------------------------
// Query templates

export const QUERY_PLACEHOLDERS = ['model', 'version', 'namespace', 'deployment', 'checkpoint'] as const;
export type QueryPlaceholder = (typeof QUERY_PLACEHOLDERS)[number];
export type QueryVars = Partial<Record<QueryPlaceholder, string>>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
/** The same, anchored at lastIndex (sticky), for the scanner in renderQuery. */
const PLACEHOLDER_AT = /\{\{\s*([^{}]*?)\s*\}\}/y;

/** The placeholder names a template uses, in order of first use. */
export function templatePlaceholders(template: string): string[] {
  const names: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) if (!names.includes(m[1] ?? '')) names.push(m[1] ?? '');
  return names;
}

function isKnown(name: string): name is QueryPlaceholder {
  return (QUERY_PLACEHOLDERS as readonly string[]).includes(name);
}

const RE2_SPECIAL = /[\\.+*?()|[\]{}^$]/g;

/**
 * Fills {{model}}, {{version}}, {{namespace}}, {{deployment}} and {{checkpoint}} into a PromQL
 * template. Values are escaped for the string they land in (double, single or back quotes), and
 * regex-escaped too inside a `=~` / `!~` matcher, so a value can never change the query's shape.
 * Throws on unknown placeholders, on placeholders without a value, and on a value used outside
 * quotes that is not a plain identifier.
 */
export function renderQuery(template: string, vars: QueryVars): string {
  const used = templatePlaceholders(template);
  const unknown = used.filter((n) => !isKnown(n));
  if (unknown.length > 0) {
    throw new Error(
      `query template uses unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `{{${n}}}`).join(', ')} (known: ${QUERY_PLACEHOLDERS.map((n) => `{{${n}}}`).join(', ')}).`,
    );
  }
  const missing = used.filter((n) => isKnown(n) && vars[n] === undefined);
  if (missing.length > 0) {
    throw new Error(`query template placeholder${missing.length > 1 ? 's' : ''} ${missing.map((n) => `{{${n}}}`).join(', ')} ha${missing.length > 1 ? 've' : 's'} no value.`);
  }
  return fillPlaceholders(template, (name) => vars[name as QueryPlaceholder]);
}

export interface FillOptions {
  /** Also allow a plain decimal number (0.25, 300) outside quotes, e.g. a threshold argument. */
  numbersOutsideQuotes?: boolean;
}

/**
 * The scanner behind renderQuery, for any set of placeholders (template args use it too):
 * `valueOf(name)` gives a placeholder's value, or undefined to leave that placeholder as written
 * (for a later pass). Each value is escaped for the quotes it lands in, as renderQuery says.
 */
export function fillPlaceholders(template: string, valueOf: (name: string) => string | undefined, options: FillOptions = {}): string {
  let out = '';
  let quote: '"' | "'" | '`' | undefined;
  let regexString = false;
  let i = 0;
  while (i < template.length) {
    const ch = template[i] as string;
    if (ch === '{' && template[i + 1] === '{') {
      PLACEHOLDER_AT.lastIndex = i;
      const m = PLACEHOLDER_AT.exec(template);
      if (m) {
        const name = m[1] ?? '';
        const value = valueOf(name);
        out += value === undefined ? m[0] : escapeValue(name, value, quote, regexString, options);
        i += m[0].length;
        continue;
      }
    }
    if (quote === undefined) {
      if (ch === '"' || ch === "'" || ch === '`') {
        quote = ch;
        regexString = /[=!]~\s*$/.test(out);
      }
      out += ch;
      i += 1;
      continue;
    }
    if (ch === '\\' && quote !== '`') {
      out += ch + (template[i + 1] ?? '');
      i += 2;
      continue;
    }
    if (ch === quote) quote = undefined;
    out += ch;
    i += 1;
  }
  return out;
}

function escapeValue(name: string, value: string, quote: '"' | "'" | '`' | undefined, regex: boolean, options: FillOptions = {}): string {
  if (quote === undefined) {
    if (!/^[A-Za-z0-9_:]+$/.test(value) && !(options.numbersOutsideQuotes && /^-?[0-9]+(\.[0-9]+)?$/.test(value))) {
      throw new Error(`query template uses {{${name}}} outside quotes, where its value "${value}" is only allowed if it is a plain identifier${options.numbersOutsideQuotes ? ' or number' : ''}; put it inside a label matcher such as model="{{${name}}}".`);
    }
    return value;
  }
  const v = regex ? value.replace(RE2_SPECIAL, '\\$&') : value;
  if (quote === '`') {
    if (v.includes('`')) throw new Error(`query template puts {{${name}}} in a back-quoted string, which cannot hold the back quote in its value "${value}".`);
    return v;
  }
  let escaped = '';
  for (const c of v) {
    if (c === '\\') escaped += '\\\\';
    else if (c === quote) escaped += `\\${c}`;
    else if (c === '\n') escaped += '\\n';
    else if (c === '\r') escaped += '\\r';
    else if (c === '\t') escaped += '\\t';
    else escaped += c;
  }
  return escaped;
}

// ---------------------------------------------------------------------------------------------
// Judging one answer

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
  const at = typeof options.at === 'string' ? options.at : options.at.toISOString();
  const base: Measurement = { metric: metric.name, phase: 'Inconclusive', at };
  if (options.query !== undefined) base.query = options.query;
  if (baseline !== undefined && Number.isFinite(baseline)) base.baseline = baseline;
  const make = (phase: Measurement['phase'], message: string, extra: Partial<Measurement> = {}): Measurement => ({
    ...base,
    ...extra,
    phase,
    message,
  });

  if (result.kind === 'error') {
    return make('Error', `${result.errorType}: ${result.message}`);
  }
  const series: Sample[] = result.kind === 'scalar' ? [{ labels: {}, value: result.value }] : result.samples;
  if (series.length === 0) {
    return make('Inconclusive', `Metric ${metric.name}: the query returned an empty vector (no data).`);
  }
  const minSamples = options.minSamples ?? 1;
  if (series.length < minSamples) {
    return make('Inconclusive', `Metric ${metric.name}: the query returned ${series.length} series, fewer than the ${minSamples} needed.`);
  }
  const numbers = series.filter((s) => !Number.isNaN(s.value));
  const nanCount = series.length - numbers.length;
  if (numbers.length === 0) {
    return make('Inconclusive', `Metric ${metric.name}: every series (${series.length}) is NaN.`);
  }

  const byValue = [...numbers].sort((a, b) => a.value - b.value);
  const lowest = byValue[0] as Sample;
  const highest = byValue[byValue.length - 1] as Sample;
  const worst = metric.direction === 'HigherIsBetter' ? lowest : highest;
  const withValue = (s: Sample): Partial<Measurement> => (Number.isFinite(s.value) ? { value: s.value } : {});
  // A relative comparison needs a finite, non-zero baseline: from 0 any change is an undefined ratio.
  const comparable = baseline !== undefined && Number.isFinite(baseline) && baseline !== 0;
  const compare = (s: Sample): { degradation: number; severity?: Severity } => {
    if (!comparable) return { degradation: Number.NaN };
    const { degradation } = compareMetric(metric.name, s.value, baseline, metric.direction);
    return Number.isNaN(degradation) ? { degradation } : { degradation, severity: severityOf(degradation, bands ?? DEFAULT_BANDS) };
  };
  const severityOfSample = (s: Sample): Partial<Measurement> => {
    const { severity } = compare(s);
    return severity ? { severity } : {};
  };

  // Absolute bounds first: they need no baseline.
  if (metric.min !== undefined && lowest.value < metric.min) {
    return make('Failed', `Metric ${metric.name} is ${fmt(lowest.value)}${seriesName(lowest)}, below min ${fmt(metric.min)}.`, {
      ...withValue(lowest),
      ...severityOfSample(lowest),
      bound: `min ${fmt(metric.min)}`,
    });
  }
  if (metric.max !== undefined && highest.value > metric.max) {
    return make('Failed', `Metric ${metric.name} is ${fmt(highest.value)}${seriesName(highest)}, above max ${fmt(metric.max)}.`, {
      ...withValue(highest),
      ...severityOfSample(highest),
      bound: `max ${fmt(metric.max)}`,
    });
  }

  const bounds: string[] = [];
  if (metric.min !== undefined) bounds.push(`min ${fmt(metric.min)}`);
  if (metric.max !== undefined) bounds.push(`max ${fmt(metric.max)}`);
  if (metric.maxRelativeDegradation !== undefined) bounds.push(`maxRelativeDegradation ${fmt(metric.maxRelativeDegradation)}`);
  const passed: Partial<Measurement> = { ...withValue(worst), ...severityOfSample(worst), ...(bounds.length > 0 ? { bound: bounds.join(', ') } : {}) };
  let described = `${fmt(worst.value)}${seriesName(worst)}`;

  if (comparable) {
    const { degradation, severity } = compare(worst);
    described += ` vs baseline ${fmt(baseline)} (${pct(Math.max(0, degradation))} worse)`;
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
  if (nanCount > 0) {
    return make('Inconclusive', `Metric ${metric.name}: ${nanCount} of ${series.length} series are NaN; the rest pass.`, passed);
  }
  if (metric.maxRelativeDegradation !== undefined && !comparable) {
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

// ---------------------------------------------------------------------------------------------
// Counting and deciding

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
  const countOf = (name: string): MetricCounts => counts?.[name] ?? ZERO;
  const newest = (name: string): Measurement | undefined => {
    for (let i = latest.length - 1; i >= 0; i -= 1) if (latest[i]?.metric === name) return latest[i];
    return undefined;
  };
  const detail = (name: string): string => {
    const m = newest(name);
    return m?.message ? ` Latest: ${m.message}` : '';
  };

  for (const metric of metrics) {
    const limit = metric.failureLimit ?? ANALYSIS_DEFAULTS.failureLimit;
    const c = countOf(metric.name);
    if (c.failed > limit) {
      return {
        action: 'Rollback',
        reason: AnalysisReasons.FailureLimitExceeded,
        message: `Metric ${metric.name} failed ${c.failed} time${c.failed === 1 ? '' : 's'}, beyond its failureLimit of ${limit}.${detail(metric.name)}`,
      };
    }
  }
  for (const metric of metrics) {
    const limit = metric.errorLimit ?? ANALYSIS_DEFAULTS.errorLimit;
    const c = countOf(metric.name);
    if (c.error > limit) {
      return {
        action: spec.onError ?? ANALYSIS_DEFAULTS.onError,
        reason: AnalysisReasons.ErrorLimitExceeded,
        message: `Metric ${metric.name} could not be measured ${c.error} times in a row, beyond its errorLimit of ${limit}.${detail(metric.name)}`,
      };
    }
  }
  for (const metric of metrics) {
    const limit = metric.inconclusiveLimit ?? ANALYSIS_DEFAULTS.inconclusiveLimit;
    const c = countOf(metric.name);
    if (c.inconclusive > limit) {
      return {
        action: spec.onInconclusive ?? ANALYSIS_DEFAULTS.onInconclusive,
        reason: AnalysisReasons.InconclusiveLimitExceeded,
        message: `Metric ${metric.name} was inconclusive ${c.inconclusive} times, beyond its inconclusiveLimit of ${limit}.${detail(metric.name)}`,
      };
    }
  }

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
  const lacking = metrics.filter((m) => countOf(m.name).successful < 1 || newest(m.name)?.phase !== 'Successful').map((m) => m.name);
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
    message: `Every metric passed over ${duration} seconds (${metrics.map((m) => `${m.name}: ${countOf(m.name).successful} successful`).join(', ')}).`,
  };
}
