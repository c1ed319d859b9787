// Gate 2's decision: the holdout metrics, success rate and latency computed from what the worker
// returned, and the verdict against the spec's minimums and thresholds. Pure: no I/O, no clock
// (the pipeline times the scoring and passes the time in for the report).
import { REASONS } from '../api/reasons.js';
import type { HoldoutGateSpec, HoldoutTask } from '../api/types.js';
import { metricEvaluator } from '../math/metrics.js';
import type { Labels, Predictions } from '../math/metrics.js';
import { latencySummary } from '../math/stats.js';
import type { LatencySummary } from '../math/stats.js';
import { checkThresholds } from '../math/thresholds.js';
import { StageError } from './contract.js';
import { fmt, outcome, summaryNumber } from './gate-outcome.js';
import type { GateOutcome, Summary } from './gate-outcome.js';
import type { EvaluateResult, ModelRun } from './worker-pool.js';

/** Rows (or a flat array when one value per sample) of the selected samples. */
export function selectPredictions(run: ModelRun, idx: number[]): Predictions {
  const w = run.rowSize;
  if (w === 1) return Float64Array.from(idx, (i) => run.predictions[i]!);
  return idx.map((i) => run.predictions.subarray(i * w, (i + 1) * w));
}

export function selectLabels(ev: EvaluateResult, idx: number[]): Labels {
  const w = ev.labelWidth;
  if (w === 1) return Float64Array.from(idx, (i) => ev.labels[i]!);
  return idx.map((i) => ev.labels.subarray(i * w, (i + 1) * w));
}

export interface HoldoutScore {
  /** Share of samples that ran and gave finite outputs. */
  successRate: number;
  /** The task's metrics over those samples only. */
  metrics: Record<string, number>;
  latency: LatencySummary;
}

/** Zero samples is a failure, never a pass on nothing. */
export const EMPTY_HOLDOUT: GateOutcome = outcome('Failed', REASONS.EmptyDataset, 'The holdout dataset holds zero samples; a model is never validated on nothing: publish a dataset with samples.', { samples: 0 });

/**
 * The candidate's metrics over the samples that ran cleanly (ev.count > 0). Labels or an output
 * that do not fit the task are the user's to fix: a terminal DatasetInvalid.
 */
export function scoreHoldout(task: HoldoutTask, ev: EvaluateResult): HoldoutScore {
  const c = ev.candidate;
  const okIdx: number[] = [];
  for (let i = 0; i < ev.count; i++) if (c.ok[i] === 1) okIdx.push(i);
  const successRate = okIdx.length / ev.count;
  let metrics: Record<string, number>;
  try {
    metrics = metricEvaluator(task, selectPredictions(c, okIdx), selectLabels(ev, okIdx))();
  } catch (err) {
    throw new StageError(
      REASONS.DatasetInvalid,
      `The holdout labels or the model output '${c.outputName}' do not fit task ${task}: ${(err as Error).message}; fix holdout.task, holdout.outputName or the labels.`,
      true,
      'holdout',
    );
  }
  return { successRate, metrics, latency: latencySummary(c.latencyMs) };
}

/** The first limit the score breaks, in the order the user reads them: success, latency, thresholds, no metric at all. */
function holdoutVerdict(holdout: HoldoutGateSpec, ev: EvaluateResult, score: HoldoutScore, failedThresholds: string[], summary: Summary): GateOutcome {
  const { successRate, metrics, latency } = score;
  const minSuccess = holdout.minSuccessRate ?? 0.95;
  const maxP95 = holdout.maxLatencyP95Ms ?? 100;
  const firstError = ev.candidate.firstError;
  if (!(successRate >= minSuccess)) {
    return outcome('Failed', REASONS.LowSuccessRate, `Only ${fmt(successRate * 100)}% of ${ev.count} holdout samples gave finite outputs without error (minimum ${fmt(minSuccess * 100)}%)${firstError ? `; first error: ${firstError}` : ''}.`, summary);
  }
  if (!(latency.p95 <= maxP95)) {
    return outcome('Failed', REASONS.LatencyTooHigh, `Holdout latency p95 ${fmt(latency.p95)} ms is above the maximum ${fmt(maxP95)} ms (p50 ${fmt(latency.p50)} ms, batches of ${ev.batchSize}).`, summary);
  }
  if (failedThresholds.length > 0) return outcome('Failed', REASONS.HoldoutBelowThreshold, `Holdout thresholds failed: ${failedThresholds.join('; ')}.`, summary);
  const values = Object.values(metrics);
  if (values.length === 0 || values.every((v) => Number.isNaN(v))) {
    return outcome('Failed', REASONS.MetricNotFinite, `No holdout metric could be computed (all NaN) for task ${holdout.task}; check the labels and the model output.`, summary);
  }
  const metricText = Object.entries(metrics).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
  return outcome('Passed', REASONS.Passed, `${ev.count} samples, success ${fmt(successRate * 100)}%, p95 ${fmt(latency.p95)} ms; ${metricText}.`, summary);
}

/**
 * Gate 2's verdict and the report's `holdout` record (metricsMs: how long the scoring took, for
 * the record's timings).
 */
export function judgeHoldout(holdout: HoldoutGateSpec, ev: EvaluateResult, score: HoldoutScore, metricsMs: number): { outcome: GateOutcome; record: Record<string, unknown> } {
  const task = holdout.task;
  const c = ev.candidate;
  const { successRate, metrics, latency } = score;
  const thresholds = checkThresholds(metrics, holdout.thresholds ?? []);
  const record = { task, samples: ev.count, batchSize: ev.batchSize, successRate, errors: c.errors, firstError: c.firstError, metrics, latencyMs: latency, thresholds, outputName: c.outputName, sessionReused: c.sessionReused === true, ...(ev.timingsMs ? { timingsMs: { worker: ev.timingsMs, metrics: metricsMs } } : {}), ...(ev.runtimeLog ? { runtimeLog: ev.runtimeLog } : {}) };
  const summary: Summary = { samples: ev.count, successRate: summaryNumber(successRate), latencyP95Ms: summaryNumber(latency.p95) };
  for (const [k, v] of Object.entries(metrics)) summary[k] = summaryNumber(v);
  const failed = thresholds.filter((r) => !r.passed).map((f) => f.message);
  return { outcome: holdoutVerdict(holdout, ev, score, failed, summary), record };
}
