// Relative change of a metric against its baseline, and the severity band it falls in. Pure: no I/O.
import { SEVERITIES } from '../api/types.js';
import type { Direction, Severity, SeverityBands } from '../api/types.js';

export const DEFAULT_BANDS: Readonly<SeverityBands> = Object.freeze({ minor: 0.05, moderate: 0.15, severe: 0.3 });

/** Largest band bound accepted: a 1000% degradation band is already meaningless. */
export const MAX_BAND = 10;

/**
 * Band edges are compared with this slack so a change computed as 0.95 vs 1.0
 * (0.050000000000000044 in binary floating point) lands in the band its decimal value names.
 */
const EDGE_TOLERANCE = 1e-9;

export interface MetricComparison {
  metric: string;
  candidate: number;
  baseline: number;
  direction: Direction;
  /** candidate - baseline. */
  absolute: number;
  /** (candidate - baseline) / |baseline|; ±Infinity when the baseline is 0 and the candidate is not. */
  relative: number;
  /** Fraction by which the candidate is WORSE: positive = worse, negative = better, 0 = equal. */
  degradation: number;
}

/**
 * Compares a candidate metric value with the baseline's.
 * - relative = (candidate - baseline) / |baseline|, so its sign always follows the raw change.
 * - degradation = -relative for HigherIsBetter, +relative for LowerIsBetter.
 * - baseline 0: candidate 0 gives 0 for all three; otherwise relative is ±Infinity (sign of the
 *   change) and degradation is +Infinity when the candidate is worse, -Infinity when better. No
 *   epsilon denominator: any change from a zero baseline is "infinitely" large, and a worse one
 *   therefore lands in CRITICAL.
 * - NaN in either value: absolute, relative and degradation are NaN (severityOf maps it to CRITICAL).
 */
export function compareMetric(name: string, candidate: number, baseline: number, direction: Direction): MetricComparison {
  const base = { metric: name, candidate, baseline, direction };
  if (Number.isNaN(candidate) || Number.isNaN(baseline)) {
    return { ...base, absolute: NaN, relative: NaN, degradation: NaN };
  }
  // Identical values are no change, even when both are infinite (Infinity - Infinity would be NaN).
  const absolute = candidate === baseline ? 0 : candidate - baseline;
  if (baseline === 0) {
    if (candidate === 0) return { ...base, absolute: 0, relative: 0, degradation: 0 };
    const relative = absolute > 0 ? Infinity : -Infinity;
    return { ...base, absolute, relative, degradation: direction === 'HigherIsBetter' ? -relative : relative };
  }
  const relative = absolute / Math.abs(baseline);
  const signed = direction === 'HigherIsBetter' ? -relative : relative;
  // -0 becomes 0 so an unchanged metric never reads as "better by zero"; NaN (an infinite
  // baseline against a finite candidate) stays NaN and so CRITICAL.
  const degradation = signed === 0 ? 0 : signed;
  return { ...base, absolute, relative, degradation };
}

/**
 * The band a degradation falls in: NONE when <= 0 (equal or better); MINOR up to and including
 * bands.minor; MODERATE up to bands.moderate; SEVERE up to bands.severe; CRITICAL beyond.
 * NaN is CRITICAL: a number we could not compute never passes.
 */
export function severityOf(degradation: number, bands: SeverityBands = DEFAULT_BANDS): Severity {
  if (Number.isNaN(degradation)) return 'CRITICAL';
  if (degradation <= 0) return 'NONE';
  if (degradation <= bands.minor + EDGE_TOLERANCE) return 'MINOR';
  if (degradation <= bands.moderate + EDGE_TOLERANCE) return 'MODERATE';
  if (degradation <= bands.severe + EDGE_TOLERANCE) return 'SEVERE';
  return 'CRITICAL';
}

function rank(s: Severity): number {
  const i = SEVERITIES.indexOf(s);
  // An unknown string (e.g. from a hand-edited status) ranks as CRITICAL rather than as NONE.
  return i < 0 ? SEVERITIES.length - 1 : i;
}

/** The worst severity in the list; NONE for an empty list. */
export function worstSeverity(list: Iterable<Severity>): Severity {
  let worst = 0;
  for (const s of list) worst = Math.max(worst, rank(s));
  return SEVERITIES[worst] as Severity;
}

/** True when s is threshold or worse (e.g. severityAtLeast('CRITICAL', 'SEVERE') is true). */
export function severityAtLeast(s: Severity, threshold: Severity): boolean {
  return rank(s) >= rank(threshold);
}

/**
 * Checks bands: minor, moderate and severe are each a number in (0, 10] and strictly increasing.
 * Returns an error message naming the offending field, or undefined when the bands are valid.
 */
export function validateBands(bands: SeverityBands): string | undefined {
  const fields = ['minor', 'moderate', 'severe'] as const;
  for (const field of fields) {
    const v: unknown = (bands as unknown as Record<string, unknown>)[field];
    if (typeof v !== 'number' || !(v > 0 && v <= MAX_BAND)) {
      return `bands.${field} must be a number in (0, ${MAX_BAND}] (a fraction: 0.05 = 5% worse), got ${String(v)}`;
    }
  }
  if (!(bands.minor < bands.moderate)) {
    return `bands.moderate (${bands.moderate}) must be greater than bands.minor (${bands.minor})`;
  }
  if (!(bands.moderate < bands.severe)) {
    return `bands.severe (${bands.severe}) must be greater than bands.moderate (${bands.moderate})`;
  }
  return undefined;
}

/** Fills missing fields from DEFAULT_BANDS (validate the result with validateBands). */
export function resolveBands(bands?: Partial<SeverityBands>): SeverityBands {
  return {
    minor: bands?.minor ?? DEFAULT_BANDS.minor,
    moderate: bands?.moderate ?? DEFAULT_BANDS.moderate,
    severe: bands?.severe ?? DEFAULT_BANDS.severe,
  };
}
