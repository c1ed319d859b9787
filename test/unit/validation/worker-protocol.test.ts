// The worker protocol's encoding (worker-protocol.ts) and a worker job's error (worker/job-error.ts):
// the pure halves of the pool and its workers (the integration tests run them over real IPC).
import assert from 'node:assert/strict';
import { decodeArray, decodeResult, encodeArray } from '../../../src/validation/worker-protocol.js';
import type { EvaluateResult, EvaluateResultWire, ModelRunWire } from '../../../src/validation/worker-protocol.js';
import { firstLine, JobError } from '../../../src/validation/worker/job-error.js';

describe('worker protocol', () => {
  it('round-trips each dtype, from a view at any offset, into a fresh aligned array', () => {
    const backing = new Float64Array([9, 1.5, -2, 3]);
    const view = backing.subarray(1);
    const back = decodeArray(encodeArray(view));
    assert.ok(back instanceof Float64Array);
    assert.deepEqual([...back], [1.5, -2, 3]);
    assert.notEqual(back.buffer, backing.buffer);
    const f32 = decodeArray(encodeArray(new Float32Array([0.5, 2])));
    assert.ok(f32 instanceof Float32Array);
    assert.deepEqual([...f32], [0.5, 2]);
    const u8 = decodeArray({ dtype: 'uint8', bytes: new Uint8Array([0, 1, 1]).subarray(1) });
    assert.ok(u8 instanceof Uint8Array);
    assert.deepEqual([...u8], [1, 1]);
  });

  it('decodes an evaluate result (runs as float64, optional fields only when set) and passes others through', () => {
    const run = (extra: Partial<ModelRunWire>): ModelRunWire => ({
      outputName: 'y',
      sessionMs: 3,
      predictions: encodeArray(new Float32Array([0.25, 0.75])),
      rowSize: 1,
      ok: encodeArray(new Uint8Array([1, 0])),
      latencyMs: encodeArray(new Float64Array([2, 2])),
      errors: 1,
      ...extra,
    });
    const wire: EvaluateResultWire = { count: 2, batchSize: 2, labels: encodeArray(new Float64Array([0, 1])), labelWidth: 1, candidate: run({}), baseline: run({ firstError: 'boom', sessionReused: true }) };
    const out = decodeResult({ type: 'evaluate', candidate: 'c', dataset: { path: 'd' } }, wire) as EvaluateResult;
    assert.ok(out.candidate.predictions instanceof Float64Array);
    assert.deepEqual([...out.candidate.predictions], [0.25, 0.75]);
    assert.deepEqual([...out.candidate.ok], [1, 0]);
    assert.equal('firstError' in out.candidate, false);
    assert.equal('sessionReused' in out.candidate, false);
    assert.equal(out.baseline?.firstError, 'boom');
    assert.equal(out.baseline?.sessionReused, true);
    assert.equal('comparison' in out, false);
    assert.equal('timingsMs' in out, false);
    const inspect = { inputs: [], outputs: [], sessionMs: 1 };
    assert.equal(decodeResult({ type: 'inspect', model: 'm' }, inspect), inspect);
  });

  it('a job error is terminal unless told, and firstLine keeps one line of 300 characters', () => {
    const e = new JobError('InvalidModel', 'bad');
    assert.equal(e.terminal, true);
    assert.equal(new JobError('ValidatorCrashed', 'x', false).terminal, false);
    assert.equal(firstLine(new Error('one\ntwo')), 'one');
    assert.equal(firstLine('plain'), 'plain');
    assert.equal(firstLine(new Error('x'.repeat(400))).length, 300);
  });
});
