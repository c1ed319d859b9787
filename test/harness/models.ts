// ONNX model makers for tests and the demo, built with onnx-proto: a MatMul -> Add -> Softmax
// classifier, a sigmoid conversion model, degraded and weights-only variants, an external-data
// model, and writers that return path + sha256 digest. Plus a JSONL holdout writer.
import { createHash } from 'node:crypto';
import { mulberry32 } from '../../src/math/bootstrap.js';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type onnxProto from 'onnx-proto';
import { ELEMENT_TYPE_NUMBERS, onnx } from '../../src/validation/onnx-model.js';

type TensorProto = onnxProto.onnx.TensorProto;
type ValueInfoProto = onnxProto.onnx.ValueInfoProto;
type GraphProto = onnxProto.onnx.GraphProto;

export type Dim = number | string;

export interface ClassifierSpec {
  /** Input name (default "x"). */
  inputName?: string;
  /** Output name (default "probabilities"). */
  outputName?: string;
  /** 'float32' (default) or 'float64'. */
  elemType?: 'float32' | 'float64';
  features: number;
  classes: number;
  /** Input dims (default ['N', features]); a number fixes a dimension. */
  inputDims?: Dim[];
  /** Weights [features * classes] row-major and bias [classes]; default seeded random. */
  weights?: Float64Array;
  bias?: Float64Array;
  seed?: number;
  /** Extra outputs (e.g. the logits), to test Compatible vs Strict. */
  extraLogitsOutput?: boolean;
}

export interface ClassifierWeights {
  features: number;
  classes: number;
  weights: Float64Array;
  bias: Float64Array;
}

/** Seeded floats in [0, 1): the same generator the bootstrap uses. */
export const rng = mulberry32;

/** Standard normal by Box-Muller. */
export function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

export function randomWeights(features: number, classes: number, seed = 1): ClassifierWeights {
  const g = gaussian(rng(seed));
  return {
    features,
    classes,
    weights: Float64Array.from({ length: features * classes }, () => g()),
    bias: Float64Array.from({ length: classes }, () => 0.1 * g()),
  };
}

function tensorProto(name: string, elemType: 'float32' | 'float64', dims: number[], values: ArrayLike<number>): TensorProto {
  const bytes = elemType === 'float32' ? new Uint8Array(Float32Array.from(values).buffer) : new Uint8Array(Float64Array.from(values).buffer);
  return onnx.TensorProto.create({ name, dims, dataType: ELEMENT_TYPE_NUMBERS[elemType], rawData: bytes });
}

function valueInfo(name: string, elemType: string, dims: Dim[]): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ELEMENT_TYPE_NUMBERS[elemType],
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => (typeof d === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }))),
        }),
      }),
    }),
  });
}

function modelBytes(graph: GraphProto, opset = 13): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'modelgate-test-harness',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset })],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** MatMul -> Add -> Softmax classifier. */
export function classifierModel(spec: ClassifierSpec): Uint8Array {
  const elemType = spec.elemType ?? 'float32';
  const inputName = spec.inputName ?? 'x';
  const outputName = spec.outputName ?? 'probabilities';
  const w = spec.weights && spec.bias ? { weights: spec.weights, bias: spec.bias } : randomWeights(spec.features, spec.classes, spec.seed ?? 1);
  const batch: Dim = spec.inputDims?.[0] ?? 'N';
  const nodes = [
    onnx.NodeProto.create({ name: 'matmul', opType: 'MatMul', input: [inputName, 'W'], output: ['xw'] }),
    onnx.NodeProto.create({ name: 'add', opType: 'Add', input: ['xw', 'B'], output: ['logits'] }),
    onnx.NodeProto.create({
      name: 'softmax',
      opType: 'Softmax',
      input: ['logits'],
      output: [outputName],
      attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 })],
    }),
  ];
  const outputs = [valueInfo(outputName, elemType, [batch, spec.classes])];
  if (spec.extraLogitsOutput) outputs.push(valueInfo('logits', elemType, [batch, spec.classes]));
  const graph = onnx.GraphProto.create({
    name: 'classifier',
    node: nodes,
    initializer: [tensorProto('W', elemType, [spec.features, spec.classes], w.weights), tensorProto('B', elemType, [spec.classes], w.bias)],
    input: [valueInfo(inputName, elemType, spec.inputDims ?? ['N', spec.features])],
    output: outputs,
  });
  return modelBytes(graph);
}

/** A conversion model: MatMul -> Add -> Sigmoid, output [N, 1] probabilities. */
export function conversionModel(spec: { features: number; seed?: number; inputName?: string; weights?: Float64Array; bias?: number }): Uint8Array {
  const g = gaussian(rng(spec.seed ?? 7));
  const w = spec.weights ?? Float64Array.from({ length: spec.features }, () => g());
  const inputName = spec.inputName ?? 'x';
  const graph = onnx.GraphProto.create({
    name: 'conversion',
    node: [
      onnx.NodeProto.create({ name: 'matmul', opType: 'MatMul', input: [inputName, 'W'], output: ['xw'] }),
      onnx.NodeProto.create({ name: 'add', opType: 'Add', input: ['xw', 'B'], output: ['logit'] }),
      onnx.NodeProto.create({ name: 'sigmoid', opType: 'Sigmoid', input: ['logit'], output: ['probability'] }),
    ],
    initializer: [tensorProto('W', 'float32', [spec.features, 1], w), tensorProto('B', 'float32', [1], [spec.bias ?? 0])],
    input: [valueInfo(inputName, 'float32', ['N', spec.features])],
    output: [valueInfo('probability', 'float32', ['N', 1])],
  });
  return modelBytes(graph);
}

/**
 * A classifier whose initializer W lives in an external file at `location` (e.g. '../escape.bin'
 * to escape the model's folder). The bytes of W are returned to be written where intended.
 */
export function externalDataModel(location: string, features = 4, classes = 3): { model: Uint8Array; data: Uint8Array } {
  const w = randomWeights(features, classes, 3);
  const data = new Uint8Array(Float32Array.from(w.weights).buffer);
  const external = onnx.TensorProto.create({
    name: 'W',
    dims: [features, classes],
    dataType: ELEMENT_TYPE_NUMBERS.float32,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      onnx.StringStringEntryProto.create({ key: 'location', value: location }),
      onnx.StringStringEntryProto.create({ key: 'offset', value: '0' }),
      onnx.StringStringEntryProto.create({ key: 'length', value: String(data.byteLength) }),
    ],
  });
  const graph = onnx.GraphProto.create({
    name: 'external',
    node: [
      onnx.NodeProto.create({ name: 'matmul', opType: 'MatMul', input: ['x', 'W'], output: ['xw'] }),
      onnx.NodeProto.create({ name: 'add', opType: 'Add', input: ['xw', 'B'], output: ['logits'] }),
      onnx.NodeProto.create({ name: 'softmax', opType: 'Softmax', input: ['logits'], output: ['probabilities'] }),
    ],
    initializer: [external, tensorProto('B', 'float32', [classes], w.bias)],
    input: [valueInfo('x', 'float32', ['N', features])],
    output: [valueInfo('probabilities', 'float32', ['N', classes])],
  });
  return { model: modelBytes(graph), data };
}

/** Rename a graph input (and every node input that reads it) in an existing ONNX file's bytes. */
export function renameInput(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const input = (graph.input ?? []).find((i) => i.name === from);
  if (!input) throw new Error(`model has no input '${from}'`);
  input.name = to;
  for (const node of graph.node ?? []) node.input = (node.input ?? []).map((n) => (n === from ? to : n));
  return onnx.ModelProto.encode(model).finish();
}

/** Set one dimension of a graph input's declared shape (a number fixes it, a string makes it symbolic). */
export function setInputDim(bytes: Uint8Array, name: string, index: number, value: Dim): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const input = (model.graph?.input ?? []).find((i) => i.name === name);
  const dim = input?.type?.tensorType?.shape?.dim?.[index];
  if (!dim) throw new Error(`model input '${name}' has no dimension ${index}`);
  const fresh = typeof value === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: value }) : onnx.TensorShapeProto.Dimension.create({ dimParam: value });
  input!.type!.tensorType!.shape!.dim![index] = fresh;
  return onnx.ModelProto.encode(model).finish();
}

/** Change a graph input's element type in the declared signature (the graph is not retyped). */
export function retypeInputDeclaration(bytes: Uint8Array, name: string, elemType: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const input = (model.graph?.input ?? []).find((i) => i.name === name);
  if (!input?.type?.tensorType) throw new Error(`model has no tensor input '${name}'`);
  input.type.tensorType.elemType = ELEMENT_TYPE_NUMBERS[elemType]!;
  return onnx.ModelProto.encode(model).finish();
}

// ---------------------------------------------------------------------------------------------
// Classification data and degraded models

export interface ClassificationData {
  features: number;
  classes: number;
  x: Float64Array; // n * features
  labels: number[];
}

/** Samples x ~ N(0, 1) labelled by the argmax of the given (true) model. */
export function classificationData(truth: ClassifierWeights, n: number, seed = 11): ClassificationData {
  const g = gaussian(rng(seed));
  const x = Float64Array.from({ length: n * truth.features }, () => g());
  const labels: number[] = [];
  for (let i = 0; i < n; i++) labels.push(argmaxRow(truth, x, i));
  return { features: truth.features, classes: truth.classes, x, labels };
}

function argmaxRow(w: ClassifierWeights, x: Float64Array, i: number): number {
  let best = 0;
  let bestV = -Infinity;
  for (let c = 0; c < w.classes; c++) {
    let v = w.bias[c]!;
    for (let f = 0; f < w.features; f++) v += x[i * w.features + f]! * w.weights[f * w.classes + c]!;
    if (v > bestV) {
      bestV = v;
      best = c;
    }
  }
  return best;
}

/** Accuracy of a weight set on data (argmax; softmax is monotone). */
export function accuracyOf(w: ClassifierWeights, data: ClassificationData): number {
  let hits = 0;
  for (let i = 0; i < data.labels.length; i++) if (argmaxRow(w, data.x, i) === data.labels[i]) hits++;
  return hits / data.labels.length;
}

/** Blend weights with seeded noise: (1 - alpha) * w + alpha * noise. */
export function blendWeights(w: ClassifierWeights, alpha: number, seed = 99): ClassifierWeights {
  const g = gaussian(rng(seed));
  const scale = Math.sqrt(w.weights.reduce((a, v) => a + v * v, 0) / w.weights.length);
  return {
    ...w,
    weights: w.weights.map((v) => (1 - alpha) * v + alpha * scale * g()),
    bias: w.bias.map((v) => (1 - alpha) * v),
  };
}

/**
 * Weights whose accuracy on `data` is `relativeDrop` lower than `base`'s (e.g. 0.2 = 20% worse),
 * found by bisection on the noise blend. Returns the weights and the accuracy reached.
 */
export function worseWeights(base: ClassifierWeights, data: ClassificationData, relativeDrop: number, seed = 99): { weights: ClassifierWeights; accuracy: number; baseAccuracy: number } {
  const baseAccuracy = accuracyOf(base, data);
  const target = baseAccuracy * (1 - relativeDrop);
  let lo = 0;
  let hi = 1;
  let best = { weights: base, accuracy: baseAccuracy };
  for (let it = 0; it < 40; it++) {
    const mid = (lo + hi) / 2;
    const w = blendWeights(base, mid, seed);
    const acc = accuracyOf(w, data);
    if (Math.abs(acc - target) < Math.abs(best.accuracy - target)) best = { weights: w, accuracy: acc };
    if (acc > target) lo = mid;
    else hi = mid;
  }
  return { ...best, baseAccuracy };
}

/** A weights-only update: the same graph with slightly perturbed weights (relative noise `scale`). */
export function weightsOnlyUpdate(w: ClassifierWeights, scale = 0.01, seed = 5): ClassifierWeights {
  const g = gaussian(rng(seed));
  return { ...w, weights: w.weights.map((v) => v * (1 + scale * g())), bias: w.bias.map((v) => v * (1 + scale * g())) };
}

/** JSON Lines holdout: {"inputs": {"<input>": [features]}, "label": class}. */
export function holdoutJsonl(data: ClassificationData, inputName = 'x', labelField = 'label'): string {
  const lines: string[] = [];
  for (let i = 0; i < data.labels.length; i++) {
    const row = Array.from(data.x.subarray(i * data.features, (i + 1) * data.features), (v) => Number(v.toFixed(6)));
    lines.push(JSON.stringify({ inputs: { [inputName]: row }, [labelField]: data.labels[i] }));
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Writers

export interface WrittenFile {
  path: string;
  /** `sha256:<hex>` */
  digest: string;
  sizeBytes: number;
  /** file:// URI of the path. */
  uri: string;
}

export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A fresh temp folder. */
export async function tempDir(prefix = 'modelgate-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  if (made.length === 0) process.once('exit', () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  made.push(dir);
  return dir;
}

/** Folders tempDir made; removed when the test process exits, so runs leave nothing in /tmp. */
const made: string[] = [];

/** Write bytes to <dir>/<name> and return path, digest and size. */
export async function writeArtifact(dir: string, name: string, bytes: Uint8Array | string): Promise<WrittenFile> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  return { path: file, digest: sha256Digest(bytes), sizeBytes: size, uri: `file://${file}` };
}

export function toWeights(features: number, classes: number, w: { weights: Float64Array; bias: Float64Array }): ClassifierWeights {
  return { features, classes, weights: w.weights, bias: w.bias };
}
