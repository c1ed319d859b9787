// ONNX parsing and safety with onnx-proto on real files, before any onnxruntime session.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compareSignatures } from '../../../src/validation/architecture.js';
import { StageError } from '../../../src/validation/contract.js';
import { inspectModelFile } from '../../../src/validation/onnx-model.js';
import { classifierModel, externalDataModel, randomWeights, tempDir, writeArtifact } from '../../harness/models.js';

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StageError, String(err));
    return err.reason;
  }
  return 'no error';
}

describe('ONNX model safety and signature (onnx-proto, real files)', () => {
  it('extracts inputs, outputs, symbolic and fixed dims, opsets and parameter counts', async () => {
    const dir = await tempDir();
    const m = await writeArtifact(dir, 'm.onnx', classifierModel({ ...randomWeights(5, 4), inputDims: ['batch', 5] }));
    const { signature } = await inspectModelFile(m.path);
    assert.deepEqual(signature.inputs, [{ name: 'x', elemType: 'float32', shape: ['batch', 5] }]);
    assert.deepEqual(signature.outputs, [{ name: 'probabilities', elemType: 'float32', shape: ['batch', 4] }]);
    assert.deepEqual(signature.opsets, { '': 13 });
    assert.equal(signature.parameterCount, 5 * 4 + 4);
    assert.equal(signature.parameterBytes, (5 * 4 + 4) * 4);
  });

  it('garbage and truncated files are InvalidModel; too many nodes or bytes are ModelTooLarge', async () => {
    const dir = await tempDir();
    const bytes = classifierModel({ features: 5, classes: 4 });
    const garbage = await writeArtifact(dir, 'g.onnx', Buffer.from('this is not a model at all, just text\n'));
    const cut = await writeArtifact(dir, 't.onnx', bytes.subarray(0, 40));
    const ok = await writeArtifact(dir, 'ok.onnx', bytes);
    assert.equal(await reason(inspectModelFile(garbage.path)), 'InvalidModel');
    assert.equal(await reason(inspectModelFile(cut.path)), 'InvalidModel');
    assert.equal(await reason(inspectModelFile(ok.path, { maxNodes: 2 })), 'ModelTooLarge');
    assert.equal(await reason(inspectModelFile(ok.path, { maxBytes: 10 })), 'ModelTooLarge');
  });

  it('external data: refused unless allowed; allowed only as a plain file inside the folder', async () => {
    const dir = await tempDir();
    const inside = externalDataModel('weights.bin');
    await writeFile(path.join(dir, 'weights.bin'), inside.data);
    const m = await writeArtifact(dir, 'inside.onnx', inside.model);
    assert.equal(await reason(inspectModelFile(m.path)), 'UnsafeExternalData');
    const ok = await inspectModelFile(m.path, { allowExternalData: true });
    assert.deepEqual(ok.externalFiles, ['weights.bin']);

    const abs = await writeArtifact(dir, 'abs.onnx', externalDataModel('/etc/passwd').model);
    assert.equal(await reason(inspectModelFile(abs.path, { allowExternalData: true })), 'UnsafeExternalData');
    const up = await writeArtifact(dir, 'up.onnx', externalDataModel('sub/../../x.bin').model);
    assert.equal(await reason(inspectModelFile(up.path, { allowExternalData: true })), 'UnsafeExternalData');

    const outside = await tempDir();
    await writeFile(path.join(outside, 'w.bin'), inside.data);
    await symlink(path.join(outside, 'w.bin'), path.join(dir, 'link.bin'));
    const link = await writeArtifact(dir, 'link.onnx', externalDataModel('link.bin').model);
    assert.equal(await reason(inspectModelFile(link.path, { allowExternalData: true })), 'UnsafeExternalData');
    await mkdir(path.join(dir, 'sub'));
    await symlink(outside, path.join(dir, 'sub', 'out'));
    const viaDir = await writeArtifact(dir, 'viadir.onnx', externalDataModel('sub/out/w.bin').model);
    assert.equal(await reason(inspectModelFile(viaDir.path, { allowExternalData: true })), 'UnsafeExternalData');
  });

  it('compareSignatures: policies, NoBaseline and parameter change', async () => {
    const dir = await tempDir();
    const a = (await inspectModelFile((await writeArtifact(dir, 'a.onnx', classifierModel({ features: 4, classes: 3 }))).path)).signature;
    const big = (await inspectModelFile((await writeArtifact(dir, 'b.onnx', classifierModel({ features: 4, classes: 3, inputDims: ['N', 4] }))).path)).signature;
    assert.equal(compareSignatures(undefined, a, 'Strict').reason, 'NoBaseline');
    assert.equal(compareSignatures(a, a, 'Skip').compatible, true);
    const bigger = { ...big, parameterCount: a.parameterCount * 3 };
    const reported = compareSignatures(a, bigger, 'Strict', { maxParameterChangeRatio: 0.5 });
    assert.equal(reported.compatible, true);
    assert.equal(reported.parameterChange?.exceeded, true);
    const blocked = compareSignatures(a, bigger, 'Strict', { maxParameterChangeRatio: 0.5, blockOnParameterChange: true });
    assert.equal(blocked.reason, 'ParameterChangeTooLarge');
    const extraIn = { ...a, inputs: [...a.inputs, { name: 'mask', elemType: 'bool', shape: ['N'] }] };
    assert.match(compareSignatures(a, extraIn, 'Compatible').differences.join(), /input 'mask': not in the baseline/);
  });
});
