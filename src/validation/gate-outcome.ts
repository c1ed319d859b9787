// What a gate concludes, before the pipeline times it, and the report built from the stages.
// Pure: no I/O, no clock (the pipeline adds durationMs). Shared by the four *-gate.ts deciders,
// which all format numbers the same way in messages and summaries.
import { REASONS } from '../api/reasons.js';
import type { Severity, StageResult, StageVerdict } from '../api/types.js';
import type { ValidationReport } from './contract.js';

export type Summary = Record<string, number | string | boolean>;

/** A gate's verdict from its numbers: a StageResult without the stage name and duration. */
export interface GateOutcome {
  verdict: StageVerdict;
  reason: string;
  message: string;
  summary?: Summary;
  severity?: Severity;
}

const MAX_MESSAGE = 600;

/** Messages are bounded: they end up in conditions and Events. */
export function clip(s: string, n = MAX_MESSAGE): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** Six significant digits for messages and summaries. */
export function num(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : v;
}

export function fmt(v: number): string {
  return String(num(v));
}

/** A summary value: six digits, and NaN or Infinity as text (summaries are JSON). */
export function summaryNumber(v: number): number | string {
  return Number.isFinite(v) ? num(v) : String(v);
}

/** An outcome without numbers (Skipped gates, and failures that have none). */
export function outcome(verdict: StageVerdict, reason: string, message: string, summary?: Summary): GateOutcome {
  return { verdict, reason, message, ...(summary ? { summary } : {}) };
}

/** The StageResult of an outcome that took durationMs (the caller measured it). */
export function stageResult(name: StageResult['stage'], o: GateOutcome, durationMs: number): StageResult {
  const extra: Partial<StageResult> = {};
  if (o.summary) extra.summary = o.summary;
  if (o.severity) extra.severity = o.severity;
  return { stage: name, verdict: o.verdict, reason: o.reason, message: clip(o.message), ...extra, durationMs };
}

/** What the gates after a failed architecture gate report. */
export const NOT_RUN_AFTER_ARCHITECTURE = outcome('Skipped', REASONS.PreviousGateFailed, 'Not run: the architecture gate failed.');

const passedVerdict = (s: StageResult): boolean => s.verdict === 'Passed' || s.verdict === 'Skipped';

/** The report: blocked by the first gate that did not pass, else validated with what ran and what was skipped. */
export function validationReport(stages: StageResult[], full: Record<string, unknown>, severity: Severity | undefined): ValidationReport {
  full.stages = stages;
  const failed = stages.find((s) => !passedVerdict(s));
  if (failed) {
    return { passed: false, reason: failed.reason, message: clip(`${failed.stage}: ${failed.message}`), ...(severity ? { severity } : {}), stages, full };
  }
  const ran = stages.filter((s) => s.verdict === 'Passed').map((s) => s.stage);
  return {
    passed: true,
    reason: REASONS.Validated,
    message: clip(`Validated: ${ran.join(', ')} passed; ${stages.filter((s) => s.verdict === 'Skipped').map((s) => `${s.stage} skipped (${s.reason})`).join(', ') || 'nothing skipped'}.`),
    ...(severity ? { severity } : {}),
    stages,
    full,
  };
}
