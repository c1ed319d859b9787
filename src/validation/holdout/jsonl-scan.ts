// The JSON Lines byte scanner, and the growable arrays both JSON Lines paths fill. Pure: no I/O.
// It is benchmarked (bench/holdout.ts): add no allocation to the per-record path.
//
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

/** A Float64Array that doubles as it fills, so a large file is not held as a JS number[]. */
export class Growable {
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

const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/** What the scanner reads into, set up once from the first record (the names, dims and label kind it fixed). */
export interface FastRecords {
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
export const plainKey = (key: string): boolean => !/["\\\u0000-\u001f]/.test(key);

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

/** Reads the record in b[start, end) into f (the fast path's entry point); false (and nothing kept) if it is not of the usual form. */
export function fastRecord(b: Uint8Array, start: number, end: number, f: FastRecords): boolean {
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

