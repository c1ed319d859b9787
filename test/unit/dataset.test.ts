import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetError, parseNpy, readHoldout, sliceBatch } from '../../src/validation/dataset.js';
import { encodeNpy, encodeNpz, writeJsonl, writeNpz } from '../harness/datasets.js';

describe('validation/dataset', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-dataset-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Asserts a DatasetError whose message matches every pattern. */
  async function rejects(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<DatasetError> {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
      for (const p of patterns) assert.match(err.message, p);
      return err;
    }
    assert.fail('expected the read to fail');
  }

  describe('npz', () => {
    const features = Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => i / 4);
    const ids = BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    const arrays = {
      features: { data: features, shape: [4, 2, 3] },
      ids: { data: ids, shape: [4, 2] },
      mask: { data: Uint8Array.from([1, 0, 1, 1]), shape: [4], dtype: '|b1' },
      pixels: { data: Uint8Array.from([0, 127, 255, 3]), shape: [4, 1] },
      counts: { data: Int32Array.from([-1, 0, 1, 2]), shape: [4] },
      scale: { data: Float64Array.from([0.5, 1.5, 2.5, 3.5]), shape: [4] },
      label: { data: BigInt64Array.from([0n, 1n, 2n, 1n]), shape: [4] },
    };

    for (const options of [{}, { compress: true }, { zip64: true }, { compress: true, zip64: true }]) {
      it(`round-trips every dtype through writeNpz (${JSON.stringify(options)})`, async () => {
        const file = join(dir, `all-${Object.keys(options).join('-') || 'stored'}.npz`);
        await writeNpz(file, arrays, options);
        const data = await readHoldout(file);
        assert.equal(data.count, 4);
        assert.deepEqual(Object.keys(data.inputs).sort(), ['counts', 'features', 'ids', 'mask', 'pixels', 'scale']);
        const f = data.inputs.features;
        assert.equal(f?.dtype, 'float32');
        assert.deepEqual(f?.dims, [2, 3]);
        assert.deepEqual(f?.data, features);
        assert.equal(data.inputs.ids?.dtype, 'int64');
        assert.deepEqual(data.inputs.ids?.data, ids);
        assert.equal(data.inputs.mask?.dtype, 'bool');
        assert.deepEqual(data.inputs.mask?.dims, []);
        assert.deepEqual(data.inputs.pixels?.data, Uint8Array.from([0, 127, 255, 3]));
        assert.equal(data.inputs.pixels?.dtype, 'uint8');
        assert.deepEqual(data.inputs.counts?.data, Int32Array.from([-1, 0, 1, 2]));
        assert.equal(data.inputs.scale?.dtype, 'float64');
        assert.deepEqual(data.labels, Float64Array.from([0, 1, 2, 1]));
      });
    }

    it('reads 2-D labels as rows, a custom label array, and honours maxSamples', async () => {
      const file = join(dir, 'rows.npz');
      await writeNpz(file, {
        x: { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [3, 2] },
        target: { data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], shape: [3, 2] },
      });
      const all = await readHoldout(file, { labelField: 'target' });
      assert.deepEqual(all.labels, [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]);
      const two = await readHoldout(file, { labelField: 'target', maxSamples: 2 });
      assert.equal(two.count, 2);
      assert.deepEqual(two.inputs.x?.data, Float32Array.from([1, 2, 3, 4]));
      assert.deepEqual(two.labels, [[0.1, 0.2], [0.3, 0.4]]);
      await rejects(readHoldout(file), /has no label\.npy \(arrays: x\.npy, target\.npy\).*labelField/);
    });

    it('refuses Fortran order, big-endian and unsupported dtypes, naming the array', async () => {
      const x = { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] };
      const label = { data: [0, 1] };
      const fortran = join(dir, 'fortran.npz');
      await writeNpz(fortran, { x: { ...x, fortranOrder: true }, label });
      await rejects(readHoldout(fortran), /array x/, /Fortran/, /ascontiguousarray/);
      const big = join(dir, 'big.npz');
      await writeNpz(big, { x: { ...x, dtype: '>f4' }, label });
      await rejects(readHoldout(big), /array x/, /dtype >f4/, /big-endian/);
      const f2 = join(dir, 'f2.npz');
      await writeNpz(f2, { x: { data: Uint8Array.from([0, 0, 0, 0]), shape: [2], dtype: '<f2' }, label });
      await rejects(readHoldout(f2), /dtype <f2 is not supported/);
    });

    it('refuses mismatched sample counts, zero samples, scalars and missing inputs', async () => {
      const mismatch = join(dir, 'mismatch.npz');
      await writeNpz(mismatch, { x: { data: [1, 2, 3] }, label: { data: [0, 1] } });
      await rejects(readHoldout(mismatch), /array x has 3 samples but label has 2/);
      const empty = join(dir, 'empty.npz');
      await writeNpz(empty, { x: { data: new Float32Array(0), shape: [0, 4] }, label: { data: [] } });
      await rejects(readHoldout(empty), new RegExp(`dataset ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds no samples`));
      const scalar = join(dir, 'scalar.npz');
      await writeNpz(scalar, { x: { data: [1], shape: [] }, label: { data: [0] } });
      await rejects(readHoldout(scalar), /array x is a scalar/);
      const onlyLabels = join(dir, 'only-labels.npz');
      await writeNpz(onlyLabels, { label: { data: [0] } });
      await rejects(readHoldout(onlyLabels), /holds only label\.npy/);
    });

    it('detects corruption: CRC, truncation, not a zip', async () => {
      const bytes = encodeNpz({ x: { data: [1, 2] }, label: { data: [0, 1] } });
      const flipped = Buffer.from(bytes);
      const at = bytes.indexOf(Buffer.from(Float64Array.from([2]).buffer)); // x.npy's second value
      assert.ok(at > 0);
      flipped[at + 7] = (flipped[at + 7] as number) ^ 0x01;
      const crc = join(dir, 'crc.npz');
      await writeFile(crc, flipped);
      await rejects(readHoldout(crc), /CRC mismatch/);
      const notZip = join(dir, 'not-zip.npz');
      await writeFile(notZip, 'hello, this is not a zip archive at all');
      await rejects(readHoldout(notZip), /not a zip archive/, /numpy\.savez/);
      assert.throws(() => parseNpy(encodeNpy({ data: [1, 2, 3] }).subarray(0, 140), 'f.npz', 'x'), /truncated data/);
      assert.throws(() => parseNpy(Buffer.from('not numpy at all'), 'f.npz', 'x'), /bad magic/);
    });
  });

  describe('jsonl', () => {
    it('round-trips records through writeJsonl, skipping blank lines and extra fields', async () => {
      const file = join(dir, 'ok.jsonl');
      await writeJsonl(file, [
        { inputs: { image: [[1, 2], [3, 4]], tabular: [0.5] }, label: 1, id: 'a' },
        '',
        { inputs: { image: [[5, 6], [7, 8]], tabular: [1.5] }, label: 0 },
        '   ',
        { id: 'c', label: 1, inputs: { tabular: [2.5], image: [[9, 10], [11, 12]] } },
      ]);
      const data = await readHoldout(file);
      assert.equal(data.count, 3);
      assert.deepEqual(data.inputs.image?.dims, [2, 2]);
      assert.equal(data.inputs.image?.dtype, 'float64');
      assert.deepEqual(data.inputs.image?.data, Float64Array.from({ length: 12 }, (_, i) => i + 1));
      assert.deepEqual(data.inputs.tabular?.data, Float64Array.from([0.5, 1.5, 2.5]));
      assert.deepEqual(data.labels, Float64Array.from([1, 0, 1]));
      const first = await readHoldout(file, { maxSamples: 2 });
      assert.equal(first.count, 2);
      assert.deepEqual(first.labels, Float64Array.from([1, 0]));
    });

    it('reads array labels, a custom label field, scalar inputs and CRLF line ends', async () => {
      const file = join(dir, 'rows.ndjson');
      await writeFile(file, '{"inputs": {"x": 1}, "y": [0, 1]}\r\n{"inputs": {"x": 2}, "y": [1, 0]}\r\n');
      const data = await readHoldout(file, { labelField: 'y' });
      assert.deepEqual(data.inputs.x?.dims, []);
      assert.deepEqual(data.labels, [[0, 1], [1, 0]]);
    });

    it('names the file, line and field of a malformed line and says what to do', async () => {
      const file = join(dir, 'bad.jsonl');
      const ok = { inputs: { x: [1, 2, 3] }, label: 0 };
      const cases: [unknown, RegExp[]][] = [
        ['{"inputs": {"x": [1, 2, 3]}, "label": ', [/line 3: not valid JSON/, /one JSON object/]],
        ['[1, 2]', [/line 3: expected a JSON object/]],
        [{ label: 0 }, [/line 3 field inputs: missing/]],
        [{ inputs: { x: [1, 2] }, label: 0 }, [/line 3 field inputs\.x: has shape \[2\], expected \[3\] like line 1/]],
        [{ inputs: { x: [1, null, 3] }, label: 0 }, [/line 3 field inputs\.x: holds null where a number belongs/]],
        [{ inputs: { x: [1, 2, 3], z: [1] }, label: 0 }, [/line 3 field inputs\.z: is not on line 1/]],
        [{ inputs: { y: [1, 2, 3] }, label: 0 }, [/line 3 field inputs\.y/]],
        [{ inputs: { x: [1, 2, 3] } }, [/line 3 field label: missing/, /labelField/]],
        [{ inputs: { x: [1, 2, 3] }, label: 'cat' }, [/line 3 field label: must be a number/]],
        [{ inputs: { x: [1, 2, 3] }, label: [0, 1] }, [/line 3 field label: is an array but earlier labels are numbers/]],
      ];
      for (const [bad, patterns] of cases) {
        await writeJsonl(file, [ok, ok, bad]);
        const err = await rejects(readHoldout(file), new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), ...patterns);
        assert.equal(err.line, 3);
      }
    });

    it('refuses an empty file and an unknown extension', async () => {
      const empty = join(dir, 'empty.jsonl');
      await writeFile(empty, '\n\n');
      await rejects(readHoldout(empty), /holds no samples/);
      await rejects(readHoldout(join(dir, 'data.csv')), /cannot tell the format.*jsonl or npz/);
      await rejects(readHoldout(join(dir, 'missing.jsonl')), /cannot read dataset/);
      await rejects(readHoldout(empty, { maxSamples: 0 }), /maxSamples must be a positive integer/);
    });
  });

  it('slices batches as views with a batch axis, clamping the end', async () => {
    const file = join(dir, 'batch.npz');
    await writeNpz(file, {
      x: { data: Float32Array.from({ length: 10 }, (_, i) => i), shape: [5, 2] },
      label: { data: [0, 1, 0, 1, 1] },
    });
    const data = await readHoldout(file);
    const b = sliceBatch(data, 1, 3);
    assert.deepEqual(b.inputs.x?.dims, [2, 2]);
    assert.deepEqual(b.inputs.x?.data, Float32Array.from([2, 3, 4, 5]));
    assert.equal(b.inputs.x?.data.buffer, data.inputs.x?.data.buffer); // a view, not a copy
    assert.deepEqual(b.labels, Float64Array.from([1, 0]));
    const tail = sliceBatch(data, 4, 8);
    assert.deepEqual(tail.inputs.x?.dims, [1, 2]);
    assert.deepEqual(tail.labels, Float64Array.from([1]));
    assert.throws(() => sliceBatch(data, 5, 6), RangeError);
    assert.throws(() => sliceBatch(data, 2, 2), RangeError);
    const rows = { ...data, labels: [[1], [2], [3], [4], [5]] };
    assert.deepEqual(sliceBatch(rows, 3, 5).labels, [[4], [5]]);
  });
});
