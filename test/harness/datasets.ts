// Dataset makers for tests and the demo: NumPy .npz / .npy encoders and a JSON Lines writer.
// The encoders follow numpy's on-disk format closely (including its forced zip64 headers) so the
// readers are tested against what numpy.savez really writes.
import { writeFile } from 'node:fs/promises';
import { crc32, deflateRawSync } from 'node:zlib';

export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | number[];

export interface NpyInput {
  data: NpyData;
  /** Full shape, sample axis first. Default: [data.length]. */
  shape?: number[];
  /** The .npy descr; default from the data's type (number[] -> <f8). Use '|b1' for booleans in a Uint8Array. */
  dtype?: string;
  /** Write fortran_order True (the reader must refuse it). */
  fortranOrder?: boolean;
}

export interface NpzOptions {
  /** Deflate the entries, like numpy.savez_compressed (default false, like numpy.savez). */
  compress?: boolean;
  /** Zip64 headers like numpy's force_zip64=True, plus a zip64 end record (default false). */
  zip64?: boolean;
}

function descrOf(data: NpyData): { descr: string; bytes: Uint8Array } {
  const view = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (data instanceof Float32Array) return { descr: '<f4', bytes: view(data) };
  if (data instanceof Float64Array) return { descr: '<f8', bytes: view(data) };
  if (data instanceof Int32Array) return { descr: '<i4', bytes: view(data) };
  if (data instanceof BigInt64Array) return { descr: '<i8', bytes: view(data) };
  if (data instanceof Uint8Array) return { descr: '|u1', bytes: view(data) };
  return { descr: '<f8', bytes: view(Float64Array.from(data)) };
}

/** One .npy file (format 1.0, header padded to a 64-byte boundary as numpy does). */
export function encodeNpy(array: NpyInput): Buffer {
  const { descr, bytes } = descrOf(array.data);
  const shape = array.shape ?? [array.data.length];
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${array.dtype ?? descr}', 'fortran_order': ${array.fortranOrder ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = header + ' '.repeat(pad === 64 ? 0 : pad) + '\n';
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(bytes)]);
}

/** A .npz archive: each array becomes `<name>.npy`. */
export function encodeNpz(arrays: Record<string, NpyInput>, options: NpzOptions = {}): Buffer {
  const zip64 = options.zip64 ?? false;
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, array] of Object.entries(arrays)) {
    const raw = encodeNpy(array);
    const method = options.compress ? 8 : 0;
    const stored = options.compress ? deflateRawSync(raw) : raw;
    const crc = crc32(raw);
    const fname = Buffer.from(`${name}.npy`, 'utf8');
    const version = zip64 ? 45 : 20;
    // Local header: numpy's force_zip64 saturates the sizes and puts the real ones in extra id 1.
    const localExtra = zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (zip64) {
      localExtra.writeUInt16LE(1, 0);
      localExtra.writeUInt16LE(16, 2);
      localExtra.writeBigUInt64LE(BigInt(raw.length), 4);
      localExtra.writeBigUInt64LE(BigInt(stored.length), 12);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(version, 4);
    local.writeUInt16LE(0, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12); // 1980-01-01, a fixed date keeps the bytes reproducible
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(zip64 ? 0xffffffff : stored.length, 18);
    local.writeUInt32LE(zip64 ? 0xffffffff : raw.length, 22);
    local.writeUInt16LE(fname.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    // Central directory: in zip64 mode saturate all three fields so the reader's extra parsing is exercised.
    const centralExtra = zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (zip64) {
      centralExtra.writeUInt16LE(1, 0);
      centralExtra.writeUInt16LE(24, 2);
      centralExtra.writeBigUInt64LE(BigInt(raw.length), 4);
      centralExtra.writeBigUInt64LE(BigInt(stored.length), 12);
      centralExtra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(version, 4);
    central.writeUInt16LE(version, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(zip64 ? 0xffffffff : stored.length, 20);
    central.writeUInt32LE(zip64 ? 0xffffffff : raw.length, 24);
    central.writeUInt16LE(fname.length, 28);
    central.writeUInt16LE(centralExtra.length, 30);
    central.writeUInt16LE(0, 32);
    central.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    const localBytes = Buffer.concat([local, fname, localExtra, stored]);
    locals.push(localBytes);
    centrals.push(Buffer.concat([central, fname, centralExtra]));
    offset += localBytes.length;
  }
  const cd = Buffer.concat(centrals);
  const count = centrals.length;
  const tail: Buffer[] = [];
  if (zip64) {
    const z = Buffer.alloc(56);
    z.writeUInt32LE(0x06064b50, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeUInt16LE(45, 12);
    z.writeUInt16LE(45, 14);
    z.writeBigUInt64LE(BigInt(count), 24);
    z.writeBigUInt64LE(BigInt(count), 32);
    z.writeBigUInt64LE(BigInt(cd.length), 40);
    z.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(z, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : count, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : count, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  return Buffer.concat([...locals, cd, ...tail, eocd]);
}

/** Writes a .npz archive (numpy.savez layout; numpy.savez_compressed with compress: true). */
export async function writeNpz(path: string, arrays: Record<string, NpyInput>, options: NpzOptions = {}): Promise<void> {
  await writeFile(path, encodeNpz(arrays, options));
}

/** Writes one JSON record a line (strings are written as they are, for malformed-line tests). */
export async function writeJsonl(path: string, records: unknown[]): Promise<void> {
  const lines = records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));
  await writeFile(path, lines.map((l) => `${l}\n`).join(''));
}
