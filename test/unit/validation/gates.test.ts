// The gates' pure deciders: each gate's verdict, reason, message and summary from its numbers
// (the pipeline's integration tests run them on real models; these pin the branches).
import assert from 'node:assert/strict';
import { REASONS } from '../../../src/api/reasons.js';
import type { StageResult } from '../../../src/api/types.js';
import type { ModelSignature } from '../../../src/validation/architecture.js';
import { compareSignatures } from '../../../src/validation/architecture.js';
import { architectureOutcome } from '../../../src/validation/architecture-gate.js';
import { benchmarkOutcome } from '../../../src/validation/benchmark-gate.js';
import type { ValidationRequest } from '../../../src/validation/contract.js';
import { StageError } from '../../../src/validation/contract.js';
import { clip, stageResult, summaryNumber, validationReport } from '../../../src/validation/gate-outcome.js';
import { judgeHoldout, scoreHoldout } from '../../../src/validation/holdout-gate.js';
import { regressionOutcome, trainingEvidence } from '../../../src/validation/regression-gate.js';
import type { BenchmarkBatch, BenchmarkResult, EvaluateResult } from '../../../src/validation/worker-pool.js';

const sig = (parameterCount: number, inputs = [{ name: 'x', elemType: 'float32', shape: [1, 4] as Array<number | string> }]): ModelSignature => ({
  inputs,
  outputs: [{ name: 'y', elemType: 'float32', shape: [1, 2] }],
  opsets: { '': 17 },
  irVersion: 8,
  nodeCount: 3,
  parameterCount,
  parameterBytes: parameterCount * 4,
  externalDataTensors: 0,
});

describe('validation/gate-outcome', () => {
  it('clips long messages, formats numbers to six digits and non-finite ones as text', () => {
    assert.equal(clip('x'.repeat(700)).length, 600);
    assert.ok(clip('x'.repeat(700)).endsWith('…'));
    assert.equal(summaryNumber(1 / 3), 0.333333);
    assert.equal(summaryNumber(NaN), 'NaN');
  });

  it('a stage result carries summary and severity only when the outcome has them', () => {
    assert.deepEqual(stageResult('fetch', { verdict: 'Passed', reason: 'R', message: 'm' }, 5), { stage: 'fetch', verdict: 'Passed', reason: 'R', message: 'm', durationMs: 5 });
    const r = stageResult('regression', { verdict: 'Failed', reason: 'R', message: 'm', summary: { a: 1 }, severity: 'SEVERE' }, 1);
    assert.deepEqual(Object.keys(r), ['stage', 'verdict', 'reason', 'message', 'summary', 'severity', 'durationMs']);
  });

  it('the report is blocked by the first gate that did not pass, else lists what ran and what was skipped', () => {
    const s = (stage: StageResult['stage'], verdict: StageResult['verdict'], reason: string): StageResult => ({ stage, verdict, reason, message: `${stage} says` });
    const blocked = validationReport([s('fetch', 'Passed', 'Fetched'), s('holdout', 'Failed', 'LowSuccessRate'), s('benchmark', 'Failed', 'X')], {}, undefined);
    assert.equal(blocked.passed, false);
    assert.equal(blocked.reason, 'LowSuccessRate');
    assert.equal(blocked.message, 'holdout: holdout says');
    const full: Record<string, unknown> = {};
    const ok = validationReport([s('fetch', 'Passed', 'Fetched'), s('regression', 'Skipped', 'NoBaseline')], full, 'NONE');
    assert.equal(ok.reason, REASONS.Validated);
    assert.equal(ok.message, 'Validated: fetch passed; regression skipped (NoBaseline).');
    assert.equal(ok.severity, 'NONE');
    assert.equal(full.stages, ok.stages);
  });
});

describe('validation/architecture-gate', () => {
  it('no baseline passes with NoBaseline; Skip is skipped', () => {
    const first = architectureOutcome(compareSignatures(undefined, sig(10)), sig(10), 'Strict', undefined);
    assert.equal(first.verdict, 'Passed');
    assert.equal(first.reason, REASONS.NoBaseline);
    assert.match(first.message, /\(1 input\(s\), 1 output\(s\)\)\.$/);
    const skip = architectureOutcome(compareSignatures(sig(10), sig(10), 'Skip'), sig(10), 'Skip', 'v1');
    assert.deepEqual([skip.verdict, skip.reason, skip.message], ['Skipped', REASONS.GateDisabled, 'Architecture policy is Skip.']);
  });

  it('an incompatible signature fails naming the baseline and counting the differences', () => {
    const cand = sig(10, [{ name: 'z', elemType: 'float32', shape: [1, 4] }]);
    const o = architectureOutcome(compareSignatures(sig(10), cand), cand, 'Strict', 'v1');
    assert.equal(o.verdict, 'Failed');
    assert.equal(o.reason, REASONS.IncompatibleSignature);
    assert.match(o.message, /^The candidate's signature is incompatible with the baseline v1: input 'x': missing/);
    assert.equal(o.summary?.differences, 2);
  });

  it('a large parameter change that does not block is noted in the message', () => {
    const o = architectureOutcome(compareSignatures(sig(10), sig(30)), sig(30), 'Strict', 'v1');
    assert.equal(o.reason, REASONS.Compatible);
    assert.match(o.message, / Parameter count changed 200% \(10 -> 30\), over maxParameterChangeRatio; reported, not blocking\.$/);
    assert.equal(o.summary?.baselineParameters, 10);
    assert.equal(o.summary?.parameterChangeRatio, 2);
  });
});

describe('validation/holdout-gate', () => {
  const ev = (ok: number[], latency: number[]): EvaluateResult => ({
    count: ok.length,
    batchSize: 2,
    labels: Float64Array.from(ok.map((_, i) => i % 2)),
    labelWidth: 1,
    candidate: { outputName: 'p', sessionMs: 1, predictions: Float64Array.from(ok.map((_, i) => (i % 2 ? 0.9 : 0.1))), rowSize: 1, ok: Uint8Array.from(ok), latencyMs: Float64Array.from(latency), errors: ok.filter((x) => x === 0).length },
  });
  const spec = { dataset: { uri: 'file:///d.jsonl', digest: 'sha256:0' }, task: 'classification' as const };

  it('passes with the metrics in the message and the summary', () => {
    const e = ev([1, 1, 1, 1], [1, 1, 1, 1]);
    const j = judgeHoldout(spec, e, scoreHoldout('classification', e), 0.5);
    assert.equal(j.outcome.verdict, 'Passed');
    assert.match(j.outcome.message, /^4 samples, success 100%, p95 1 ms; accuracy 1, /);
    assert.equal(j.outcome.summary?.accuracy, 1);
    assert.equal(j.record.samples, 4);
  });

  it('fails on the success rate first, then latency, then thresholds', () => {
    const low = ev([1, 0, 0, 0], [1, 1, 1, 1]);
    assert.equal(judgeHoldout(spec, low, scoreHoldout('classification', low), 0).outcome.reason, REASONS.LowSuccessRate);
    const slow = ev([1, 1, 1, 1], [500, 500, 500, 500]);
    const s = judgeHoldout(spec, slow, scoreHoldout('classification', slow), 0).outcome;
    assert.equal(s.reason, REASONS.LatencyTooHigh);
    assert.equal(s.message, 'Holdout latency p95 500 ms is above the maximum 100 ms (p50 500 ms, batches of 2).');
    const ok = ev([1, 1, 1, 1], [1, 1, 1, 1]);
    const t = judgeHoldout({ ...spec, thresholds: [{ metric: 'accuracy', min: 1.5 }] }, ok, scoreHoldout('classification', ok), 0).outcome;
    assert.equal(t.reason, REASONS.HoldoutBelowThreshold);
  });

  it('labels that do not fit the task are a terminal DatasetInvalid', () => {
    const e = ev([1, 1], [1, 1]);
    e.labels = Float64Array.from([0, 7]);
    assert.throws(() => scoreHoldout('classification', e), (err: unknown) => err instanceof StageError && err.reason === REASONS.DatasetInvalid && err.terminal);
  });
});

describe('validation/benchmark-gate', () => {
  const batch = (batchSize: number, over: Partial<BenchmarkBatch> = {}): BenchmarkBatch => ({ batchSize, runs: 20, p50: 2, p95: 3, p99: 4, mean: 2, max: 5, throughput: 100 * batchSize, errors: 0, ...over });
  const result = (batches: BenchmarkBatch[], input: BenchmarkResult['input'] = 'synthetic'): BenchmarkResult => ({ sessionMs: 10, peakRssMiB: 50, input, batches });

  it('passes with each batch in the message', () => {
    const o = benchmarkOutcome({}, result([batch(1), batch(8)]));
    assert.equal(o.reason, REASONS.Passed);
    assert.equal(o.message, 'batch 1: p50 2 ms, p95 3 ms, 100 samples/s; batch 8: p50 2 ms, p95 3 ms, 800 samples/s; peak 50 MiB (synthetic input).');
    assert.deepEqual(o.summary, { batchSizes: '1,8', p95Ms: 3, throughput: 800, peakRssMiB: 50, sessionMs: 10, input: 'synthetic' });
  });

  it('made-up inputs the model refuses are BenchmarkInputsRejected, not a slow model', () => {
    const o = benchmarkOutcome({}, result([batch(1, { runs: 0, errors: 20, firstError: 'bad dim' })]));
    assert.equal(o.reason, REASONS.BenchmarkInputsRejected);
    assert.match(o.message, /^The model failed on made-up inputs \(zeros; symbolic dimensions 256\): bad dim\./);
  });

  it('lists every limit broken', () => {
    const o = benchmarkOutcome({ maxLatencyP95Ms: 2, minThroughput: 1000, maxMemoryMiB: 10 }, result([batch(1)], 'holdout'));
    assert.equal(o.reason, REASONS.BenchmarkBelowThreshold);
    assert.equal(o.message, 'Benchmark failed: batch size 1: p95 3 ms above the maximum 2 ms; best throughput 100 samples/s below the minimum 1000; peak memory 50 MiB above the maximum 10 MiB.');
  });
});

describe('validation/regression-gate', () => {
  const request = (training: Record<string, number>, baseline: Record<string, number> | undefined): ValidationRequest => ({
    key: 'ns/cp',
    generation: 1,
    candidate: { uri: 'file:///c.onnx', digest: 'sha256:0' },
    spec: { regression: { criticalMetrics: ['training.accuracy'] } },
    training: { metrics: training },
    ...(baseline ? { baseline: { checkpoint: 'b', version: 'v1', artifact: { uri: 'file:///b.onnx', digest: 'sha256:1' }, training: { metrics: baseline } } } : {}),
  });

  it('no baseline: skipped, nothing recorded', () => {
    const r = regressionOutcome(request({ accuracy: 0.9 }, undefined), undefined, undefined);
    assert.deepEqual([r.outcome.verdict, r.outcome.reason, r.severity, r.record], ['Skipped', REASONS.NoBaseline, undefined, {}]);
  });

  it('a training metric that dropped a lot is a Regression naming the baseline', () => {
    const r = regressionOutcome(request({ accuracy: 0.5 }, { accuracy: 0.9 }), undefined, undefined);
    assert.equal(r.outcome.verdict, 'Failed');
    assert.equal(r.outcome.reason, REASONS.Regression);
    assert.match(r.outcome.message, /^Regression \w+ training accuracy 0\.9 -> 0\.5 .* vs baseline v1 \(blocks at SEVERE, 95% one-sided\)\.$/);
    assert.equal(r.outcome.summary?.metric, 'accuracy');
    assert.equal(r.severity, r.outcome.severity);
    assert.ok('regression' in r.record);
  });

  it('training evidence skips metrics the baseline lacks', () => {
    const t = trainingEvidence({ accuracy: 0.9, other: 1 }, { accuracy: 0.9 }, 0.95);
    assert.deepEqual(t.map((m) => [m.metric, m.source, m.degradation]), [['accuracy', 'training', 0]]);
  });
});
