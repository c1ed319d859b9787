// Conditions as the Kubernetes API conventions and kstatus read them: a list keyed by type,
// lastTransitionTime moves only when the status changes. Pure.
import type { Condition, ConditionStatus, Severity, StageResult } from './types.js';

export const CONDITION = {
  /** kstatus: the checkpoint reached its goal (deployed and not failing, Healthy, or Superseded: it served and a newer one took over). */
  ready: 'Ready',
  /** kstatus: work is in progress. */
  reconciling: 'Reconciling',
  /** kstatus: progress stopped; the reason says what would unblock it. */
  stalled: 'Stalled',
  fetched: 'Fetched',
  architecture: 'ArchitectureValidated',
  holdout: 'HoldoutEvaluated',
  benchmark: 'BenchmarkPassed',
  regression: 'RegressionChecked',
  deployed: 'Deployed',
  analysis: 'AnalysisHealthy',
} as const;

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** Returns a new list with `input` set; the transition time is kept unless the status changed. */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, generation: number, now: string): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: truncate(input.message, 1024),
    observedGeneration: generation,
    lastTransitionTime: prev && prev.status === input.status ? prev.lastTransitionTime : now,
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Cuts to at most `max` UTF-16 units without splitting a surrogate pair. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return `${s.slice(0, end)}…`;
}

/**
 * The severity worth showing: only when the regression gate actually compared the checkpoint
 * with production (Passed or Failed). A checkpoint rejected earlier, or with no baseline, carries
 * the pipeline's default NONE, which would read as "judged, no regression".
 */
export function judgedSeverity(status: { severity?: Severity; stages?: readonly StageResult[] } | undefined): Severity | undefined {
  const regression = status?.stages?.find((s) => s.stage === 'regression');
  if (!regression || (regression.verdict !== 'Passed' && regression.verdict !== 'Failed')) return undefined;
  return status?.severity ?? regression.severity;
}
