// Gate 4's outcome: the evidence gathered (the holdout's paired comparison, the training metrics
// both checkpoints declare), judged by regression-judge.ts, turned into a verdict, a message and
// summary numbers. Pure: no I/O.
import { REASONS } from '../api/reasons.js';
import type { HoldoutTask, Severity } from '../api/types.js';
import { DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, degradationOf, denominatorFloor } from '../math/evidence.js';
import { isDisplayOnlyMetric, metricDirection } from '../math/metrics.js';
import { DEFAULT_BANDS } from '../math/severity.js';
import type { ValidationRequest } from './contract.js';
import { outcome, summaryNumber } from './gate-outcome.js';
import type { GateOutcome, Summary } from './gate-outcome.js';
import { judgeRegression } from './regression-judge.js';
import type { RegressionJudgement, RegressionMetric } from './regression-judge.js';
import type { EvaluateResult } from './worker-pool.js';

export interface RegressionGateResult {
  outcome: GateOutcome;
  severity?: Severity;
  /** Fields for the full report, in the order they are written. */
  record: Record<string, unknown>;
}

/** The holdout's paired comparison, or the problem that stopped it (a blocking one). */
function holdoutEvidence(task: HoldoutTask | undefined, ev: EvaluateResult | undefined, record: Record<string, unknown>): { holdout: RegressionMetric[]; problems: string[] } {
  const problems: string[] = [];
  const holdout: RegressionMetric[] = [];
  if (!ev || ev.count === 0 || task === undefined) return { holdout, problems };
  const cmp = ev.comparison;
  if (!ev.baseline) problems.push('the baseline did not run on the holdout');
  else if (!cmp || cmp.samples === 0) problems.push(`no holdout sample ran cleanly on both models${ev.baseline.firstError ? ` (baseline error: ${ev.baseline.firstError})` : ''}`);
  else if (cmp.error) problems.push(`the metrics could not be compared: ${cmp.error}`);
  else {
    holdout.push(...cmp.metrics.map((m) => ({ ...m, source: 'holdout' as const })));
    record.regressionSamples = cmp.samples;
    record.bootstrapMs = Math.round(cmp.ms);
  }
  return { holdout, problems };
}

/** Training metrics both checkpoints declare (display-only ones aside): one point each, no interval. */
export function trainingEvidence(candidate: Record<string, number>, baseline: Record<string, number>, confidence: number): RegressionMetric[] {
  const training: RegressionMetric[] = [];
  for (const [metric, cand] of Object.entries(candidate)) {
    const base = baseline[metric];
    if (base === undefined || isDisplayOnlyMetric(metric)) continue;
    const direction = metricDirection(metric);
    const floor = denominatorFloor(metric);
    const degradation = degradationOf(cand, base, direction, floor);
    training.push({ metric, source: 'training', direction, candidate: cand, baseline: base, floor, degradation, lower: degradation, upper: degradation, confidence, samples: 0, resamples: 0 });
  }
  return training;
}

/** The judgement in numbers, with the deciding metric's when there is one. */
function regressionSummary(judged: RegressionJudgement, blockAt: Severity, confidence: number): Summary {
  const summary: Summary = { severity: judged.severity, decision: judged.decision, blockAt, confidence, metrics: judged.comparisons.length, critical: judged.critical.join(',') };
  const w = judged.deciding;
  if (w) {
    summary.metric = w.metric;
    summary.candidate = summaryNumber(w.candidate);
    summary.baseline = summaryNumber(w.baseline);
    summary.degradation = summaryNumber(w.degradation);
    if (w.source === 'holdout') {
      summary.lowerBound = summaryNumber(w.lower);
      summary.upperBound = summaryNumber(w.upper);
    }
    if (w.samplesNeeded !== undefined) summary.samplesNeeded = w.samplesNeeded;
  }
  return summary;
}

/**
 * Gate 4: skipped without a baseline or without anything to compare; else failed on a
 * regression, failed or passed on insufficient evidence (the spec's policy), passed otherwise.
 */
export function regressionOutcome(request: ValidationRequest, task: HoldoutTask | undefined, ev: EvaluateResult | undefined): RegressionGateResult {
  const spec = request.spec.regression ?? {};
  const bands = spec.bands ?? DEFAULT_BANDS;
  const blockAt = spec.blockAt ?? 'SEVERE';
  const confidence = spec.confidence ?? DEFAULT_CONFIDENCE;
  const policy = spec.insufficientEvidence ?? 'Block';
  const record: Record<string, unknown> = {};
  if (!request.baseline) {
    return { outcome: outcome('Skipped', REASONS.NoBaseline, 'No baseline checkpoint serves the target; nothing to compare against.'), record };
  }
  const { holdout, problems } = holdoutEvidence(task, ev, record);
  const training = trainingEvidence(request.training?.metrics ?? {}, request.baseline.training?.metrics ?? {}, confidence);
  const judged = judgeRegression({ task, holdout, training, criticalMetrics: spec.criticalMetrics, bands, blockAt, policy, problems, measured: ev !== undefined && ev.count > 0 });
  record.regression = { bands, blockAt, confidence, insufficientEvidence: policy, resamples: spec.bootstrapResamples ?? DEFAULT_RESAMPLES, ...judged };
  if (judged.comparisons.length === 0 && problems.length === 0) {
    return { outcome: outcome('Skipped', REASONS.NoHoldout, 'No holdout dataset and no training metrics shared with the baseline; nothing to compare.'), record };
  }
  const summary = regressionSummary(judged, blockAt, confidence);
  const severity = judged.severity;
  const text = `${judged.message} vs baseline ${request.baseline.version} (blocks at ${blockAt}, ${Math.round(confidence * 100)}% one-sided)`;
  if (judged.decision === 'Regression') {
    return { outcome: { verdict: 'Failed', reason: REASONS.Regression, message: `Regression ${severity} ${text}.`, summary, severity }, severity, record };
  }
  if (judged.decision === 'InsufficientEvidence') {
    const verdict = policy === 'Block' ? 'Failed' : 'Passed';
    const tail = policy === 'Block' ? ' Publish a larger holdout, or set spec.validation.regression.insufficientEvidence to Warn to accept the risk.' : ' Passed because spec.validation.regression.insufficientEvidence is Warn.';
    return { outcome: { verdict, reason: REASONS.InsufficientEvidence, message: `Insufficient evidence ${text}.${tail}`, summary, severity }, severity, record };
  }
  return { outcome: { verdict: 'Passed', reason: REASONS.NoRegression, message: `No regression beyond the allowed bands ${text}.`, summary, severity }, severity, record };
}
