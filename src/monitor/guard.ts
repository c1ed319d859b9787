// The live guard for one checkpoint: measure each metric in Prometheus once per interval, judge
// it, count it, decide. The whole path lives in this folder, as in Argo Rollouts' analysis
// package: the provider (prometheus.ts, the only I/O, injected), the PromQL templates
// (promql.ts), the baselines (baseline.ts), the judge (judge.ts) and the decision (decide.ts),
// all pure, the templates (templates.ts) and this file, which only sequences them and keeps the
// state in status. The metrics are the ones recorded in status when the
// analysis started (templates resolved), not the spec's. The reconciler sees only `Analyzer`.
import type { AnalysisMetricSpec, AnalysisSpec, AnalysisStatus, Measurement, ModelCheckpoint } from '../api/types.js';
import { ANALYSIS_DEFAULTS, appendMeasurements, decide as decideAnalysis, updateCounts } from './decide.js';
import { judge } from './judge.js';
import { renderQuery, type QueryVars } from './promql.js';
import { AnalysisReasons, REASON } from '../api/reasons.js';
import { baselineFrom, baselineQueries } from './baseline.js';
import type { MetricProvider, PrometheusUrlPolicy } from './prometheus.js';

/** What the live guard answers for one look at Prometheus. */
export interface AnalysisOutcome {
  analysis: AnalysisStatus;
  action: 'Continue' | 'Rollback' | 'Hold' | 'Healthy';
  reason: string;
  message: string;
  requeueAfterMs: number;
}

/** The live guard as the reconciler calls it. */
export interface Analyzer {
  analyze(cp: ModelCheckpoint, now: Date, signal?: AbortSignal): Promise<AnalysisOutcome>;
  /** Why this checkpoint's analysis may not run at all (a Prometheus URL the operator may not ask), checked before the deploy. */
  refusal?(cp: ModelCheckpoint): { reason: typeof REASON.PrometheusUrlNotAllowed; message: string } | undefined;
}

export interface PrometheusAnalyzerOptions {
  /** A provider for a Prometheus URL (one per URL, reused). */
  provider: (url: string) => MetricProvider;
  defaultUrl?: string;
  /**
   * The Prometheus URLs the operator may query (the default URL among them). A checkpoint naming
   * any other holds with PrometheusUrlNotAllowed and nothing is asked. Without a policy, only the
   * default URL is allowed.
   */
  urls?: PrometheusUrlPolicy;
  onMeasurement?: (namespace: string, checkpoint: string, m: Measurement, metric: AnalysisMetricSpec) => void;
}

export class PrometheusAnalyzer implements Analyzer {
  constructor(private readonly o: PrometheusAnalyzerOptions) {}

  /**
   * PrometheusUrlNotAllowed when the checkpoint names a Prometheus URL the operator was not
   * started with. The reconciler asks before the deploy (the checkpoint stalls, the Deployment
   * unchanged); analyze() asks again for a running analysis (it holds, nothing is queried).
   */
  refusal(cp: ModelCheckpoint): { reason: typeof REASON.PrometheusUrlNotAllowed; message: string } | undefined {
    const url = cp.spec.analysis?.prometheusUrl;
    if (url === undefined) return undefined;
    const allowed = this.o.urls ? this.o.urls.allows(url) : url === this.o.defaultUrl;
    if (allowed) return undefined;
    const list = this.o.urls?.urls ?? (this.o.defaultUrl ? [this.o.defaultUrl] : []);
    return {
      reason: REASON.PrometheusUrlNotAllowed,
      message: `spec.analysis.prometheusUrl "${url}" is not one of the Prometheus URLs this operator may query (${list.length > 0 ? list.join(', ') : 'none configured'}): use one of them, or remove the field to use the operator's default; an operator admin can add a URL with --prometheus-urls (env MODELGATE_PROMETHEUS_URLS). Nothing is queried there; the checkpoint resumes once its spec names an allowed URL`,
    };
  }

  async analyze(cp: ModelCheckpoint, now: Date, signal?: AbortSignal): Promise<AnalysisOutcome> {
    const spec = cp.spec.analysis;
    const prev: AnalysisStatus = cp.status?.analysis ?? {};
    const intervalMs = (spec?.intervalSeconds ?? 30) * 1000;
    const metrics = prev.resolved?.metrics ?? spec?.metrics ?? [];
    if (!spec || metrics.length === 0) {
      return { analysis: prev, action: 'Healthy', reason: AnalysisReasons.NoAnalysis, message: 'no analysis metrics configured', requeueAfterMs: intervalMs };
    }
    const url = spec.prometheusUrl ?? this.o.defaultUrl;
    if (!url) {
      return { analysis: prev, action: 'Hold', reason: AnalysisReasons.NoPrometheus, message: 'no Prometheus to ask: set spec.analysis.prometheusUrl or the operator flag --prometheus-url', requeueAfterMs: intervalMs };
    }
    const refused = this.refusal(cp);
    if (refused) return { analysis: prev, action: 'Hold', ...refused, requeueAfterMs: intervalMs };
    const startedAt = prev.startedAt ?? now.toISOString();
    const started = Date.parse(startedAt);
    const waiting = notYet(spec, prev, metrics, startedAt, now, intervalMs);
    if (waiting) return waiting;
    const { baseline, added } = await this.measureAll(cp, spec, prev, metrics, this.o.provider(url), started, now, signal);
    signal?.throwIfAborted();
    const counts = updateCounts(prev.counts, added);
    const measurements = appendMeasurements(prev.measurements, added, ANALYSIS_DEFAULTS.keepMeasurements);
    const d = decideAnalysis({ ...spec, metrics }, counts, measurements, (now.getTime() - started) / 1000);
    const analysis: AnalysisStatus = { ...(prev.resolved ? { resolved: prev.resolved } : {}), startedAt, baseline, counts, measurements, lastMeasuredAt: now.toISOString(), decision: `${d.action}: ${d.reason}` };
    return { analysis, action: d.action, reason: d.reason, message: d.message, requeueAfterMs: intervalMs };
  }

  /**
   * One measurement per metric, in order, each judged (with its baseline, asked once and kept);
   * onMeasurement hears each judged one. The baselines returned include the ones already known.
   */
  private async measureAll(
    cp: ModelCheckpoint, spec: AnalysisSpec, prev: AnalysisStatus, metrics: readonly AnalysisMetricSpec[],
    provider: MetricProvider, started: number, now: Date, signal: AbortSignal | undefined,
  ): Promise<{ baseline: Record<string, number>; added: Measurement[] }> {
    const ns = cp.metadata.namespace as string;
    const vars: QueryVars = { model: cp.spec.model, version: cp.spec.version, namespace: ns, deployment: cp.spec.target.deployment, checkpoint: cp.metadata.name as string };
    const point = cp.status?.deployment?.rollbackPoint;
    const baselineVars: QueryVars = point ? { ...vars, version: point.version, checkpoint: point.checkpoint } : vars;
    const deployedAt = cp.status?.deployment?.deployedAt ? new Date(cp.status.deployment.deployedAt) : new Date(started);
    const baseline: Record<string, number> = { ...(prev.baseline ?? {}) };
    const added: Measurement[] = [];
    for (const metric of metrics) {
      // Past the reconcile's deadline: stop asking and record nothing, so a slow Prometheus
      // never turns into Error measurements against the checkpoint; the reconcile is retried.
      signal?.throwIfAborted();
      let query: string;
      try {
        query = renderQuery(metric.query, vars);
      } catch (err) {
        added.push({ metric: metric.name, phase: 'Error', at: now.toISOString(), message: `${prev.resolved?.templates.some((t) => t.metrics.includes(metric.name)) ? 'template metric' : 'spec.analysis.metrics'}[${metric.name}].query: ${(err as Error).message}` });
        continue;
      }
      if (metric.maxRelativeDegradation !== undefined && baseline[metric.name] === undefined) {
        const value = await fetchBaseline(provider, metric, baselineVars, spec.baselineWindowSeconds, deployedAt, now, signal);
        if (value !== undefined) baseline[metric.name] = value;
      }
      const result = await provider.measure(query, now, signal);
      const m = judge(metric, result, baseline[metric.name], spec.bands, { at: now, query });
      added.push(m);
      this.o.onMeasurement?.(ns, cp.metadata.name as string, m, metric);
    }
    return { baseline, added };
  }
}

/**
 * The outcome when it is not time to measure, else undefined: during the initial delay; or when
 * woken before the interval is up (an event, our own status write), measure on the interval,
 * never faster, unless the decision from what is already counted is a rollback or the end of
 * the window, acted on at once.
 */
function notYet(spec: AnalysisSpec, prev: AnalysisStatus, metrics: AnalysisMetricSpec[], startedAt: string, now: Date, intervalMs: number): AnalysisOutcome | undefined {
  const started = Date.parse(startedAt);
  const delayMs = (spec.initialDelaySeconds ?? 0) * 1000;
  const elapsed = now.getTime() - started;
  if (elapsed < delayMs) {
    return { analysis: { ...prev, startedAt }, action: 'Continue', reason: AnalysisReasons.InitialDelay, message: `analysis starts ${Math.ceil((delayMs - elapsed) / 1000)} s from now`, requeueAfterMs: delayMs - elapsed };
  }
  const last = prev.lastMeasuredAt ? Date.parse(prev.lastMeasuredAt) : undefined;
  if (last !== undefined && now.getTime() - last < intervalMs) {
    const d = decideAnalysis({ ...spec, metrics }, prev.counts, prev.measurements ?? [], (now.getTime() - started) / 1000);
    if (d.action === 'Continue' || d.action === 'Hold') {
      return { analysis: prev, action: d.action, reason: d.reason, message: d.message, requeueAfterMs: intervalMs - (now.getTime() - last) };
    }
  }
  return undefined;
}

/**
 * A metric's baseline from the provider: each baseline query in turn (baseline.ts), the first
 * with a finite value wins. Undefined when none gives one or asking fails: the judge then calls
 * the relative bound inconclusive.
 */
async function fetchBaseline(
  provider: MetricProvider, metric: AnalysisMetricSpec, vars: QueryVars, windowSeconds: number | undefined, deployedAt: Date, now: Date, signal: AbortSignal | undefined,
): Promise<number | undefined> {
  try {
    for (const [bq, at] of baselineQueries(metric, vars, windowSeconds, deployedAt, now)) {
      const value = baselineFrom(await provider.measure(bq, at, signal));
      if (value !== undefined) return value;
    }
  } catch {
    // stays undefined: the judge calls the relative bound inconclusive
  }
  return undefined;
}
