// NumPy .npz archives (numpy.savez / savez_compressed): the zip read (central directory, zip64,
// stored and deflated entries, CRC checked) and the holdout built from its arrays. Pure: works on
// the bytes it is handed, with the inflate and CRC passed in (node:zlib is not vetted as pure;
// dataset.ts passes it).
import { checkMaxSamples, DatasetError, DEFAULT_LABEL_FIELD, product } from './data.js';
import type { HoldoutData, HoldoutInput, InputData, ReadHoldoutOptions } from './data.js';
import { npyDataStart, parseNpy } from './npy.js';
import type { NpyArray } from './npy.js';

/** What reading a zip needs of zlib: raw inflate (method 8) and the CRC-32 of the inflated bytes. */
export interface ZipCodec {
  inflateRaw: (data: Uint8Array) => Uint8Array;
  crc32: (data: Uint8Array) => number;
}

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function u64(buf: Buffer, at: number, fail: (m: string) => DatasetError): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('zip64 size beyond 2^53');
  return Number(v);
}

function readCentralDirectory(buf: Buffer, file: string): ZipEntry[] {
  const fail = (message: string): DatasetError => new DatasetError(file, `${file}: ${message}; save it with numpy.savez or numpy.savez_compressed`);
  // The end-of-central-directory record sits in the last 22 + up to 65535 (comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw fail('not a zip archive (no end-of-central-directory record)');
  let total = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (total === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== 0x07064b50) throw fail('zip64 archive without a zip64 locator');
    const z = u64(buf, loc + 8, fail);
    if (z + 56 > buf.length || buf.readUInt32LE(z) !== 0x06064b50) throw fail('bad zip64 end-of-central-directory record');
    total = u64(buf, z + 32, fail);
    cdSize = u64(buf, z + 40, fail);
    cdOffset = u64(buf, z + 48, fail);
  }
  if (cdOffset + cdSize > buf.length) throw fail('truncated zip (central directory beyond the end of the file)');
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let k = 0; k < total; k++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw fail('corrupt zip central directory');
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // Zip64 extra field (id 1): 8-byte values, only for the fields saturated at 0xffffffff, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) { size = u64(buf, q, fail); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = u64(buf, q, fail); q += 8; }
        if (localOffset === 0xffffffff) { localOffset = u64(buf, q, fail); q += 8; }
      }
      e += 4 + len;
    }
    entries.push({ name, method, flags, crc, compressedSize, size, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/** Where an entry's data starts: after its local file header (30 bytes, then name and extra); undefined if that header is not there. */
function localDataStart(buf: Buffer, entry: ZipEntry): number | undefined {
  const lh = entry.localOffset;
  if (lh + 30 > buf.length || buf.readUInt32LE(lh) !== 0x04034b50) return undefined;
  return lh + 30 + buf.readUInt16LE(lh + 26) + buf.readUInt16LE(lh + 28);
}

/**
 * How far (0–7 bytes) to move an archive's bytes towards the start of their buffer so that the
 * largest stored (uncompressed) array's data is 8-byte aligned, and parseNpy can view it in place
 * instead of copying it: numpy.savez does not align its entries. 0 when there is nothing to gain
 * or the archive does not parse (the parse proper then says why).
 */
export function storedAlignmentShift(bytes: Uint8Array, file: string): number {
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let best: { start: number; size: number } | undefined;
    for (const entry of readCentralDirectory(buf, file)) {
      if (entry.method !== 0 || entry.size <= (best?.size ?? 0)) continue;
      const dataStart = localDataStart(buf, entry);
      if (dataStart === undefined) continue;
      const inNpy = npyDataStart(buf.subarray(dataStart, Math.min(buf.length, dataStart + 12)));
      if (inNpy !== undefined) best = { start: dataStart + inNpy, size: entry.size };
    }
    return best ? (bytes.byteOffset + best.start) % 8 : 0;
  } catch {
    return 0;
  }
}

/** Every array in a .npz archive, keyed by entry name without ".npy". */
export function parseNpzArraysWith(zlib: ZipCodec, bytes: Uint8Array, file: string): Record<string, NpyArray> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arrays: Record<string, NpyArray> = {};
  for (const entry of readCentralDirectory(buf, file)) {
    if (entry.name.endsWith('/')) continue; // a directory entry carries no data
    const fail = (message: string): DatasetError =>
      new DatasetError(file, `${file} entry ${entry.name}: ${message}`, undefined, entry.name);
    if (!entry.name.endsWith('.npy')) throw fail('is not a .npy array; an .npz holds only .npy arrays (numpy.savez)');
    if (entry.flags & 1) throw fail('is encrypted; save the arrays without encryption');
    const dataStart = localDataStart(buf, entry);
    if (dataStart === undefined) throw fail('bad local file header (corrupt zip)');
    if (dataStart + entry.compressedSize > buf.length) throw fail('truncated (data beyond the end of the file)');
    const stored = buf.subarray(dataStart, dataStart + entry.compressedSize);
    let raw: Uint8Array;
    if (entry.method === 0) raw = stored;
    else if (entry.method === 8) {
      try {
        raw = zlib.inflateRaw(stored);
      } catch (err) {
        throw fail(`cannot inflate (${(err as Error).message}); the archive is corrupt`);
      }
    } else throw fail(`uses zip compression method ${entry.method}; only stored (0) and deflate (8) are supported: save with numpy.savez or numpy.savez_compressed`);
    if (raw.length !== entry.size) throw fail(`holds ${raw.length} bytes, the zip directory says ${entry.size}; the archive is corrupt`);
    if (zlib.crc32(raw) !== entry.crc) throw fail('CRC mismatch; the archive is corrupt');
    const name = entry.name.slice(entry.name.lastIndexOf('/') + 1, -'.npy'.length);
    arrays[name] = parseNpy(raw, file, name);
  }
  return arrays;
}

function truncate(data: InputData, elements: number): InputData {
  // slice (a copy) so the untaken rest of a large array can be garbage-collected.
  return data.length === elements ? data : data.slice(0, elements);
}

/**
 * Builds holdout data from .npz bytes: `<labelField>.npy` holds the labels, every other array is a
 * model input named after its entry, all with the sample axis first and the same sample count.
 */
export function parseNpzHoldoutWith(zlib: ZipCodec, bytes: Uint8Array, file: string, options: ReadHoldoutOptions = {}): HoldoutData {
  const labelField = options.labelField ?? DEFAULT_LABEL_FIELD;
  checkMaxSamples(file, options.maxSamples);
  const arrays = parseNpzArraysWith(zlib, bytes, file);
  const label = arrays[labelField];
  if (label === undefined) {
    const names = Object.keys(arrays).map((n) => `${n}.npy`).join(', ') || 'none';
    throw new DatasetError(file, `${file} has no ${labelField}.npy (arrays: ${names}); add the labels as ${labelField}.npy or set holdout.labelField`, undefined, labelField);
  }
  const inputNames = Object.keys(arrays).filter((n) => n !== labelField);
  if (inputNames.length === 0) throw new DatasetError(file, `${file} holds only ${labelField}.npy; add one array per model input, named after the input`);
  for (const [name, a] of Object.entries(arrays)) {
    if (a.shape.length === 0) {
      throw new DatasetError(file, `${file} array ${name} is a scalar; every array needs the sample axis first`, undefined, name);
    }
  }
  const total = label.shape[0] as number;
  for (const name of inputNames) {
    const n = (arrays[name] as NpyArray).shape[0];
    if (n !== total) {
      throw new DatasetError(file, `${file} array ${name} has ${n} samples but ${labelField} has ${total}; every array needs the same first (sample) axis`, undefined, name);
    }
  }
  if (total === 0) throw new DatasetError(file, `dataset ${file} holds no samples`);
  const count = Math.min(total, options.maxSamples ?? Infinity);
  const inputs: Record<string, HoldoutInput> = {};
  for (const name of inputNames) {
    const a = arrays[name] as NpyArray;
    const dims = a.shape.slice(1);
    inputs[name] = { data: truncate(a.data, count * product(dims)), dims, dtype: a.dtype };
  }
  const per = product(label.shape.slice(1));
  const num = (i: number): number => Number(label.data[i]);
  let labels: Float64Array | number[][];
  if (label.shape.length === 1) {
    labels = new Float64Array(count);
    for (let i = 0; i < count; i++) labels[i] = num(i);
  } else {
    labels = [];
    for (let i = 0; i < count; i++) {
      const row = new Array<number>(per);
      for (let j = 0; j < per; j++) row[j] = num(i * per + j);
      labels.push(row);
    }
  }
  return { count, inputs, labels };
}
