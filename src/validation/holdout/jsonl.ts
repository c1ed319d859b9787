// The JSON Lines holdout reader: the line loop, the general path (JSON.parse and the checks that
// name a bad record's line and field) and the hand-over to the byte scanner (jsonl-scan.ts) once
// the first record has fixed the shape. Pure: works on the text or bytes it is handed.
import { checkMaxSamples, DatasetError, DEFAULT_LABEL_FIELD, product } from './data.js';
import type { HoldoutData, HoldoutInput, ReadHoldoutOptions } from './data.js';
import { fastRecord, Growable, plainKey } from './jsonl-scan.js';
import type { FastRecords } from './jsonl-scan.js';

/** What the records read so far fixed (names, dims, label kind) and hold (values, labels). */
interface Records {
  file: string;
  labelField: string;
  names: string[] | undefined;
  dims: Map<string, number[]>;
  values: Map<string, Growable>;
  firstLine: number;
  labelKind: 'scalar' | 'array' | undefined;
  labelWidth: number;
  scalarLabels: Growable;
  rowLabels: number[][];
}

/** A DatasetError naming the line and, when known, the field. */
type LineError = (message: string, field?: string) => DatasetError;

/**
 * Parses JSON Lines text: one `{"inputs": {...}, "<labelField>": ...}` object per line.
 * The first record fixes the input names and per-sample dims; every later record must match.
 */
export function parseJsonlHoldout(text: string | Uint8Array, file: string, options: ReadHoldoutOptions = {}): HoldoutData {
  const labelField = options.labelField ?? DEFAULT_LABEL_FIELD;
  const maxSamples = options.maxSamples ?? Infinity;
  checkMaxSamples(file, options.maxSamples);
  const r: Records = {
    file,
    labelField,
    names: undefined,
    dims: new Map(),
    values: new Map(),
    firstLine: 0,
    labelKind: undefined,
    labelWidth: 0,
    scalarLabels: new Growable(),
    rowLabels: [],
  };
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
    if (tryFast && fast === undefined && r.names !== undefined && r.labelKind !== undefined) {
      tryFast = r.names.every(plainKey);
      if (tryFast) fast = startFastPath(r, r.names, r.labelKind, { pos, total, maxSamples });
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
    readRecord(r, line, lineNo);
    count++;
  }
  return holdoutOf(r, count);
}

/**
 * The scanner's state once the first record has fixed the shape, with the arrays sized for the
 * rest of the file: room for as many records as it holds at the first one's length, but never
 * more doubles than twice the file's bytes (a short first line misleads); past that the arrays
 * grow by doubling as they fill.
 */
function startFastPath(
  r: Records,
  names: string[],
  labelKind: 'scalar' | 'array',
  at: { pos: number; total: number; maxSamples: number },
): FastRecords {
  const { pos, total, maxSamples } = at;
  const perRecord = names.reduce((a, n) => a + product(r.dims.get(n) as number[]), 1);
  const expected = Math.min(maxSamples, Math.ceil(((total - pos) / Math.max(1, pos)) * 1.02) + 2, Math.floor((2 * total) / (8 * perRecord)) + 1);
  for (const name of names) (r.values.get(name) as Growable).reserve(expected * product(r.dims.get(name) as number[]));
  r.scalarLabels.reserve(expected);
  return {
    inputsKey: Buffer.from('inputs'),
    labelKey: Buffer.from(r.labelField),
    nameKeys: names.map((n) => Buffer.from(n)),
    dims: names.map((n) => r.dims.get(n) as number[]),
    sizes: names.map((n) => product(r.dims.get(n) as number[])),
    out: names.map((n) => r.values.get(n) as Growable),
    seen: new Uint8Array(names.length),
    scalarLabels: r.scalarLabels,
    rowLabels: r.rowLabels,
    labelKind,
    labelWidth: r.labelWidth,
  };
}

/** The general path: one non-blank line parsed, checked against the first record, and kept. */
function readRecord(r: Records, line: string, lineNo: number): void {
  const err: LineError = (message, field) =>
    new DatasetError(r.file, `${r.file} line ${lineNo}${field ? ` field ${field}` : ''}: ${message}`, lineNo, field);
  const rec = parseObject(line, r.labelField, err);
  const inputs = rec.inputs;
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw err('missing or not an object; add "inputs": {"<model input name>": [numbers...]}', 'inputs');
  }
  const inputRec = inputs as Record<string, unknown>;
  if (r.names === undefined) fixInputs(r, inputRec, lineNo, err);
  else {
    for (const name of Object.keys(inputRec)) {
      if (!r.dims.has(name)) throw err(`is not on line ${r.firstLine}; every record must have the same inputs (${r.names.join(', ')})`, `inputs.${name}`);
    }
  }
  for (const name of r.names as string[]) readInput(r, name, inputRec, err);
  readLabel(r, rec, err);
}

/** The line as a JSON object, or the error that says what a record must look like. */
function parseObject(line: string, labelField: string, err: LineError): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (e) {
    throw err(`not valid JSON (${(e as Error).message}); each line must be one JSON object like {"inputs": {...}, "${labelField}": 1}`);
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw err(`expected a JSON object like {"inputs": {...}, "${labelField}": 1}, got ${Array.isArray(record) ? 'an array' : typeof record}`);
  }
  return record as Record<string, unknown>;
}

/** The first record fixes the input names and each input's per-sample dims. */
function fixInputs(r: Records, inputRec: Record<string, unknown>, lineNo: number, err: LineError): void {
  const names = Object.keys(inputRec);
  r.names = names;
  if (names.length === 0) throw err('holds no inputs; add one entry per model input', 'inputs');
  r.firstLine = lineNo;
  for (const name of names) {
    const d = dimsOf(inputRec[name]);
    if (d.includes(0)) throw err('is an empty array; every sample needs values', `inputs.${name}`);
    r.dims.set(name, d);
    r.values.set(name, new Growable());
  }
}

/** One input's values, flattened sample-major, checked against the first record's dims. */
function readInput(r: Records, name: string, inputRec: Record<string, unknown>, err: LineError): void {
  const field = `inputs.${name}`;
  if (!(name in inputRec)) throw err(`missing; line ${r.firstLine} has it and every record must have the same inputs`, field);
  const d = r.dims.get(name) as number[];
  const out = r.values.get(name) as Growable;
  const flatten = (v: unknown, depth: number): void => {
    if (depth === d.length) {
      if (typeof v !== 'number') throw err(`holds ${JSON.stringify(v)} where a number belongs; use numbers only`, field);
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== d[depth]) {
      throw err(`has shape ${fmtDims(dimsOf(v))}, expected ${fmtDims(d)} like line ${r.firstLine}; every sample must have the same shape`, field);
    }
    for (const x of v) flatten(x, depth + 1);
  };
  flatten(inputRec[name], 0);
}

/** The record's label: a number, or an array as long as every earlier one (one kind throughout). */
function readLabel(r: Records, rec: Record<string, unknown>, err: LineError): void {
  const labelField = r.labelField;
  if (!(labelField in rec)) {
    throw err(`missing; add the label to every record or set holdout.labelField to the field that holds it`, labelField);
  }
  const label = rec[labelField];
  if (typeof label === 'number') {
    if (r.labelKind === 'array') throw err(`is a number but earlier labels are arrays; use one kind throughout`, labelField);
    r.labelKind = 'scalar';
    r.scalarLabels.push(label);
  } else if (Array.isArray(label) && label.length > 0 && label.every((x) => typeof x === 'number')) {
    if (r.labelKind === 'scalar') throw err(`is an array but earlier labels are numbers; use one kind throughout`, labelField);
    if (r.labelKind === 'array' && label.length !== r.labelWidth) {
      throw err(`has ${label.length} values but earlier labels have ${r.labelWidth}; every label must have the same length`, labelField);
    }
    r.labelKind = 'array';
    r.labelWidth = label.length;
    r.rowLabels.push(label as number[]);
  } else {
    throw err(`must be a number or a non-empty array of numbers, got ${JSON.stringify(label)}`, labelField);
  }
}

/** The records read, as holdout data; none at all is an error. */
function holdoutOf(r: Records, count: number): HoldoutData {
  const names = r.names;
  if (count === 0 || names === undefined) throw new DatasetError(r.file, `dataset ${r.file} holds no samples`);
  const result: Record<string, HoldoutInput> = {};
  for (const name of names) {
    // JSON numbers are doubles: float64 keeps them exact; the pipeline casts to the model's input type.
    result[name] = { data: (r.values.get(name) as Growable).done(), dims: r.dims.get(name) as number[], dtype: 'float64' };
  }
  return { count, inputs: result, labels: r.labelKind === 'array' ? r.rowLabels : r.scalarLabels.done() };
}

/** The dims of a nested array, read along its first elements. */
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
