// The inference server's pure protocol parsing (src/server/v2.ts): the nesting pre-check that
// refuses a deep body before JSON.parse builds it, the non-recursive flattening, the tensor
// limit, and the outcomes bearer check. No sockets, no sessions (tensors are plain ort objects).
import assert from 'node:assert/strict';
import { BadRequest, bearerMatches, flattenData, nestingBeyond, parseInferRequest, parseJson } from '../../src/server/v2.js';

const sig = { inputs: [{ name: 'x', type: 'float32', shape: ['batch', 4] }], outputs: [{ name: 'y', type: 'float32', shape: ['batch', 3] }] } as Parameters<typeof parseInferRequest>[1];
const status = (fn: () => unknown): { status: number; message: string } => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BadRequest, String(err));
    return { status: err.status, message: err.message };
  }
  assert.fail('expected a BadRequest');
};

describe('v2 protocol parsing (src/server/v2.ts)', () => {
  it('finds where a body nests too deep, ignoring brackets inside strings and escaped quotes', () => {
    assert.equal(nestingBeyond('{"a":[[1]]}', 3), -1);
    assert.equal(nestingBeyond('{"a":[[1]]}', 2), 6);
    assert.equal(nestingBeyond('{"a":"[[[[[[","b":[1]}', 2), -1);
    assert.equal(nestingBeyond('{"a":"\\"[[[","b":[[1]]}', 2), 18);
    assert.equal(nestingBeyond('[[],[],[]]', 2), -1, 'siblings do not add up');
  });

  it('refuses a body nested past MAX_JSON_DEPTH with 400 naming the limit, before parsing it', () => {
    const deep = `{"a":${'['.repeat(3_000_000)}${']'.repeat(3_000_000)}}`;
    const r = status(() => parseJson(deep, { maxJsonDepth: 64, maxTensorElements: 10 }));
    assert.equal(r.status, 400);
    assert.match(r.message, /deeper than the limit of 64 \(MAX_JSON_DEPTH\), at offset 68/);
    assert.deepEqual(parseJson('{"a":[[1]]}', { maxJsonDepth: 3, maxTensorElements: 10 }), { a: [[1]] });
  });

  it('flattens nested data in order without recursion, refusing nesting past the rank and extra values', () => {
    assert.deepEqual(flattenData('f', [[1, 2], [3, [4]]], 3, 10), [1, 2, 3, 4]);
    assert.deepEqual(flattenData('f', 7, 1, 10), [7]);
    let deep: unknown = 1;
    for (let i = 0; i < 1_000_000; i += 1) deep = [deep];
    assert.match(status(() => flattenData('inputs[0]', deep, 2, 10)).message, /^inputs\[0\]\.data nests deeper than its shape's 2 dimensions/);
    assert.match(status(() => flattenData('inputs[0]', [1, 2, 3], 1, 2)).message, /holds more than the 2 values its shape needs/);
  });

  it('refuses a tensor over MAX_TENSOR_ELEMENTS with 413 from its shape alone', () => {
    const body = { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: [] }] };
    const r = status(() => parseInferRequest(body, sig, 'm', { maxJsonDepth: 64, maxTensorElements: 11 }));
    assert.equal(r.status, 413);
    assert.match(r.message, /^inputs\[0\]\.shape \[3,4\] holds more than the limit of 11 elements per tensor \(MAX_TENSOR_ELEMENTS\)/);
    const ok = parseInferRequest({ inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: Array(12).fill(0.5) }] }, sig, 'm', { maxJsonDepth: 64, maxTensorElements: 12 });
    assert.deepEqual(ok.feeds.x?.dims, [3, 4]);
    assert.deepEqual(ok.wanted, ['y']);
  });

  it('matches only "Bearer <the token>"', () => {
    const t = 'abcdefghijklmnop';
    assert.equal(bearerMatches(`Bearer ${t}`, t), true);
    assert.equal(bearerMatches(`bearer  ${t} `, t), true);
    for (const h of [undefined, '', t, `Bearer ${t}q`, `Bearer ${t.slice(1)}`, `Basic ${t}`, `Bearer ${t} extra`, 'Bearer ']) assert.equal(bearerMatches(h, t), false, String(h));
  });
});
