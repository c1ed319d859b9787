// Holdout dataset readers: JSON Lines and NumPy .npz (see docs/datasets.md for both formats).
// This module reads the file and hands the .npz reader node:zlib; the parsing is pure and lives in
// holdout/ (data.ts: the types and batches; jsonl.ts and jsonl-scan.ts: JSON Lines; npy.ts and
// npz.ts: NumPy), re-exported here under the names it always had.
// Inputs come back sample-major and contiguous so the pipeline slices batches without copying.
import { readFile } from 'node:fs/promises';
import { crc32, inflateRawSync } from 'node:zlib';
import { checkMaxSamples, DatasetError } from './holdout/data.js';
import type { HoldoutData, ReadHoldoutOptions } from './holdout/data.js';
import { parseJsonlHoldout } from './holdout/jsonl.js';
import { parseNpzArraysWith, parseNpzHoldoutWith } from './holdout/npz.js';
import type { NpyArray } from './holdout/npy.js';
import type { ZipCodec } from './holdout/npz.js';

export { DatasetError, DEFAULT_LABEL_FIELD, sliceBatch } from './holdout/data.js';
export type { HoldoutBatch, HoldoutData, HoldoutInput, InputData, InputDtype, ReadHoldoutOptions } from './holdout/data.js';
export { parseJsonlHoldout } from './holdout/jsonl.js';
export { parseNpy } from './holdout/npy.js';
export type { NpyArray } from './holdout/npy.js';

const ZLIB: ZipCodec = { inflateRaw: inflateRawSync, crc32 };

/** Every array in a .npz archive, keyed by entry name without ".npy". */
export function parseNpzArrays(bytes: Uint8Array, file: string): Record<string, NpyArray> {
  return parseNpzArraysWith(ZLIB, bytes, file);
}

/**
 * Builds holdout data from .npz bytes: `<labelField>.npy` holds the labels, every other array is a
 * model input named after its entry, all with the sample axis first and the same sample count.
 */
export function parseNpzHoldout(bytes: Uint8Array, file: string, options: ReadHoldoutOptions = {}): HoldoutData {
  return parseNpzHoldoutWith(ZLIB, bytes, file, options);
}

/** Reads a holdout dataset from a local file (the fetcher has already downloaded and verified it). */
export async function readHoldout(path: string, options: ReadHoldoutOptions = {}): Promise<HoldoutData> {
  const format = options.format ?? formatFromPath(path);
  checkMaxSamples(path, options.maxSamples);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DatasetError(path, `cannot read dataset ${path}: ${(err as Error).message}`);
  }
  return format === 'npz' ? parseNpzHoldout(bytes, path, options) : parseJsonlHoldout(bytes, path, options);
}

function formatFromPath(path: string): 'jsonl' | 'npz' {
  const lower = path.toLowerCase();
  if (lower.endsWith('.npz')) return 'npz';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  throw new DatasetError(path, `cannot tell the format of dataset ${path} from its extension; set dataset.format to jsonl or npz`);
}

