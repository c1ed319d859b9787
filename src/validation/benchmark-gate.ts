// Gate 3's decision: the benchmark's batches (latency, throughput, memory) against the spec's
// limits. Pure: no I/O (the worker measured; this reads the numbers).
import { REASONS } from '../api/reasons.js';
import type { BenchmarkGateSpec } from '../api/types.js';
import { fmt, outcome, summaryNumber } from './gate-outcome.js';
import type { GateOutcome, Summary } from './gate-outcome.js';
import type { BenchmarkResult } from './worker-pool.js';

/** Every limit a batch or the whole run breaks, one phrase each. */
function benchmarkProblems(bench: BenchmarkGateSpec, r: BenchmarkResult, bestThroughput: number): string[] {
  const problems: string[] = [];
  for (const b of r.batches) {
    if (b.errors > 0) problems.push(`batch size ${b.batchSize}: ${b.errors} run(s) failed (${b.firstError ?? 'unknown error'})`);
    if (b.runs === 0) problems.push(`batch size ${b.batchSize}: no timed run succeeded`);
    if (bench.maxLatencyP95Ms !== undefined && !(b.p95 <= bench.maxLatencyP95Ms)) problems.push(`batch size ${b.batchSize}: p95 ${fmt(b.p95)} ms above the maximum ${fmt(bench.maxLatencyP95Ms)} ms`);
  }
  if (bench.minThroughput !== undefined && !(bestThroughput >= bench.minThroughput)) problems.push(`best throughput ${fmt(bestThroughput)} samples/s below the minimum ${fmt(bench.minThroughput)}`);
  if (bench.maxMemoryMiB !== undefined && !(r.peakRssMiB <= bench.maxMemoryMiB)) problems.push(`peak memory ${fmt(r.peakRssMiB)} MiB above the maximum ${fmt(bench.maxMemoryMiB)} MiB`);
  return problems;
}

/** Gate 3's verdict: inputs the model refused, else the limits it broke, else passed with its numbers. */
export function benchmarkOutcome(bench: BenchmarkGateSpec, r: BenchmarkResult): GateOutcome {
  const worstP95 = Math.max(...r.batches.map((b) => b.p95));
  const bestThroughput = Math.max(...r.batches.map((b) => b.throughput));
  const summary: Summary = {
    batchSizes: r.batches.map((b) => b.batchSize).join(','),
    p95Ms: summaryNumber(worstP95),
    throughput: summaryNumber(bestThroughput),
    peakRssMiB: summaryNumber(r.peakRssMiB),
    sessionMs: summaryNumber(r.sessionMs),
    input: r.input,
  };
  if (r.input !== 'holdout' && r.batches.length > 0 && r.batches.every((b) => b.runs === 0)) {
    // Not a slow model: the inputs made up for it do not fit it (a too-short sequence, a bad scalar).
    const what = r.input === 'spec' ? 'the inputs in spec.validation.benchmark.inputs' : `made-up inputs (zeros; symbolic dimensions ${String(bench.symbolicDimSize ?? 256)})`;
    return outcome('Failed', REASONS.BenchmarkInputsRejected, `The model failed on ${what}: ${r.batches[0]!.firstError ?? 'unknown error'}. Supply spec.validation.benchmark.inputs (name, shape, values) that the model accepts, or a holdout dataset.`, summary);
  }
  const problems = benchmarkProblems(bench, r, bestThroughput);
  if (problems.length > 0) return outcome('Failed', REASONS.BenchmarkBelowThreshold, `Benchmark failed: ${problems.join('; ')}.`, summary);
  const text = r.batches.map((b) => `batch ${b.batchSize}: p50 ${fmt(b.p50)} ms, p95 ${fmt(b.p95)} ms, ${fmt(b.throughput)} samples/s`).join('; ');
  return outcome('Passed', REASONS.Passed, `${text}; peak ${fmt(r.peakRssMiB)} MiB (${r.input} input).`, summary);
}
