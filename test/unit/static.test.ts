// The whole tree typechecks and lints clean, and the lint rule that keeps the pure modules free
// of I/O really bites (its every case: test/unit/lint-layers.test.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ESLint } from 'eslint';
import { repoRoot } from '../harness/binaries.js';

const run = (cmd: string, args: string[]): Promise<{ code: number; out: string }> =>
  new Promise((resolve) => {
    execFile(path.join(repoRoot, 'node_modules', '.bin', cmd), args, { cwd: repoRoot, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });

describe('static checks', function () {
  this.timeout(300_000);

  it('tsc --noEmit passes in strict mode', async () => {
    const r = await run('tsc', ['-p', 'tsconfig.json', '--noEmit']);
    assert.equal(r.code, 0, r.out);
  });

  it('eslint passes on the whole tree', async () => {
    const r = await run('eslint', ['.']);
    assert.equal(r.code, 0, r.out);
  });

  it('the layer rule refuses I/O in pure modules and client-node outside src/kube', async () => {
    const eslint = new ESLint({ cwd: repoRoot });
    const [pure] = await eslint.lintText("import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", { filePath: path.join(repoRoot, 'src/math/probe.ts') });
    assert.ok(pure?.messages.some((m) => m.ruleId === 'modelgate/layers'), JSON.stringify(pure?.messages));
    const [kube] = await eslint.lintText("import { KubeConfig } from '@kubernetes/client-node';\nexport const k = KubeConfig;\n", { filePath: path.join(repoRoot, 'src/controller/probe.ts') });
    assert.ok(kube?.messages.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(kube?.messages));
    const [ok] = await eslint.lintText("import { KubeConfig } from '@kubernetes/client-node';\nexport const k = KubeConfig;\n", { filePath: path.join(repoRoot, 'src/kube/probe.ts') });
    assert.equal(ok?.messages.filter((m) => m.ruleId === 'no-restricted-imports').length, 0);
  });
});
