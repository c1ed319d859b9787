// Holdout dataset readers: JSON Lines and NumPy .npz (see docs/datasets.md for both formats).
// This module reads the file and hands the .npz reader node:zlib; the parsing is pure and lives in
// holdout/ (data.ts: the types and batches; jsonl.ts and jsonl-scan.ts: JSON Lines; npy.ts and
// npz.ts: NumPy), re-exported here under the names it always had.
// Inputs come back sample-major and contiguous so the pipeline slices batches without copying.
import { open, readFile } from 'node:fs/promises';
import { crc32, inflateRawSync } from 'node:zlib';
import { checkMaxSamples, DatasetError } from './holdout/data.js';
import type { HoldoutData, ReadHoldoutOptions } from './holdout/data.js';
import { parseJsonlHoldout } from './holdout/jsonl.js';
import { parseNpzArraysWith, parseNpzHoldoutWith, storedAlignmentShift } from './holdout/npz.js';
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
  let bytes: Uint8Array;
  try {
    bytes = format === 'npz' ? await readNpz(path) : await readFile(path);
  } catch (err) {
    throw new DatasetError(path, `cannot read dataset ${path}: ${(err as Error).message}`);
  }
  return format === 'npz' ? parseNpzHoldout(bytes, path, options) : parseJsonlHoldout(bytes, path, options);
}

/**
 * An .npz file's bytes, placed in their buffer so that its largest stored array is 8-byte
 * aligned (storedAlignmentShift): parseNpy then views that array where it was read instead of
 * copying it, which halves the memory a large holdout takes and the pages a worker faults in
 * for it (a fresh 10 MiB copy was half the dataset phase).
 */
async function readNpz(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const slack = 8;
    const buf = Buffer.allocUnsafeSlow(size + slack);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, slack + got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const bytes = buf.subarray(slack, slack + got);
    const shift = storedAlignmentShift(bytes, path);
    if (shift === 0) return bytes;
    buf.copyWithin(slack - shift, slack, slack + got);
    return buf.subarray(slack - shift, slack - shift + got);
  } finally {
    await fh.close();
  }
}

function formatFromPath(path: string): 'jsonl' | 'npz' {
  const lower = path.toLowerCase();
  if (lower.endsWith('.npz')) return 'npz';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  throw new DatasetError(path, `cannot tell the format of dataset ${path} from its extension; set dataset.format to jsonl or npz`);
}

