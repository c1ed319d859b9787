// The regression gate's decision, from the paired-bootstrap evidence of each metric. Pure: no I/O.
// Severity is the band of the point estimate (what the change looks like); the decision comes
// from the one-sided bounds (what the evidence shows), metric by metric over the critical ones.
import type { HoldoutTask, InsufficientEvidencePolicy, Severity, SeverityBands } from '../api/types.js';
import { decideMetric, PRIMARY_METRIC } from '../math/evidence.js';
import type { PairedMetricResult, RegressionDecision } from '../math/evidence.js';
import { severityOf, worstSeverity } from '../math/severity.js';

export interface RegressionMetric extends PairedMetricResult {
  source: 'holdout' | 'training';
}

export interface JudgedMetric extends RegressionMetric {
  severity: Severity;
  critical: boolean;
  /** Only critical metrics are decided; the others are reported with their band. */
  decision?: RegressionDecision;
  samplesNeeded?: number;
  why: string;
}

export interface RegressionJudgement {
  decision: RegressionDecision;
  /** Worst point-estimate band over the critical metrics (CRITICAL when a problem stopped the comparison). */
  severity: Severity;
  /** The critical metric names in force (the default or the spec's). */
  critical: string[];
  comparisons: JudgedMetric[];
  /** The critical metric that decided (the first Regression, else the first InsufficientEvidence, else the worst). */
  deciding?: JudgedMetric;
  problems: string[];
  message: string;
}

const fmt = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v));

function describe(c: JudgedMetric): string {
  const change = `${c.source === 'training' ? 'training ' : ''}${c.metric} ${fmt(c.baseline)} -> ${fmt(c.candidate)} (${c.severity})`;
  return `${change}: ${c.why}`;
}

/**
 * Critical metrics: the spec's list, else the task's primary metric. A bare name applies to the
 * metric of that name from the holdout or the training run; `training.<name>` to the training one.
 */
export function criticalMetricsFor(task: HoldoutTask | undefined, declared: readonly string[] | undefined): string[] {
  if (declared !== undefined) return [...declared];
  return task !== undefined ? [PRIMARY_METRIC[task]] : [];
}

export function judgeRegression(input: {
  task: HoldoutTask | undefined;
  holdout: RegressionMetric[];
  training: RegressionMetric[];
  criticalMetrics: readonly string[] | undefined;
  bands: SeverityBands;
  blockAt: Severity;
  policy: InsufficientEvidencePolicy;
  problems: string[];
  /** A holdout ran (so a named critical holdout metric that is missing is a problem). */
  measured: boolean;
}): RegressionJudgement {
  const critical = criticalMetricsFor(input.task, input.criticalMetrics);
  // A bare name applies to the metric of that name from either source; training.<name> to the training one only.
  const isCritical = (m: RegressionMetric): boolean => critical.includes(m.metric) || (m.source === 'training' && critical.includes(`training.${m.metric}`));
  const comparisons: JudgedMetric[] = [...input.holdout, ...input.training].map((m) => {
    if (isCritical(m)) return { ...m, ...decideMetric(m, input.bands, input.blockAt), critical: true };
    return { ...m, severity: severityOf(m.degradation, input.bands), critical: false, why: 'reported, not critical (name it in spec.validation.regression.criticalMetrics to let it block)' };
  });
  const problems = [...input.problems];
  for (const name of critical) {
    const training = name.startsWith('training.');
    const bare = training ? name.slice('training.'.length) : name;
    const found = comparisons.some((c) => c.metric === bare && (!training || c.source === 'training'));
    if (!found && (training || input.measured)) problems.push(`critical metric '${name}' was not measured on both models`);
  }
  const crit = comparisons.filter((c) => c.critical);
  if (problems.length > 0) {
    return { decision: 'Regression', severity: 'CRITICAL', critical, comparisons, problems, message: problems.join('; ') };
  }
  const severity = worstSeverity(crit.map((c) => c.severity));
  const byDegradation = [...crit].sort((a, b) => (Number.isNaN(b.degradation) ? Infinity : b.degradation) - (Number.isNaN(a.degradation) ? Infinity : a.degradation));
  const regression = crit.filter((c) => c.decision === 'Regression');
  const unsure = crit.filter((c) => c.decision === 'InsufficientEvidence');
  if (regression.length > 0) {
    return { decision: 'Regression', severity, critical, comparisons, deciding: regression[0], problems, message: regression.map(describe).join('; ') };
  }
  if (unsure.length > 0) {
    return { decision: 'InsufficientEvidence', severity, critical, comparisons, deciding: unsure[0], problems, message: unsure.map(describe).join('; ') };
  }
  const worst = byDegradation[0];
  const message = worst ? describe(worst) : 'no critical metric was compared';
  return { decision: 'Pass', severity, critical, comparisons, ...(worst ? { deciding: worst } : {}), problems, message };
}
