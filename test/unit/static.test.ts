// The whole tree typechecks and lints clean, and the lint rule that keeps the pure modules free
// of I/O really bites (its every case: test/unit/lint-layers.test.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

  it('every reason is a constant of src/api/reasons.ts: no bare reason literal in src/', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith(path.join('api', 'reasons.ts'))) files.push(p);
      }
    };
    walk(path.join(repoRoot, 'src'));
    // A reason written as a string where a StageError, JobError or a reason field is made.
    const bare = /(?:StageError|JobError)\(\s*'[A-Z][A-Za-z]+'|\breason:\s*'[A-Z][A-Za-z]+'|\?\s*'[A-Z][A-Za-z]+Failed'\s*:/g;
    const found = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(bare)].map((m) => `${path.relative(repoRoot, f)}: ${m[0]}`));
    assert.deepEqual(found, [], 'use the constant from src/api/reasons.ts');
    assert.ok(files.length > 50, 'the walk found the sources');
  });

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
