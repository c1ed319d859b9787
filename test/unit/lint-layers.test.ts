// The layer rule (eslint-rules/layers.js) through the project's own eslint.config.js: in a pure
// module it reports a relative import of an I/O module, an I/O package or builtin, and the I/O,
// clock and randomness globals; it lets type-only imports and clean pure code through, and leaves
// modules outside its list alone.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ESLint, type Linter } from 'eslint';
import { isPure, PURE, ROOT } from '../../eslint-rules/layers.js';
import { repoRoot } from '../harness/binaries.js';

const RULE = 'modelgate/layers';

describe('lint: modelgate/layers', function () {
  this.timeout(60_000);
  let eslint: ESLint;
  before(() => {
    eslint = new ESLint({ cwd: repoRoot });
  });

  const lint = async (code: string, file = 'src/math/probe.ts'): Promise<Linter.LintMessage[]> => {
    const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, file) });
    assert.ok(result, 'eslint linted the text');
    return result.messages;
  };
  const layer = async (code: string, file?: string): Promise<string[]> => (await lint(code, file)).filter((m) => m.ruleId === RULE).map((m) => m.message);
  /** Exactly one report of the rule, matching `re`. */
  const one = async (code: string, re: RegExp, file?: string): Promise<void> => {
    const got = await layer(code, file);
    assert.equal(got.length, 1, `one ${RULE} report for:\n${code}\ngot: ${JSON.stringify(got)}`);
    assert.match(got[0] ?? '', re);
  };

  it('reports a relative import of an I/O module from a pure module (import, re-export, import())', async () => {
    await one("import { paths } from '../kube/client.js';\nexport const p = paths;\n",
      /^Pure module src\/math\/probe\.ts imports '\.\.\/kube\/client\.js' \(src\/kube\/client\.ts\), which is not pure: take what it computes as a parameter/);
    await one("export { paths } from '../kube/client.js';\n", /imports '\.\.\/kube\/client\.js' \(src\/kube\/client\.ts\)/);
    await one("export * from '../fetch/index.js';\n", /\(src\/fetch\/index\.ts\), which is not pure/);
    await one("export const f = async () => (await import('../fetch/fetcher.js')).ArtifactFetcher;\n", /\(src\/fetch\/fetcher\.ts\), which is not pure/);
    await one("export const f = (name: string) => import(`../${name}.js`);\n", /imports a module whose name is computed at run time/);
    // A single pure file in a folder of I/O modules: its neighbours are not pure.
    await one("import { Reconciler } from './reconciler.js';\nexport const r = Reconciler;\n", /Pure module src\/controller\/phases\.ts imports '\.\/reconciler\.js' \(src\/controller\/reconciler\.ts\)/, 'src/controller/phases.ts');
    // A value name beside type names makes it a value import.
    await one("import { paths, type KubeClient } from '../kube/client.js';\nexport const p: KubeClient | typeof paths = paths;\n", /\(src\/kube\/client\.ts\)/);
  });

  it('lets type-only imports of I/O modules through (erased at compile time)', async () => {
    assert.deepEqual(await layer([
      "import type { KubeClient } from '../kube/client.js';",
      "import { type Checkpoints } from '../kube/checkpoints.js';",
      "import type { LookupAddress } from 'node:dns';",
      "export type { Session } from '../onnx/session.js';",
      "export type K = KubeClient | Checkpoints | LookupAddress | import('../fetch/connection.js').GuardedConnection;",
    ].join('\n')), []);
  });

  it('reports an I/O package or builtin, with what to do instead', async () => {
    const cases: Array<[string, RegExp]> = [
      ["import { fetch } from 'undici';", /imports 'undici', which does I\/O .*: make the request in an I\/O module/],
      ["import { readFileSync } from 'node:fs';", /imports 'node:fs', .*: read or write the file in the caller/],
      ["import { readFile } from 'fs/promises';", /imports 'fs\/promises', .*: read or write the file in the caller/],
      ["import os from 'node:os';", /imports 'node:os', .*: read the environment in the caller/],
      ["import { inflateRawSync } from 'node:zlib';", /imports 'node:zlib', which does I\/O or is not vetted as pure/],
      ["import { connect } from 'node:tls';", /imports 'node:tls', .*make the request in an I\/O module/],
      ["import { setTimeout } from 'node:timers/promises';", /imports 'node:timers\/promises', .*: pass the clock in/],
      ["import onnxProto from 'onnx-proto';", /imports 'onnx-proto', which does I\/O or is not vetted as pure: .*add it to PURE_PACKAGES/],
      ["import { Registry } from 'prom-client';", /imports 'prom-client', .*let the caller count it/],
      ["import { KubeConfig } from '@kubernetes/client-node';", /imports '@kubernetes\/client-node', .*: move the I\/O behind src\/kube\//],
      ["import 'node:http';", /imports 'node:http'/],
    ];
    for (const [code, re] of cases) await one(`${code}\n`, re);
  });

  it('allows only the pure names of node:crypto, node:path and node:url', async () => {
    assert.deepEqual(await layer("import { createHash, timingSafeEqual } from 'node:crypto';\nimport { join, basename } from 'node:path';\nimport { fileURLToPath } from 'node:url';\nexport const f = [createHash, timingSafeEqual, join, basename, fileURLToPath];\n"), []);
    await one("import { randomBytes } from 'node:crypto';\nexport const r = randomBytes;\n", /imports randomBytes from 'node:crypto': only createHash, .* may be used .*pass random values in/);
    await one("import { resolve } from 'node:path';\nexport const r = resolve;\n", /imports resolve from 'node:path'.*reads the working directory/);
    await one("import { pathToFileURL } from 'node:url';\nexport const r = pathToFileURL;\n", /imports pathToFileURL from 'node:url'/);
    await one("import path from 'node:path';\nexport const j = path.join;\n", /imports all of 'node:path': import the names it uses/);
    await one("import * as crypto from 'crypto';\nexport const h = crypto.createHash;\n", /imports all of 'crypto'/);
  });

  it('reports the I/O, clock and randomness globals', async () => {
    const cases: Array<[string, RegExp]> = [
      ['export const t = Date.now();', /uses Date\.now\(\): pass the clock in/],
      ['export const t = new Date().toISOString();', /uses new Date\(\) \(the current time\): pass the clock in/],
      ['export const t = Date();', /uses Date\(\) \(the current time\)/],
      ["export const r = fetch('https://example.com');", /uses fetch: make the request in an I\/O module/],
      ["export const r = globalThis.fetch('https://example.com');", /uses globalThis\.fetch/],
      ['export const home = process.env.HOME;', /uses process: read argv and the environment in the entry point/],
      ['setTimeout(() => undefined, 10);', /uses setTimeout: pass the clock in/],
      ['setInterval(() => undefined, 10);', /uses setInterval/],
      ['setImmediate(() => undefined);', /uses setImmediate/],
      ['export const t = performance.now();', /uses performance: pass the clock in/],
      ['export const r = Math.random();', /uses Math\.random\(\): pass the random source in/],
      ["console.log('hi');", /uses console: return what happened and let the caller log it/],
    ];
    for (const [code, re] of cases) await one(`${code}\n`, re);
  });

  it('does not take locals, parameters, types or a Date of a given time for globals', async () => {
    assert.deepEqual(await layer([
      'export function f(fetch: () => number, process: string, now: number): string {',
      '  const d: Date = new Date(now);',
      "  return process + fetch() + d.toISOString() + Date.parse('2026-01-01') + Math.max(1, 2);",
      '}',
      'export type Timer = ReturnType<typeof setTimeout>;',
      'const console = { log: (s: string) => s };',
      "export const c = console.log('x');",
    ].join('\n')), []);
  });

  it('passes a clean pure module (no report of any rule)', async () => {
    const messages = await lint([
      "import { createHash } from 'node:crypto';",
      "import { SEVERITIES, type Direction } from '../api/types.js';",
      "import { percentile } from './stats.js';",
      'export function summary(xs: number[], direction: Direction, now: number): string[] {',
      "  const digest = createHash('sha256').update(xs.join(',')).digest('hex');",
      '  return [String(percentile(xs, 0.5)), direction, String(SEVERITIES.length), new Date(now).toISOString(), digest];',
      '}',
    ].join('\n'));
    assert.deepEqual(messages, []);
  });

  it('holds only the modules in PURE to it, by folder and by file', async () => {
    const io = "import { readFileSync } from 'node:fs';\nimport { paths } from '../fetch/connection.js';\nexport const t = Date.now() + readFileSync.length + String(paths).length;\n";
    assert.deepEqual(await layer(io, 'src/fetch/probe.ts'), [], 'src/fetch/ is an I/O folder');
    assert.equal((await layer(io, 'src/fetch/policy.ts')).length, 3, 'src/fetch/policy.ts is pure: node:fs, ../fetch/connection.js and Date.now()');
    assert.equal((await layer(io, 'src/api/new-file.ts')).length, 3, 'src/api/ is pure as a folder, new files included');
  });

  it('lists only modules that exist, folders as folders', () => {
    assert.equal(path.resolve(ROOT), path.resolve(repoRoot));
    assert.ok(PURE.length > 0);
    for (const entry of PURE) {
      const at = path.join(ROOT, entry);
      assert.ok(existsSync(at), `${entry} (eslint-rules/layers.js PURE) exists`);
      assert.equal(statSync(at).isDirectory(), entry.endsWith('/'), `${entry}: a folder ends in '/', a file does not`);
      assert.ok(entry.startsWith('src/'), `${entry} is under src/`);
    }
    assert.equal(new Set(PURE).size, PURE.length, 'no entry twice');
    assert.ok(isPure('src/api/types.ts') && isPure('src/controller/phases.ts'));
    assert.ok(!isPure('src/controller/reconciler.ts') && !isPure('src/apiary/x.ts') && !isPure(undefined));
  });

  it('docs/architecture.md names every pure module in its folder\'s row', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'architecture.md'), 'utf8');
    for (const entry of PURE) {
      const folder = entry.endsWith('/') ? entry : `${path.posix.dirname(entry)}/`;
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${folder}\` |`));
      assert.ok(row, `docs/architecture.md has a row for ${folder}`);
      if (entry.endsWith('/')) assert.match(row, /\| pure, the whole folder \|/, `${folder} is pure as a whole`);
      else assert.ok(row.includes(`\`${path.posix.basename(entry)}\``), `the row of ${folder} names ${path.posix.basename(entry)}`);
    }
  });
});
