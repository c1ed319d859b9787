// Status arithmetic: the next status for a phase change, a stall, or a gate's results, with the
// kstatus conditions (Ready, Reconciling, Stalled) derived in one place. Pure.
import { CONDITION, setCondition } from '../api/conditions.js';
import { REASON } from '../api/reasons.js';
import type { Condition, HistoryEntry, ModelCheckpointStatus, Phase, StageName, StageResult } from '../api/types.js';
import { kstatusOf } from './phases.js';

export const HISTORY_LIMIT = 10;

export function appendHistory(history: readonly HistoryEntry[] | undefined, entry: HistoryEntry, limit = HISTORY_LIMIT): HistoryEntry[] {
  return [...(history ?? []), entry].slice(-limit);
}

function kstatus(conditions: Condition[] | undefined, phase: Phase, reason: string, message: string, generation: number, now: string, stalledReason?: string): Condition[] {
  const k = kstatusOf(phase, stalledReason);
  let c = setCondition(conditions, { type: CONDITION.ready, status: k.ready ? 'True' : 'False', reason, message }, generation, now);
  c = setCondition(c, { type: CONDITION.reconciling, status: k.reconciling ? 'True' : 'False', reason: k.reconciling ? reason : phase, message: k.reconciling ? message : `phase ${phase}` }, generation, now);
  c = setCondition(c, { type: CONDITION.stalled, status: k.stalled ? 'True' : 'False', reason: k.stalled ? (stalledReason ?? reason) : phase, message: k.stalled ? message : `phase ${phase}` }, generation, now);
  return c;
}

/** The status after moving to `phase`. */
export function withPhase(status: ModelCheckpointStatus, phase: Phase, reason: string, message: string, generation: number, now: string): ModelCheckpointStatus {
  const changed = status.phase !== phase;
  return {
    ...status,
    phase,
    observedGeneration: generation,
    conditions: kstatus(status.conditions, phase, reason, message, generation, now),
    history: changed ? appendHistory(status.history, { time: now, phase, reason, message, generation }) : status.history,
  };
}

/** The status while progress is blocked on something outside (target missing, claim held). */
export function withStall(status: ModelCheckpointStatus, phase: Phase, reason: string, message: string, generation: number, now: string): ModelCheckpointStatus {
  return { ...status, phase, observedGeneration: generation, conditions: kstatus(status.conditions, phase, reason, message, generation, now, reason) };
}

/** Waiting without being stuck: Reconciling stays True, the message says on what. */
export function withWaiting(status: ModelCheckpointStatus, phase: Phase, reason: string, message: string, generation: number, now: string): ModelCheckpointStatus {
  return { ...status, phase, observedGeneration: generation, conditions: kstatus(status.conditions, phase, reason, message, generation, now) };
}

const STAGE_CONDITION: Record<StageName, string> = {
  fetch: CONDITION.fetched,
  architecture: CONDITION.architecture,
  holdout: CONDITION.holdout,
  benchmark: CONDITION.benchmark,
  regression: CONDITION.regression,
};

/** One condition per gate, True when it passed or was skipped. */
export function withStages(status: ModelCheckpointStatus, stages: readonly StageResult[], generation: number, now: string): ModelCheckpointStatus {
  let conditions = status.conditions;
  for (const s of stages) {
    conditions = setCondition(conditions, {
      type: STAGE_CONDITION[s.stage],
      status: s.verdict === 'Passed' || s.verdict === 'Skipped' ? 'True' : 'False',
      reason: s.reason,
      message: s.message,
    }, generation, now);
  }
  return { ...status, stages: [...stages], conditions };
}

/** A fresh start for a new generation: results of the old one are dropped, the record kept. */
export function restarted(status: ModelCheckpointStatus, generation: number, message: string, now: string): ModelCheckpointStatus {
  const keep = new Set<string>([CONDITION.ready, CONDITION.reconciling, CONDITION.stalled, CONDITION.deployed]);
  const base: ModelCheckpointStatus = {
    deployment: status.deployment,
    rolledBackGeneration: status.rolledBackGeneration,
    history: status.history,
    conditions: (status.conditions ?? []).filter((c) => keep.has(c.type)),
  };
  return withPhase({ ...base, phase: undefined }, 'Pending', REASON.SpecChanged, message, generation, now);
}

/** Someone else changed the model fields of a Deployment this checkpoint runs: Ready False (Drift). */
export function withDrift(status: ModelCheckpointStatus, message: string, generation: number, now: string): ModelCheckpointStatus {
  return { ...status, conditions: setCondition(status.conditions, { type: CONDITION.ready, status: 'False', reason: REASON.Drift, message }, generation, now) };
}

/** The Deployed condition: True when the Deployment runs this checkpoint, False once it no longer does. */
export function withDeployed(status: ModelCheckpointStatus, deployed: boolean, reason: string, message: string, generation: number, now: string): ModelCheckpointStatus {
  return { ...status, conditions: setCondition(status.conditions, { type: CONDITION.deployed, status: deployed ? 'True' : 'False', reason, message }, generation, now) };
}

/** The live guard's condition: False while it holds, Unknown while it measures. */
export function withAnalysisCondition(status: ModelCheckpointStatus, state: 'False' | 'Unknown', reason: string, message: string, generation: number, now: string): ModelCheckpointStatus {
  return { ...status, conditions: setCondition(status.conditions, { type: CONDITION.analysis, status: state, reason, message }, generation, now) };
}

/** Whether two statuses say the same (a write of `next` would change nothing). */
export function sameStatus(a: ModelCheckpointStatus, b: ModelCheckpointStatus): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
