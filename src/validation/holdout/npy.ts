// NumPy .npy arrays (format versions 1, 2 and 3): the header read, the dtype mapped to a typed
// array. Pure: works on the bytes it is handed.
import { DatasetError, product } from './data.js';
import type { InputData, InputDtype } from './data.js';

/** One array as read: its dtype, full shape and data. */
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
  const span = headerSpan(buf);
  if (typeof span === 'string') throw fail(span);
  const { major, headerStart, headerLen } = span;
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
  // A view of the bytes when the data starts on a multiple of its element size (the array then
  // shares the caller's buffer: no second copy of a large holdout, no fresh pages to fault in);
  // else a copy into a fresh, aligned buffer.
  const at = buf.byteOffset + start;
  const aligned = at % spec.size === 0;
  const ab = aligned ? buf.buffer : buf.buffer.slice(at, at + nbytes);
  const offset = aligned ? at : 0;
  return { dtype: spec.dtype, shape, data: typedArray(spec.dtype, ab, offset, elements) };
}

function typedArray(dtype: InputDtype, ab: ArrayBufferLike, offset: number, elements: number): InputData {
  switch (dtype) {
    case 'float32': return new Float32Array(ab, offset, elements);
    case 'float64': return new Float64Array(ab, offset, elements);
    case 'int32': return new Int32Array(ab, offset, elements);
    case 'int64': return new BigInt64Array(ab, offset, elements);
    case 'uint8': case 'bool': return new Uint8Array(ab, offset, elements);
  }
}

/**
 * Where a .npy's header text lies: after the magic, the version and the length field (2 bytes in
 * version 1, 4 in versions 2 and 3). A string says why there is none.
 */
function headerSpan(buf: Buffer): { major: number; headerStart: number; headerLen: number } | string {
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    return 'not a .npy array (bad magic); save it with numpy.save / numpy.savez';
  }
  const major = buf[6] as number;
  if (major === 1) return { major, headerStart: 10, headerLen: buf.readUInt16LE(8) };
  if (major === 2 || major === 3) {
    if (buf.length < 12) return 'truncated header';
    return { major, headerStart: 12, headerLen: buf.readUInt32LE(8) };
  }
  return `unsupported .npy format version ${major}; save with numpy's default format`;
}

/** Where a .npy's data starts within its bytes (after the header), or undefined if it is not one. */
export function npyDataStart(bytes: Uint8Array): number | undefined {
  const span = headerSpan(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return typeof span === 'string' ? undefined : span.headerStart + span.headerLen;
}
