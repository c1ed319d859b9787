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
