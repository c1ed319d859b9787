// Descriptive statistics for latency and metric summaries. Pure: no I/O.
//
// NaN policy: a NaN anywhere in the input makes every derived statistic NaN (never a number that
// could pass a bound). Empty input gives NaN too. Infinity is kept (a timed-out call is infinitely
// slow), so it fails upper bounds on its own.

/** Arithmetic mean; NaN for empty input or when any value is NaN. */
export function mean(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i] as number;
  return sum / n;
}

function hasNaN(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) return true;
  return false;
}

function isSorted(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if ((values[i] as number) < (values[i - 1] as number)) return false;
  return true;
}

/** Ascending copy as a Float64Array (numeric sort; the caller's array is never reordered). */
function sortedCopy(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  // Skip the O(n log n) sort when the caller already passes sorted data (the common case).
  if (!isSorted(out)) out.sort();
  return out;
}

/** Percentile of already-sorted, NaN-free data; linear interpolation between closest ranks. */
function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = (p / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  const frac = rank - lo;
  // Avoid Infinity - Infinity = NaN when both neighbours are the same (infinite) value.
  if (frac === 0 || a === b) return a;
  return a + (b - a) * frac;
}

/**
 * The p-th percentile (p in [0, 100]) with linear interpolation between closest ranks (NumPy's
 * default "linear" method). Input may be sorted or unsorted; it is not modified.
 * Returns NaN for empty input or when any value is NaN. Throws RangeError for p outside [0, 100].
 */
export function percentile(sortedOrUnsorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile p must be in [0, 100], got ${p}`);
  if (sortedOrUnsorted.length === 0 || hasNaN(sortedOrUnsorted)) return NaN;
  return percentileSorted(sortedCopy(sortedOrUnsorted), p);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

/**
 * count, p50, p95, p99, mean and max of a set of latencies (any unit; the caller's).
 * Empty input or any NaN: count is the input length and every other field is NaN.
 */
export function latencySummary(values: ArrayLike<number>): LatencySummary {
  const count = values.length;
  if (count === 0 || hasNaN(values)) return { count, p50: NaN, p95: NaN, p99: NaN, mean: NaN, max: NaN };
  const sorted = sortedCopy(values);
  return {
    count,
    p50: percentileSorted(sorted, 50),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    mean: mean(sorted),
    max: sorted[count - 1] as number,
  };
}
