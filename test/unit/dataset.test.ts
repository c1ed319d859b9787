import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetError, parseJsonlHoldout, parseNpy, parseNpzHoldout, readHoldout, sliceBatch } from '../../src/validation/dataset.js';
import { fileURLToPath } from 'node:url';
import type { HoldoutData } from '../../src/validation/dataset.js';
import { encodeNpy, encodeNpz, writeJsonl, writeNpz } from '../harness/datasets.js';

const fixtures = fileURLToPath(new URL('../fixtures', import.meta.url));

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

    it('views the largest stored array where the file was read, at any offset in the archive, instead of copying it', async () => {
      // Entry names of 1 to 8 characters put the array's data at every offset modulo 8.
      for (let len = 1; len <= 8; len++) {
        const name = 'x'.repeat(len);
        const values = Float64Array.from({ length: 64 * 3 }, (_, i) => i * 0.25 - 7);
        const file = join(dir, `view-${len}.npz`);
        await writeNpz(file, { [name]: { data: values, shape: [64, 3] }, label: { data: Float64Array.from({ length: 64 }, (_, i) => i % 2) } });
        const x = (await readHoldout(file)).inputs[name]!.data as Float64Array;
        assert.deepEqual(x, values, `name length ${len}`);
        assert.equal(x.byteOffset % 8, 0);
        assert.ok(x.buffer.byteLength > x.byteLength, `name length ${len}: the array is a view of the file's bytes (buffer ${x.buffer.byteLength} B), not a copy of its own ${x.byteLength} B`);
      }
    });

    it('parseNpy views aligned data and copies misaligned data, the values the same', () => {
      const npy = encodeNpy({ data: Float32Array.from([1.5, -2, 3.25]), shape: [3] });
      const slab = new Uint8Array(npy.length + 1);
      slab.set(npy, 0);
      const aligned = parseNpy(slab.subarray(0, npy.length), 'f.npz', 'x');
      assert.equal(aligned.data.buffer, slab.buffer, 'aligned: a view');
      assert.deepEqual(aligned.data, Float32Array.from([1.5, -2, 3.25]));
      slab.copyWithin(1, 0, npy.length); // (the view above now sees the moved bytes: it shares them)
      const shifted = parseNpy(slab.subarray(1, 1 + npy.length), 'f.npz', 'x');
      assert.notEqual(shifted.data.buffer, slab.buffer, 'misaligned: a copy');
      assert.deepEqual(shifted.data, Float32Array.from([1.5, -2, 3.25]));
    });

    it('reads the numpy-written fixtures (scikit-learn holdouts) the same through readHoldout as from their bytes', async () => {
      for (const f of ['cancer', 'digits', 'diabetes']) {
        const file = join(fixtures, 'sklearn', `${f}-holdout.npz`);
        const read = await readHoldout(file);
        const parsed = parseNpzHoldout(await readFile(file), file);
        assert.ok(read.count > 0, f);
        assert.deepEqual(read, parsed, f);
      }
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

    describe('the byte scanner (records after the first) reads what JSON.parse reads', () => {
      // A small seeded generator, so a failure reproduces.
      let seed = 12345;
      const r = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      const digits = (n: number, lead = true): string => Array.from({ length: n }, (_, k) => String(k === 0 && lead ? 1 + Math.floor(r() * 9) : Math.floor(r() * 10))).join('');
      const SPECIAL = ['-0', '0', '0.0', '-0.0', '1e-324', '5e-324', '2.2250738585072014e-308', '1.7976931348623157e308', '1e309', '-1e400', '123456789012345678901234567890', '0.1', '0.30000000000000004', '9007199254740993', '1E22', '1e23', '0.000001', '1e-7', '4.35e+2', '999999999999999', '9999999999999999'];
      const number = (): string => {
        switch (Math.floor(r() * 7)) {
          case 0: return String(Math.floor(r() * 2000) - 1000);
          case 1: return (r() * 4 - 2).toFixed(Math.floor(r() * 10));
          case 2: return String((r() * 2 - 1) * 10 ** Math.floor(r() * 50 - 25));
          case 3: return `${r() < 0.5 ? '-' : ''}${r() < 0.3 ? '0' : digits(1 + Math.floor(r() * 20))}.${digits(1 + Math.floor(r() * 25), false)}`;
          case 4: return `${r() < 0.5 ? '-' : ''}${digits(1 + Math.floor(r() * 3))}${pick(['e', 'E'])}${pick(['', '+', '-'])}${Math.floor(r() * 400)}`;
          case 5: return `${digits(1 + Math.floor(r() * 17))}`;
          default: return pick(SPECIAL);
        }
      };
      const ws = (): string => pick(['', '', ' ', '\t', '  ', ' \t ']);
      const list = (n: number, item: () => string): string => `[${ws()}${Array.from({ length: n }, item).join(`${ws()},${ws()}`)}${ws()}]`;
      /** One record: a 2x3 input and a 1-D input, keys in either order, sometimes a form the scanner leaves to JSON.parse. */
      const record = (arrayLabel: boolean): string => {
        const img = `"img"${ws()}:${ws()}${list(2, () => list(3, number))}`;
        const tab = `"tab"${ws()}:${ws()}${list(4, number)}`;
        const inputs = `"inputs"${ws()}:${ws()}{${ws()}${r() < 0.5 ? `${img}${ws()},${ws()}${tab}` : `${tab}${ws()},${ws()}${img}`}${ws()}}`;
        const label = `"label"${ws()}:${ws()}${arrayLabel ? list(3, number) : number()}`;
        const members = r() < 0.5 ? [inputs, label] : [label, inputs];
        const odd = r();
        if (odd < 0.05) members.push(`"id"${ws()}:${ws()}"row"`); // another key
        else if (odd < 0.08) members.push(`"label"${ws()}:${ws()}${arrayLabel ? list(3, number) : number()}`); // a duplicate: the last wins
        else if (odd < 0.1) members[0] = members[0]!.replace('"inputs"', '"\\u0069nputs"'); // an escape in a key
        return `${ws()}{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}${ws()}${pick(['', '', '\r'])}`;
      };
      const same = (a: HoldoutData, b: HoldoutData): void => {
        assert.equal(a.count, b.count);
        for (const name of ['img', 'tab']) {
          const x = a.inputs[name]!.data;
          const y = b.inputs[name]!.data;
          assert.equal(x.length, y.length);
          for (let i = 0; i < x.length; i++) assert.ok(Object.is(x[i], y[i]), `${name}[${i}]: ${String(x[i])} vs ${String(y[i])}`);
          assert.deepEqual(a.inputs[name]!.dims, b.inputs[name]!.dims);
        }
        const la = Array.isArray(a.labels) ? a.labels.flat() : [...a.labels];
        const lb = Array.isArray(b.labels) ? b.labels.flat() : [...b.labels];
        assert.equal(la.length, lb.length);
        for (let i = 0; i < la.length; i++) assert.ok(Object.is(la[i], lb[i]), `label[${i}]: ${la[i]} vs ${lb[i]}`);
      };

      for (const arrayLabel of [false, true]) {
        it(`gives the very same doubles as the JSON.parse path (${arrayLabel ? 'array' : 'scalar'} labels, odd numbers, whitespace, key orders)`, () => {
          const text = `\ufeff${Array.from({ length: 3000 }, () => record(arrayLabel)).join('\n')}\n\n`;
          // A string takes the general (JSON.parse) path on every line; bytes, the scanner.
          const general = parseJsonlHoldout(text, 'f.jsonl');
          const scanned = parseJsonlHoldout(Buffer.from(text), 'f.jsonl');
          assert.equal(scanned.count, 3000);
          same(scanned, general);
          // Every number the general path read is what JSON.parse gives for the line.
          const first = JSON.parse(text.slice(1, text.indexOf('\n'))) as { inputs: { tab: number[] } };
          assert.ok(Object.is(general.inputs.tab!.data[0], first.inputs.tab[0]));
        });
      }

      it('a bad record after the first gets the same error from bytes as from text', () => {
        const ok = '{"inputs": {"x": [1, 2, 3]}, "label": 0}';
        for (const bad of ['{"inputs": {"x": [1, 2, 3]}, "label": ', '{"inputs": {"x": [1, 2]}, "label": 0}', '{"inputs": {"x": [1, 2, 3e]}, "label": 0}', '{"inputs": {"x": [1, 2, 03]}, "label": 0}',
          '{"inputs": {"x": [1, 2, 3], "x": [1, 2]}, "label": 0}', '{"inputs": {"x": [1, 2, 3]}, "label": [0]}', '{"inputs": {"x": [1, 2, 3]}, "label": 0} x', '{"inputs": {"x": [1, -, 3]}, "label": 0}', '{"inputs": {"x": [1, 2, 3]}}']) {
          const text = `${ok}\n${ok}\n${bad}\n`;
          const message = (input: string | Uint8Array): string => {
            try {
              parseJsonlHoldout(input, 'f.jsonl');
            } catch (err) {
              assert.ok(err instanceof DatasetError);
              assert.equal(err.line, 3);
              return err.message;
            }
            return 'no error';
          };
          assert.equal(message(Buffer.from(text)), message(text), bad);
        }
      });
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
