// What a holdout dataset is once read, whatever its format: the types the readers return, the
// error they throw, the checks they share, and batches sliced from the data. Pure: no I/O.
// Inputs are sample-major and contiguous so a batch is a view, not a copy.

export type InputDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';
export type InputData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface HoldoutInput {
  /** Sample-major values of every sample: count * product(dims) elements. */
  data: InputData;
  /** Per-sample dims, without the batch axis ([] for one scalar per sample). */
  dims: number[];
  dtype: InputDtype;
}

export interface HoldoutData {
  count: number;
  inputs: Record<string, HoldoutInput>;
  /** One number per sample, or one row per sample (label arrays / multi-dimensional label arrays, flattened). */
  labels: Float64Array | number[][];
}

export interface HoldoutBatch {
  /** Same inputs with dims [batch, ...per-sample dims]; data are views, not copies. */
  inputs: Record<string, HoldoutInput>;
  labels: Float64Array | number[][];
}

export interface ReadHoldoutOptions {
  /** Default: from the extension (.jsonl/.ndjson -> jsonl, .npz -> npz). */
  format?: 'jsonl' | 'npz';
  /** JSONL: the record field holding the label; npz: the array name (without .npy). Default "label". */
  labelField?: string;
  /** Read at most this many samples (the first ones). */
  maxSamples?: number;
}

/** A dataset that cannot be used as it is; `line` and `field` say where when known. */
export class DatasetError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}

export const DEFAULT_LABEL_FIELD = 'label';

/** Elements of one sample of these dims (1 for a scalar). */
export function product(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

/** maxSamples, when given, must be a positive integer: every reader checks it before it parses. */
export function checkMaxSamples(file: string, maxSamples: number | undefined): void {
  if (maxSamples !== undefined && !(Number.isInteger(maxSamples) && maxSamples > 0)) {
    throw new DatasetError(file, `maxSamples must be a positive integer, got ${maxSamples}`);
  }
}

/**
 * Samples [start, end) as a batch: inputs get dims [batch, ...dims] and their data are views into
 * the dataset (no copy). `end` is clamped to data.count. Throws RangeError for an empty range.
 */
export function sliceBatch(data: HoldoutData, start: number, end: number): HoldoutBatch {
  const stop = Math.min(end, data.count);
  if (!(Number.isInteger(start) && Number.isInteger(stop) && start >= 0 && start < stop)) {
    throw new RangeError(`batch [${start}, ${end}) is empty or outside the dataset's ${data.count} samples`);
  }
  const inputs: Record<string, HoldoutInput> = {};
  for (const [name, input] of Object.entries(data.inputs)) {
    const per = product(input.dims);
    inputs[name] = { data: input.data.subarray(start * per, stop * per), dims: [stop - start, ...input.dims], dtype: input.dtype };
  }
  const labels = data.labels instanceof Float64Array ? data.labels.subarray(start, stop) : data.labels.slice(start, stop);
  return { inputs, labels };
}
