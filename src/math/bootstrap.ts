// Paired bootstrap confidence interval of a metric difference. Pure: no I/O, no Math.random.
import { percentile } from './stats.js';

export interface PairedBootstrapOptions {
  /** Number of samples (both models were scored on the same n holdout samples). */
  n: number;
  /**
   * The paired statistic, typically candidate metric minus baseline metric, computed on the
   * samples named by `indices` (length n, repetition allowed). The array is reused between calls:
   * read it, do not keep it.
   */
  statistic: (indices: Uint32Array) => number;
  /** Resamples to draw (default 1000). */
  resamples?: number;
  /** PRNG seed; the same seed, n and statistic give the same interval (default 1). */
  seed?: number;
}

export interface BootstrapResult {
  /** The statistic on the original samples (indices 0..n-1). */
  estimate: number;
  /** 2.5th percentile of the resampled statistics. */
  low: number;
  /** 97.5th percentile of the resampled statistics. */
  high: number;
  /** Resamples whose statistic was a number (NaN resamples, e.g. AUC on a one-class draw, are dropped). */
  resamples: number;
}

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 95% percentile-bootstrap interval of a paired statistic. Each resample draws n indices with
 * replacement from a seeded PRNG and calls `statistic` on them; the same index array is reused so
 * a resample allocates nothing here.
 *
 * NaN rules (never a passing interval from bad numbers): n = 0 or a NaN estimate gives NaN for
 * estimate, low and high. Resamples where the statistic is NaN are dropped and counted out of
 * `resamples`; when fewer than half of the resamples are numbers, low and high are NaN.
 */
/**
 * The bootstrap as steps: it yields after every resample, so a caller can spread the work over
 * the event loop (pairedBootstrap runs it all at once).
 */
export function* pairedBootstrapSteps(options: PairedBootstrapOptions): Generator<void, BootstrapResult, void> {
  const { n, statistic } = options;
  const resamples = options.resamples ?? 1000;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`bootstrap n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new RangeError(`bootstrap resamples must be a positive integer, got ${resamples}`);
  }
  if (n === 0) return { estimate: NaN, low: NaN, high: NaN, resamples: 0 };
  const indices = new Uint32Array(n);
  for (let i = 0; i < n; i++) indices[i] = i;
  const estimate = statistic(indices);
  if (Number.isNaN(estimate)) return { estimate: NaN, low: NaN, high: NaN, resamples: 0 };

  const rng = mulberry32(seed);
  const values = new Float64Array(resamples);
  let kept = 0;
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) indices[i] = Math.floor(rng() * n);
    const v = statistic(indices);
    if (!Number.isNaN(v)) values[kept++] = v;
    yield;
  }
  if (kept * 2 < resamples) return { estimate, low: NaN, high: NaN, resamples: kept };
  const used = values.subarray(0, kept).sort();
  return { estimate, low: percentile(used, 2.5), high: percentile(used, 97.5), resamples: kept };
}

export function pairedBootstrap(options: PairedBootstrapOptions): BootstrapResult {
  const steps = pairedBootstrapSteps(options);
  let s = steps.next();
  while (!s.done) s = steps.next();
  return s.value;
}
