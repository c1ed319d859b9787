// The pure .npz reader with its zlib passed in (src/validation/holdout/npz.ts): dataset.ts hands it
// node:zlib; these check that the reader uses only what it is handed.
import assert from 'node:assert/strict';
import { crc32, inflateRawSync } from 'node:zlib';
import { DatasetError } from '../../../src/validation/holdout/data.js';
import { parseNpzArraysWith, parseNpzHoldoutWith, type ZipCodec } from '../../../src/validation/holdout/npz.js';
import { encodeNpz } from '../../harness/datasets.js';

const ZLIB: ZipCodec = { inflateRaw: inflateRawSync, crc32 };

describe('validation/holdout/npz', () => {
  const archive = (compress: boolean): Buffer =>
    encodeNpz({ x: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, label: { data: [0, 1] } }, { compress });

  it('reads stored entries without calling the codec\'s inflate', () => {
    let inflates = 0;
    const arrays = parseNpzArraysWith({ inflateRaw: (b) => (inflates++, inflateRawSync(b)), crc32 }, archive(false), 'd.npz');
    assert.equal(inflates, 0);
    assert.deepEqual(Array.from(arrays.x!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(arrays.x!.shape, [2, 3]);
  });

  it('inflates deflated entries with the codec it is handed, and names its failure', () => {
    const data = parseNpzHoldoutWith(ZLIB, archive(true), 'd.npz', { maxSamples: 1 });
    assert.equal(data.count, 1);
    assert.deepEqual(Array.from(data.labels as Float64Array), [0]);
    assert.throws(
      () => parseNpzArraysWith({ inflateRaw: () => { throw new Error('boom'); }, crc32 }, archive(true), 'd.npz'),
      (e: unknown) => e instanceof DatasetError && /entry .*\.npy: cannot inflate \(boom\); the archive is corrupt/.test(e.message),
    );
  });

  it('checks each entry against the codec\'s CRC', () => {
    assert.throws(
      () => parseNpzArraysWith({ inflateRaw: inflateRawSync, crc32: () => 0 }, archive(true), 'd.npz'),
      (e: unknown) => e instanceof DatasetError && /CRC mismatch; the archive is corrupt/.test(e.message),
    );
  });
});
