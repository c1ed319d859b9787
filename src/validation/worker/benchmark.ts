// The benchmark job in a worker: the candidate timed at each batch size on holdout samples tiled to
// the batch, the spec's inputs, or made-up zeros, and the worker's peak memory over the job.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { run, signatureOf } from '../../onnx/session.js';
import type { Session, Tensor, TensorInfo } from '../../onnx/session.js';
import type { BenchmarkInputSpec } from '../../api/types.js';
import { latencySummary } from '../../math/stats.js';
import { REASONS } from '../../api/reasons.js';
import type { BenchmarkBatch, BenchmarkJob, BenchmarkResult } from '../worker-protocol.js';
import { mapInputs, syntheticFeeds, tiledFeeds } from './feeds.js';
import { firstLine, JobError } from './job-error.js';
import { closeUnlessKept, loadDatasetIn, openIn } from './scope-cache.js';
import type { ScopeCache } from './scope-cache.js';

/** Peak RSS (MiB) since the last reset; resets it where the kernel allows (clear_refs 5). */
function peakRssMiB(reset = false): number {
  if (reset) {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
    } catch {
      /* not Linux or not allowed: the lifetime peak is reported instead */
    }
  }
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* fall through */
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** The benchmark job: each batch size's latency over warm-up and timed runs, and the worker's peak memory. */
export async function benchmark(job: BenchmarkJob, scope: ScopeCache | undefined): Promise<BenchmarkResult> {
  peakRssMiB(true);
  // The holdout stage of the same validation parsed the dataset and loaded the session: both kept.
  const data = job.dataset ? await loadDatasetIn(scope, job.dataset) : undefined;
  const opened = await openIn(scope, job.model, 'candidate');
  const { session, ms } = opened;
  try {
    const sig = signatureOf(session);
    const useData = data !== undefined && data.count > 0;
    const mapping = useData ? mapInputs(sig.inputs, data.inputs, 'candidate') : new Map<string, string>();
    const given = givenInputs(job, sig.inputs);
    const batches: BenchmarkBatch[] = [];
    for (const bs of batchSizes(job, sig.inputs, given, useData)) {
      let feeds: Record<string, Tensor>;
      try {
        feeds = useData ? tiledFeeds(sig.inputs, mapping, data, bs) : syntheticFeeds(sig.inputs, bs, job.symbolicDim ?? 256, given);
      } catch (err) {
        if (err instanceof JobError) throw err;
        throw new JobError(REASONS.BenchmarkInputsRejected, `The benchmark inputs do not fit the model (${firstLine(err)}); fix spec.validation.benchmark.inputs (shape and values per input).`);
      }
      batches.push(await timeBatch(session, feeds, bs, job));
    }
    return { sessionMs: ms, peakRssMiB: peakRssMiB(), input: useData ? 'holdout' : given.size > 0 ? 'spec' : 'synthetic', batches };
  } finally {
    await closeUnlessKept(scope, opened);
  }
}

/** The spec's inputs by name; one the model does not have is BenchmarkInputsRejected. */
function givenInputs(job: BenchmarkJob, inputs: TensorInfo[]): Map<string, BenchmarkInputSpec> {
  const given = new Map((job.inputs ?? []).map((i) => [i.name, i]));
  for (const name of given.keys()) {
    if (!inputs.some((i) => i.name === name)) {
      throw new JobError(REASONS.BenchmarkInputsRejected, `spec.validation.benchmark.inputs names '${name}', which the model does not have (inputs: ${inputs.map((i) => i.name).join(', ')}); fix the name.`);
    }
  }
  return given;
}

/** The batch sizes to time: the spec inputs' own batch, else a fixed batch dimension, else the job's list. */
function batchSizes(job: BenchmarkJob, inputs: TensorInfo[], given: Map<string, BenchmarkInputSpec>, useData: boolean): number[] {
  const d0 = inputs[0]?.shape[0];
  // Inputs from the spec fix their own batch: one batch size, the first given input's leading dimension.
  const firstGiven = inputs.map((i) => given.get(i.name)).find((g) => g !== undefined);
  return !useData && firstGiven ? [firstGiven.shape[0] ?? 1] : typeof d0 === 'number' && d0 > 0 ? [d0] : [...new Set(job.batchSizes)];
}

/** Warm-up runs, then timed runs of one batch: the latency summary and the failed runs. */
async function timeBatch(session: Session, feeds: Record<string, Tensor>, bs: number, job: BenchmarkJob): Promise<BenchmarkBatch> {
  let errors = 0;
  let firstError: string | undefined;
  for (let w = 0; w < job.warmupRuns; w++) {
    try {
      await run(session, feeds);
    } catch (err) {
      errors++;
      firstError ??= firstLine(err);
    }
  }
  const times: number[] = [];
  for (let r = 0; r < job.runs; r++) {
    const t0 = performance.now();
    try {
      await run(session, feeds);
      times.push(performance.now() - t0);
    } catch (err) {
      errors++;
      firstError ??= firstLine(err);
    }
  }
  const s = latencySummary(times);
  const b: BenchmarkBatch = {
    batchSize: bs,
    runs: times.length,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
    mean: s.mean,
    max: s.max,
    throughput: times.length > 0 && s.p50 > 0 ? (bs * 1000) / s.p50 : 0,
    errors,
  };
  if (firstError !== undefined) b.firstError = firstError;
  return b;
}
