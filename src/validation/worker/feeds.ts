// The tensors a worker feeds a model: dataset inputs paired with the model's inputs and cast to
// their element types, whole or per batch; holdout samples tiled to a benchmark batch; made-up
// inputs (zeros, or the spec's values) for a benchmark without a dataset. Not pure: the tensors
// come from src/onnx/session.ts.
import { tensor } from '../../onnx/session.js';
import type { Tensor, TensorInfo, TensorType } from '../../onnx/session.js';
import type { HoldoutData, HoldoutInput } from '../dataset.js';
import { REASONS } from '../../api/reasons.js';
import { JobError } from './job-error.js';

export const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Copy values into the typed array onnxruntime wants for an element type. */
export function cast(type: string, data: ArrayLike<number | bigint>): Tensor['data'] {
  const n = data.length;
  const num = (i: number): number => Number(data[i]);
  // Typed-array constructors convert natively; the per-element callback path is ~10x slower.
  const numeric = !(data instanceof BigInt64Array || data instanceof BigUint64Array) ? (data as ArrayLike<number>) : undefined;
  switch (type) {
    case 'float32':
      return data instanceof Float32Array ? data : numeric ? new Float32Array(numeric) : Float32Array.from({ length: n }, (_, i) => num(i));
    case 'float64':
      return data instanceof Float64Array ? data : numeric ? new Float64Array(numeric) : Float64Array.from({ length: n }, (_, i) => num(i));
    case 'int32':
      return data instanceof Int32Array ? data : Int32Array.from({ length: n }, (_, i) => Math.trunc(num(i)));
    case 'int64':
      return data instanceof BigInt64Array ? data : BigInt64Array.from({ length: n }, (_, i) => BigInt(Math.trunc(num(i))));
    case 'uint8':
    case 'bool':
      return data instanceof Uint8Array ? data : Uint8Array.from({ length: n }, (_, i) => num(i));
    case 'int8':
      return Int8Array.from({ length: n }, (_, i) => num(i));
    case 'int16':
      return Int16Array.from({ length: n }, (_, i) => num(i));
    case 'uint16':
      return Uint16Array.from({ length: n }, (_, i) => num(i));
    case 'uint32':
      return Uint32Array.from({ length: n }, (_, i) => num(i));
    default:
      throw new JobError(REASONS.DatasetInvalid, `Model input element type '${type}' cannot be fed from a holdout dataset; use a numeric input.`);
  }
}

/** Pair each model input with a dataset input: by name, or the only one with the only one. */
export function mapInputs(model: TensorInfo[], data: Record<string, HoldoutInput>, label: string): Map<string, string> {
  const names = Object.keys(data);
  const m = new Map<string, string>();
  if (model.length === 1 && names.length === 1) {
    m.set(model[0]!.name, names[0]!);
    return m;
  }
  for (const i of model) {
    if (!(i.name in data)) {
      throw new JobError(
        REASONS.DatasetInvalid,
        `The holdout dataset has no input '${i.name}' that the ${label} model needs (dataset inputs: ${names.join(', ')}); add it to every record's "inputs".`,
      );
    }
    m.set(i.name, i.name);
  }
  return m;
}

/** The tensors for one batch: each model input from its dataset input, cast to the model's type. */
export function feedsFor(model: TensorInfo[], mapping: Map<string, string>, batch: Record<string, HoldoutInput>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const i of model) {
    const src = batch[mapping.get(i.name)!]!;
    feeds[i.name] = tensor(i.type as TensorType, cast(i.type, src.data as ArrayLike<number | bigint>), src.dims);
  }
  return feeds;
}

/**
 * The dataset with each input the model reads cast whole, once, to the model's element type
 * (JSON Lines values are float64, most models read float32): every batch is then a view, cast
 * the same value by value as a per-batch copy would. An input that cannot be cast is left as
 * it is, so each batch fails on it as before (and the samples count as errors).
 */
export function castInputs(data: HoldoutData, model: TensorInfo[], mapping: Map<string, string>, memo: Map<string, Tensor['data']>): HoldoutData {
  const inputs: Record<string, HoldoutInput> = { ...data.inputs };
  for (const i of model) {
    const name = mapping.get(i.name);
    const src = name === undefined ? undefined : data.inputs[name];
    if (name === undefined || src === undefined) continue;
    const key = `${name}\u0000${i.type}`;
    let whole = memo.get(key);
    if (whole === undefined) {
      try {
        whole = cast(i.type, src.data as ArrayLike<number | bigint>);
      } catch {
        continue;
      }
      memo.set(key, whole);
    }
    // Any typed array slices as sliceBatch needs; `dtype` is the dataset's, which feedsFor does not read.
    inputs[name] = { data: whole as unknown as HoldoutInput['data'], dims: src.dims, dtype: src.dtype };
  }
  return { count: data.count, inputs, labels: data.labels };
}

/**
 * Made-up inputs: zeros, with every fixed dimension kept, the batch symbol (the first input's
 * leading symbol, or any symbol named like a batch) set to the batch size wherever it appears,
 * and every other symbol set to one size per name, so inputs that share a symbol agree.
 */
export function syntheticFeeds(inputs: TensorInfo[], batchSize: number, symbolicDim: number, given: Map<string, { shape: number[]; values?: number[] }>): Record<string, Tensor> {
  const lead = inputs.find((i) => typeof i.shape[0] === 'string')?.shape[0];
  const size = (d: number | string, k: number): number => {
    if (typeof d === 'number' && d > 0) return d;
    if (d === lead || (typeof d === 'string' && /^(n|batch|batch_?size|bs)$/i.test(d)) || (k === 0 && typeof d !== 'string')) return batchSize;
    return symbolicDim;
  };
  const feeds: Record<string, Tensor> = {};
  for (const i of inputs) {
    const spec = given.get(i.name);
    const dims = spec ? spec.shape : i.shape.map(size);
    const n = product(dims);
    const data = new Float64Array(n);
    if (spec?.values && spec.values.length > 0) for (let k = 0; k < n; k++) data[k] = spec.values[k % spec.values.length]!;
    feeds[i.name] = tensor(i.type as TensorType, cast(i.type, data), dims);
  }
  return feeds;
}

/** Holdout samples repeated to fill a batch of batchSize, as the model's tensors. */
export function tiledFeeds(inputs: TensorInfo[], mapping: Map<string, string>, data: HoldoutData, batchSize: number): Record<string, Tensor> {
  const tiled: Record<string, HoldoutInput> = {};
  for (const [name, input] of Object.entries(data.inputs)) {
    const per = product(input.dims);
    const out = new Float64Array(batchSize * per);
    for (let s = 0; s < batchSize; s++) {
      const src = s % data.count;
      for (let k = 0; k < per; k++) out[s * per + k] = Number(input.data[src * per + k]);
    }
    tiled[name] = { data: out, dims: [batchSize, ...input.dims], dtype: 'float64' };
  }
  return feedsFor(inputs, mapping, tiled);
}

