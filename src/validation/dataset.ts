// Holdout dataset readers: JSON Lines and NumPy .npz (see docs/datasets.md for both formats).
// Inputs come back sample-major and contiguous so the pipeline slices batches without copying.
import { readFile } from 'node:fs/promises';
import { crc32, inflateRawSync } from 'node:zlib';

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

function product(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
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

function checkMaxSamples(file: string, maxSamples: number | undefined): void {
  if (maxSamples !== undefined && !(Number.isInteger(maxSamples) && maxSamples > 0)) {
    throw new DatasetError(file, `maxSamples must be a positive integer, got ${maxSamples}`);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON Lines

/** A Float64Array that doubles as it fills, so a large file is not held as a JS number[]. */
class Growable {
  buf = new Float64Array(1024);
  length = 0;
  /** Room for n more values (written as buf[length++]). */
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Float64Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  done(): Float64Array {
    // A view when the spare room is small (a good size estimate), else a copy so it can go.
    const spare = this.buf.length - this.length;
    return spare <= this.buf.length / 16 ? this.buf.subarray(0, this.length) : this.buf.slice(0, this.length);
  }
}

function dimsOf(value: unknown): number[] {
  const dims: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    dims.push(v.length);
    v = v[0];
  }
  return dims;
}

function fmtDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

// The fast path for JSON Lines records after the first: a scanner that reads the bytes of a line
// of the usual form, `{"inputs": {"<name>": [numbers...], ...}, "<labelField>": <number or
// [numbers]>}` (keys in any order, any JSON whitespace), straight into the typed arrays, without
// decoding it or building the record's objects. It accepts only lines that JSON.parse and the
// checks of the general path would accept with the very same values, and gives up on anything
// else (another key, a duplicate key, an escape in a key, a shape or label that does not match,
// bad JSON): that line then takes the general path, which reads it (or names its error) exactly
// as before. Numbers: a decimal of at most 15 digits and a power of ten within 10^±22 is
// m × 10^p or m / 10^p, one correctly rounded operation on two exact doubles (Clinger's fast
// path), hence the same double as JSON.parse; any other number is read with Number() on its
// text, which rounds correctly too.

const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

interface FastRecords {
  /** UTF-8 of "inputs", of the label field and of each input name (in `names` order). */
  inputsKey: Uint8Array;
  labelKey: Uint8Array;
  nameKeys: Uint8Array[];
  dims: number[][];
  sizes: number[];
  out: Growable[];
  seen: Uint8Array;
  scalarLabels: Growable;
  rowLabels: number[][];
  /** As the first record set them. */
  labelKind: 'scalar' | 'array';
  labelWidth: number;
}

/** A key the scanner can match byte for byte: no quote, backslash or control character in it. */
const plainKey = (key: string): boolean => !/["\\\u0000-\u001f]/.test(key);

/** Where the last key ended (keyIs). */
let scanEnd = 0;

/**
 * A JSON number at b[i], written to dst[at]; returns where it ends, or -1 if there is none.
 */
function scanNumber(b: Uint8Array, i: number, end: number, dst: Float64Array, at: number): number {
  const start = i;
  let c = i < end ? b[i]! : 0;
  const neg = c === 45;
  if (neg) c = ++i < end ? b[i]! : 0;
  let m = 0;
  let digits = 0;
  let frac = 0;
  if (c === 48) {
    digits = 1;
    c = ++i < end ? b[i]! : 0;
  } else if (c >= 49 && c <= 57) {
    do {
      m = m * 10 + (c - 48);
      digits++;
      c = ++i < end ? b[i]! : 0;
    } while (c >= 48 && c <= 57);
  } else return -1;
  if (c === 46) {
    c = ++i < end ? b[i]! : 0;
    if (!(c >= 48 && c <= 57)) return -1;
    do {
      m = m * 10 + (c - 48);
      digits++;
      frac++;
      c = ++i < end ? b[i]! : 0;
    } while (c >= 48 && c <= 57);
  }
  let exp = 0;
  if (c === 101 || c === 69) {
    c = ++i < end ? b[i]! : 0;
    const eneg = c === 45;
    if (c === 43 || c === 45) c = ++i < end ? b[i]! : 0;
    if (!(c >= 48 && c <= 57)) return -1;
    do {
      if (exp < 1e6) exp = exp * 10 + (c - 48);
      c = ++i < end ? b[i]! : 0;
    } while (c >= 48 && c <= 57);
    if (eneg) exp = -exp;
  }
  const p = exp - frac;
  if (digits <= 15 && p >= -22 && p <= 22) {
    const v = p >= 0 ? m * POW10[p]! : m / POW10[-p]!;
    dst[at] = neg ? -v : v;
  } else dst[at] = slowNumber(b, start, i);
  return i;
}

function slowNumber(b: Uint8Array, start: number, end: number): number {
  return Number(Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1'));
}

/** One number read by scanNumber outside an input array (labels). */
const scratch = new Float64Array(1);

function skipWs(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) break;
    i++;
  }
  return i;
}

/** Whether the key at b[i] (its opening quote) is `key`, with no escape; its end is in scanEnd. */
function keyIs(b: Uint8Array, i: number, end: number, key: Uint8Array): boolean {
  const n = key.length;
  if (i + n + 2 > end || b[i] !== 34 || b[i + n + 1] !== 34) return false;
  for (let k = 0; k < n; k++) if (b[i + 1 + k] !== key[k]) return false;
  scanEnd = i + n + 2;
  return true;
}

/**
 * The n numbers of an innermost array at b[i] (its first number), up to and not including its
 * closing bracket; -1 if they are not n plain JSON numbers. The line's end byte (a newline, or
 * none at the end of the file) stops every loop, so no read goes past the line.
 */
function scanLeaves(b: Uint8Array, i: number, end: number, n: number, out: Growable): number {
  const buf = out.buf;
  let len = out.length;
  let c = 0;
  for (let k = 0; k < n; k++) {
    if (k > 0) {
      if (b[i] !== 44) return -1;
      i++;
      while ((c = b[i]!) === 32 || c === 9 || c === 13) i++;
    }
    // scanNumber inlined for the usual plain decimal; anything else is read by scanNumber.
    const start = i;
    c = b[i]!;
    const neg = c === 45;
    if (neg) c = b[++i]!;
    let m = 0;
    let digits = 0;
    let frac = 0;
    if (c === 48) {
      digits = 1;
      c = b[++i]!;
    } else {
      while (c >= 48 && c <= 57) {
        m = m * 10 + (c - 48);
        digits++;
        c = b[++i]!;
      }
      if (digits === 0) return -1;
    }
    if (c === 46) {
      c = b[++i]!;
      while (c >= 48 && c <= 57) {
        m = m * 10 + (c - 48);
        frac++;
        c = b[++i]!;
      }
      if (frac === 0) return -1;
      digits += frac;
    }
    if (c === 101 || c === 69 || digits > 15) {
      i = scanNumber(b, start, end, buf, len);
      if (i < 0) return -1;
    } else {
      const v = m / POW10[frac]!;
      buf[len] = neg ? -v : v;
    }
    len++;
    while ((c = b[i]!) === 32 || c === 9 || c === 13) i++;
  }
  if (i >= end) return -1;
  out.length = len;
  return i;
}

/** Values of one input at b[i], `size` numbers in dims d; -1 if they do not fit. */
function scanValues(b: Uint8Array, i: number, end: number, d: number[], depth: number, out: Growable): number {
  if (depth === d.length) {
    i = scanNumber(b, i, end, out.buf, out.length);
    if (i >= 0) out.length++;
    return i;
  }
  if (i >= end || b[i] !== 91) return -1;
  const n = d[depth]!;
  i = skipWs(b, i + 1, end);
  if (depth + 1 === d.length) {
    i = scanLeaves(b, i, end, n, out);
  } else {
    for (let k = 0; k < n && i >= 0; k++) {
      if (k > 0) {
        if (i >= end || b[i] !== 44) return -1;
        i = skipWs(b, i + 1, end);
      }
      i = scanValues(b, i, end, d, depth + 1, out);
      if (i >= 0) i = skipWs(b, i, end);
    }
  }
  return i >= 0 && i < end && b[i] === 93 ? i + 1 : -1;
}

function scanLabel(b: Uint8Array, i: number, end: number, f: FastRecords): number {
  if (i < end && b[i] === 91) {
    if (f.labelKind !== 'array') return -1;
    const row = new Array<number>(f.labelWidth);
    i = skipWs(b, i + 1, end);
    for (let k = 0; k < f.labelWidth; k++) {
      if (k > 0) {
        if (i >= end || b[i] !== 44) return -1;
        i = skipWs(b, i + 1, end);
      }
      i = scanNumber(b, i, end, scratch, 0);
      if (i < 0) return -1;
      row[k] = scratch[0]!;
      i = skipWs(b, i, end);
    }
    if (i >= end || b[i] !== 93) return -1;
    f.rowLabels.push(row);
    return i + 1;
  }
  if (f.labelKind !== 'scalar') return -1;
  i = scanNumber(b, i, end, scratch, 0);
  if (i >= 0) f.scalarLabels.push(scratch[0]!);
  return i;
}

function scanInputs(b: Uint8Array, i: number, end: number, f: FastRecords): number {
  if (i >= end || b[i] !== 123) return -1;
  f.seen.fill(0);
  let seen = 0;
  i = skipWs(b, i + 1, end);
  for (;;) {
    let k = 0;
    while (k < f.nameKeys.length && !keyIs(b, i, end, f.nameKeys[k]!)) k++;
    if (k === f.nameKeys.length || f.seen[k] === 1) return -1;
    f.seen[k] = 1;
    seen++;
    i = skipWs(b, scanEnd, end);
    if (i >= end || b[i] !== 58) return -1;
    const out = f.out[k]!;
    out.reserve(f.sizes[k]!);
    i = scanValues(b, skipWs(b, i + 1, end), end, f.dims[k]!, 0, out);
    if (i < 0) return -1;
    i = skipWs(b, i, end);
    if (i >= end) return -1;
    if (b[i] === 44) i = skipWs(b, i + 1, end);
    else if (b[i] === 125) return seen === f.nameKeys.length ? i + 1 : -1;
    else return -1;
  }
}

/** Reads the record in b[start, end) into f; false (and nothing kept) if it is not of the usual form. */
function fastRecord(b: Uint8Array, start: number, end: number, f: FastRecords): boolean {
  const lengths = f.out.map((g) => g.length);
  const labels = f.scalarLabels.length;
  const rows = f.rowLabels.length;
  let ok = false;
  let i = skipWs(b, start, end);
  if (i < end && b[i] === 123) {
    i = skipWs(b, i + 1, end);
    let inputs = false;
    let label = false;
    for (;;) {
      let which: 'inputs' | 'label';
      if (!inputs && keyIs(b, i, end, f.inputsKey)) which = 'inputs';
      else if (!label && keyIs(b, i, end, f.labelKey)) which = 'label';
      else break;
      i = skipWs(b, scanEnd, end);
      if (i >= end || b[i] !== 58) break;
      i = skipWs(b, i + 1, end);
      if (which === 'inputs') {
        inputs = true;
        i = scanInputs(b, i, end, f);
      } else {
        label = true;
        i = scanLabel(b, i, end, f);
      }
      if (i < 0) break;
      i = skipWs(b, i, end);
      if (i >= end) break;
      if (b[i] === 44) {
        i = skipWs(b, i + 1, end);
        continue;
      }
      ok = b[i] === 125 && inputs && label && skipWs(b, i + 1, end) === end;
      break;
    }
  }
  if (!ok) {
    f.out.forEach((g, k) => (g.length = lengths[k]!));
    f.scalarLabels.length = labels;
    f.rowLabels.length = rows;
  }
  return ok;
}

/**
 * Parses JSON Lines text: one `{"inputs": {...}, "<labelField>": ...}` object per line.
 * The first record fixes the input names and per-sample dims; every later record must match.
 */
export function parseJsonlHoldout(text: string | Uint8Array, file: string, options: ReadHoldoutOptions = {}): HoldoutData {
  const labelField = options.labelField ?? DEFAULT_LABEL_FIELD;
  const maxSamples = options.maxSamples ?? Infinity;
  checkMaxSamples(file, options.maxSamples);
  let names: string[] | undefined;
  const dims = new Map<string, number[]>();
  const values = new Map<string, Growable>();
  let firstLine = 0;
  let labelKind: 'scalar' | 'array' | undefined;
  let labelWidth = 0;
  const scalarLabels = new Growable();
  const rowLabels: number[][] = [];
  let count = 0;

  // Bytes (what readHoldout passes) go line by line: a line of the usual form is scanned in
  // place (fastRecord), any other is decoded and takes the general path below. A line's bytes
  // decode to the same text as that line of the whole file decoded (a newline byte is never
  // part of a multi-byte character).
  const bytes = typeof text === 'string' ? undefined : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  const str = typeof text === 'string' ? text : undefined;
  const total = bytes ? bytes.length : str!.length;
  // Editors on Windows may prepend a byte-order mark, which JSON.parse rejects.
  let pos = bytes ? (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0) : str!.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lineNo = 0;
  let fast: FastRecords | undefined;
  let tryFast = bytes !== undefined && labelField !== 'inputs' && plainKey(labelField);
  while (pos <= total && count < maxSamples) {
    let end = bytes ? bytes.indexOf(10, pos) : str!.indexOf('\n', pos);
    if (end < 0) end = total;
    if (tryFast && fast === undefined && names !== undefined && labelKind !== undefined) {
      tryFast = names.every(plainKey);
      if (tryFast) {
        // Room for as many records as the rest of the file holds at the first one's length, but
        // never more doubles than twice the file's bytes (a short first line misleads): past
        // that the arrays grow by doubling as they fill.
        const perRecord = names.reduce((a, n) => a + product(dims.get(n) as number[]), 1);
        const expected = Math.min(maxSamples, Math.ceil(((total - pos) / Math.max(1, pos)) * 1.02) + 2, Math.floor((2 * total) / (8 * perRecord)) + 1);
        for (const name of names) (values.get(name) as Growable).reserve(expected * product(dims.get(name) as number[]));
        scalarLabels.reserve(expected);
        fast = {
          inputsKey: Buffer.from('inputs'),
          labelKey: Buffer.from(labelField),
          nameKeys: names.map((n) => Buffer.from(n)),
          dims: names.map((n) => dims.get(n) as number[]),
          sizes: names.map((n) => product(dims.get(n) as number[])),
          out: names.map((n) => values.get(n) as Growable),
          seen: new Uint8Array(names.length),
          scalarLabels,
          rowLabels,
          labelKind,
          labelWidth,
        };
      }
    }
    if (fast !== undefined && fastRecord(bytes!, pos, end, fast)) {
      pos = end + 1;
      lineNo++;
      count++;
      continue;
    }
    const line = bytes ? bytes.toString('utf8', pos, end) : str!.slice(pos, end);
    pos = end + 1;
    lineNo++;
    if (line.trim() === '') {
      if (end === total) break;
      continue;
    }
    const err = (message: string, field?: string): DatasetError =>
      new DatasetError(file, `${file} line ${lineNo}${field ? ` field ${field}` : ''}: ${message}`, lineNo, field);

    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw err(`not valid JSON (${(e as Error).message}); each line must be one JSON object like {"inputs": {...}, "${labelField}": 1}`);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw err(`expected a JSON object like {"inputs": {...}, "${labelField}": 1}, got ${Array.isArray(record) ? 'an array' : typeof record}`);
    }
    const rec = record as Record<string, unknown>;
    const inputs = rec.inputs;
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
      throw err('missing or not an object; add "inputs": {"<model input name>": [numbers...]}', 'inputs');
    }
    const inputRec = inputs as Record<string, unknown>;
    if (names === undefined) {
      names = Object.keys(inputRec);
      if (names.length === 0) throw err('holds no inputs; add one entry per model input', 'inputs');
      firstLine = lineNo;
      for (const name of names) {
        const d = dimsOf(inputRec[name]);
        if (d.includes(0)) throw err('is an empty array; every sample needs values', `inputs.${name}`);
        dims.set(name, d);
        values.set(name, new Growable());
      }
    } else {
      for (const name of Object.keys(inputRec)) {
        if (!dims.has(name)) throw err(`is not on line ${firstLine}; every record must have the same inputs (${names.join(', ')})`, `inputs.${name}`);
      }
    }
    for (const name of names) {
      const field = `inputs.${name}`;
      if (!(name in inputRec)) throw err(`missing; line ${firstLine} has it and every record must have the same inputs`, field);
      const d = dims.get(name) as number[];
      const out = values.get(name) as Growable;
      const flatten = (v: unknown, depth: number): void => {
        if (depth === d.length) {
          if (typeof v !== 'number') throw err(`holds ${JSON.stringify(v)} where a number belongs; use numbers only`, field);
          out.push(v);
          return;
        }
        if (!Array.isArray(v) || v.length !== d[depth]) {
          throw err(`has shape ${fmtDims(dimsOf(v))}, expected ${fmtDims(d)} like line ${firstLine}; every sample must have the same shape`, field);
        }
        for (const x of v) flatten(x, depth + 1);
      };
      flatten(inputRec[name], 0);
    }
    if (!(labelField in rec)) {
      throw err(`missing; add the label to every record or set holdout.labelField to the field that holds it`, labelField);
    }
    const label = rec[labelField];
    if (typeof label === 'number') {
      if (labelKind === 'array') throw err(`is a number but earlier labels are arrays; use one kind throughout`, labelField);
      labelKind = 'scalar';
      scalarLabels.push(label);
    } else if (Array.isArray(label) && label.length > 0 && label.every((x) => typeof x === 'number')) {
      if (labelKind === 'scalar') throw err(`is an array but earlier labels are numbers; use one kind throughout`, labelField);
      if (labelKind === 'array' && label.length !== labelWidth) {
        throw err(`has ${label.length} values but earlier labels have ${labelWidth}; every label must have the same length`, labelField);
      }
      labelKind = 'array';
      labelWidth = label.length;
      rowLabels.push(label as number[]);
    } else {
      throw err(`must be a number or a non-empty array of numbers, got ${JSON.stringify(label)}`, labelField);
    }
    count++;
  }
  if (count === 0 || names === undefined) throw new DatasetError(file, `dataset ${file} holds no samples`);
  const result: Record<string, HoldoutInput> = {};
  for (const name of names) {
    // JSON numbers are doubles: float64 keeps them exact; the pipeline casts to the model's input type.
    result[name] = { data: (values.get(name) as Growable).done(), dims: dims.get(name) as number[], dtype: 'float64' };
  }
  return { count, inputs: result, labels: labelKind === 'array' ? rowLabels : scalarLabels.done() };
}

// ---------------------------------------------------------------------------------------------
// NumPy .npy / .npz

export interface NpyArray {
  dtype: InputDtype;
  /** Full shape, sample axis first for holdout arrays. */
  shape: number[];
  data: InputData;
}

const DTYPES: Record<string, { dtype: InputDtype; size: number }> = {
  '<f4': { dtype: 'float32', size: 4 },
  '<f8': { dtype: 'float64', size: 8 },
  '<i4': { dtype: 'int32', size: 4 },
  '<i8': { dtype: 'int64', size: 8 },
  '|u1': { dtype: 'uint8', size: 1 },
  '<u1': { dtype: 'uint8', size: 1 },
  '|b1': { dtype: 'bool', size: 1 },
};

/** Parses one .npy file (format versions 1, 2 and 3). `where` names it in errors. */
export function parseNpy(bytes: Uint8Array, file: string, where: string): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (message: string): DatasetError => new DatasetError(file, `${file} array ${where}: ${message}`, undefined, where);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw fail('not a .npy array (bad magic); save it with numpy.save / numpy.savez');
  }
  const major = buf[6] as number;
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw fail('truncated header');
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw fail(`unsupported .npy format version ${major}; save with numpy's default format`);
  }
  if (headerStart + headerLen > buf.length) throw fail('truncated header');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLen);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw fail(`header ${JSON.stringify(header.trim())} lacks descr, fortran_order or shape`);
  }
  if (fortran !== 'False') {
    throw fail('is stored in Fortran (column-major) order, which is not supported; save numpy.ascontiguousarray(a) instead');
  }
  const spec = DTYPES[descr];
  if (spec === undefined) {
    const hint = descr.startsWith('>') ? ' (big-endian: save a.astype(a.dtype.newbyteorder("<")))' : '';
    throw fail(`dtype ${descr} is not supported${hint}; use <f4, <f8, <i4, <i8, |u1 or |b1`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const d = Number(s.replace(/L$/, ''));
    if (!Number.isInteger(d) || d < 0) throw fail(`bad shape (${shapeText})`);
    return d;
  });
  const elements = product(shape);
  const start = headerStart + headerLen;
  const nbytes = elements * spec.size;
  if (start + nbytes > buf.length) {
    throw fail(`truncated data: shape (${shape.join(', ')}) of ${descr} needs ${nbytes} bytes, the file holds ${buf.length - start}`);
  }
  // Copy into a fresh, aligned buffer: the data offset inside a zip is rarely a multiple of 8.
  const raw = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + nbytes);
  let data: InputData;
  switch (spec.dtype) {
    case 'float32': data = new Float32Array(raw); break;
    case 'float64': data = new Float64Array(raw); break;
    case 'int32': data = new Int32Array(raw); break;
    case 'int64': data = new BigInt64Array(raw); break;
    case 'uint8': case 'bool': data = new Uint8Array(raw); break;
  }
  return { dtype: spec.dtype, shape, data };
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

/** Every array in a .npz archive, keyed by entry name without ".npy". */
export function parseNpzArrays(bytes: Uint8Array, file: string): Record<string, NpyArray> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arrays: Record<string, NpyArray> = {};
  for (const entry of readCentralDirectory(buf, file)) {
    if (entry.name.endsWith('/')) continue; // a directory entry carries no data
    const fail = (message: string): DatasetError =>
      new DatasetError(file, `${file} entry ${entry.name}: ${message}`, undefined, entry.name);
    if (!entry.name.endsWith('.npy')) throw fail('is not a .npy array; an .npz holds only .npy arrays (numpy.savez)');
    if (entry.flags & 1) throw fail('is encrypted; save the arrays without encryption');
    const lh = entry.localOffset;
    if (lh + 30 > buf.length || buf.readUInt32LE(lh) !== 0x04034b50) throw fail('bad local file header (corrupt zip)');
    const dataStart = lh + 30 + buf.readUInt16LE(lh + 26) + buf.readUInt16LE(lh + 28);
    if (dataStart + entry.compressedSize > buf.length) throw fail('truncated (data beyond the end of the file)');
    const stored = buf.subarray(dataStart, dataStart + entry.compressedSize);
    let raw: Buffer;
    if (entry.method === 0) raw = stored;
    else if (entry.method === 8) {
      try {
        raw = inflateRawSync(stored);
      } catch (err) {
        throw fail(`cannot inflate (${(err as Error).message}); the archive is corrupt`);
      }
    } else throw fail(`uses zip compression method ${entry.method}; only stored (0) and deflate (8) are supported: save with numpy.savez or numpy.savez_compressed`);
    if (raw.length !== entry.size) throw fail(`holds ${raw.length} bytes, the zip directory says ${entry.size}; the archive is corrupt`);
    if (crc32(raw) !== entry.crc) throw fail('CRC mismatch; the archive is corrupt');
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
export function parseNpzHoldout(bytes: Uint8Array, file: string, options: ReadHoldoutOptions = {}): HoldoutData {
  const labelField = options.labelField ?? DEFAULT_LABEL_FIELD;
  checkMaxSamples(file, options.maxSamples);
  const arrays = parseNpzArrays(bytes, file);
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

// ---------------------------------------------------------------------------------------------

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
