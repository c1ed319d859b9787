// The pure halves of the inference server (src/server/settings.ts, src/server/v2.ts): settings
// parsed against a given tmpdir and working directory, inputs parsed into plain typed arrays,
// and the metadata and infer answers built from plain data.
import assert from 'node:assert/strict';
import path from 'node:path';
import { modelPathFrom, parseServerEnv } from '../../src/server/settings.js';
import { inferResponse, metadataBody, parseInferRequest, tensorToJson } from '../../src/server/v2.js';

const DIGEST = `sha256:${'cd'.repeat(32)}`;
const host = { tmpdir: '/scratch', cwd: '/srv/app' };

describe('inference server settings (src/server/settings.ts)', () => {
  it('resolves a relative MODEL_URI from the given folder, as path.resolve does from there', () => {
    for (const uri of ['m.onnx', 'models/m.onnx', './models/../m.onnx', 'models/', '.', '..', '../../../x']) {
      assert.equal(modelPathFrom(uri, '/srv/app'), path.resolve('/srv/app', uri), uri);
    }
    assert.equal(modelPathFrom('/abs/m.onnx', '/srv/app'), '/abs/m.onnx');
    assert.equal(modelPathFrom('file:///models/m.onnx', '/srv/app'), '/models/m.onnx');
    assert.throws(() => modelPathFrom('gs://bucket/m.onnx', '/srv/app'), /has a scheme the server does not fetch/);
  });

  it('takes the working directory and the temporary folder it is given', () => {
    assert.equal(parseServerEnv({ MODEL_URI: 'models/m.onnx' }, host).options.modelPath, '/srv/app/models/m.onnx');
    const remote = parseServerEnv({ MODEL_URI: 'https://models.example.com/m.onnx', MODEL_DIGEST: DIGEST }, host).remote;
    assert.equal(remote?.fetcher.cacheDir, '/scratch/modelgate-models');
    assert.equal(parseServerEnv({ MODEL_URI: 'https://models.example.com/m.onnx', MODEL_DIGEST: DIGEST, MODEL_CACHE_DIR: '/c' }, host).remote?.fetcher.cacheDir, '/c');
  });
});

describe('inference protocol bodies as plain data (src/server/v2.ts)', () => {
  const sig = {
    inputs: [{ name: 'x', type: 'float32', shape: ['batch', 2] }, { name: 'ids', type: 'int64', shape: [2] }, { name: 'on', type: 'bool', shape: [1] }],
    outputs: [{ name: 'y', type: 'float32', shape: ['batch', 1] }],
  };

  it('parses inputs into typed arrays, their type and dims, without onnxruntime', () => {
    const { feeds, wanted } = parseInferRequest({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [1, 2], data: [[0.5, 1.5]] },
        { name: 'ids', datatype: 'INT64', shape: [2], data: [7, 9] },
        { name: 'on', datatype: 'BOOL', shape: [1], data: [true] },
      ],
    }, sig, 'm');
    assert.deepEqual(wanted, ['y']);
    assert.equal(feeds.x?.type, 'float32');
    assert.ok(feeds.x?.data instanceof Float32Array);
    assert.deepEqual([...(feeds.x?.data as Float32Array)], [0.5, 1.5]);
    assert.deepEqual(feeds.x?.dims, [1, 2]);
    assert.deepEqual([...(feeds.ids?.data as BigInt64Array)], [7n, 9n]);
    assert.deepEqual([...(feeds.on?.data as Uint8Array)], [1]);
    assert.deepEqual(tensorToJson({ type: 'bool', data: feeds.on!.data }), [true]);
    assert.deepEqual(tensorToJson({ type: 'int64', data: feeds.ids!.data }), [7, 9]);
  });

  it('builds the metadata body: v2 datatypes, -1 for a dynamic dimension, the digest', () => {
    assert.deepEqual(metadataBody('m', 'v3', sig, DIGEST), {
      name: 'm',
      versions: ['v3'],
      platform: 'onnxruntime',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }, { name: 'ids', datatype: 'INT64', shape: [2] }, { name: 'on', datatype: 'BOOL', shape: [1] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
      parameters: { digest: DIGEST },
    });
  });

  it('builds the infer answer from the wanted outputs, with the request id only when it is a string', () => {
    const results = { y: { type: 'float32' as const, data: Float32Array.from([0.25, 0.75]), dims: [2, 1] }, z: { type: 'int64' as const, data: BigInt64Array.from([3n]), dims: [1] } };
    assert.deepEqual(inferResponse('m', 'v3', ['z', 'y'], results, 'req-1'), {
      model_name: 'm',
      model_version: 'v3',
      outputs: [{ name: 'z', datatype: 'INT64', shape: [1], data: [3] }, { name: 'y', datatype: 'FP32', shape: [2, 1], data: [0.25, 0.75] }],
      id: 'req-1',
    });
    assert.equal('id' in inferResponse('m', 'v3', ['y'], results, 42), false);
  });
});
