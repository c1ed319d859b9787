// `npm run demo` end to end: the demo script as its own process (its own cluster and node, the
// operator as pods, inference pods, Prometheus and load in the pod network), which must exit 0 with every step of its summary ok and
// leave none of its processes or temp dirs behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../harness/binaries.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runDemo(timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts', 'demo.ts')], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGTERM lets the demo stop what it started; SIGKILL if it does not within 30 s.
    const term = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The rows of the summary table: `<n>. <title>  ...  ok|NOT OK  <time>`. */
function summaryRows(stdout: string): Array<{ step: number; ok: boolean; line: string }> {
  const at = stdout.lastIndexOf('── Summary');
  if (at < 0) return [];
  return stdout
    .slice(at)
    .split('\n')
    .filter((l) => /^\d\. /.test(l))
    .map((line) => ({ step: Number(line[0]), ok: /\s{2}ok\s{2,}/.test(line) && !/NOT OK/.test(line), line }));
}

describe('e2e: npm run demo', function () {
  // A few minutes normally; generous for a slow machine (the binaries are already built here).
  this.timeout(15 * 60_000);

  it('runs every step of the story, exits 0 and cleans up after itself', async () => {
    const run = await runDemo(12 * 60_000);
    const tail = `\n--- stdout (tail) ---\n${run.stdout.slice(-6000)}\n--- stderr (tail) ---\n${run.stderr.slice(-3000)}`;
    assert.equal(run.signal, null, `the demo was killed by ${run.signal}${tail}`);

    const rows = summaryRows(run.stdout);
    assert.deepEqual(rows.map((r) => r.step), [1, 2, 3, 4, 5], `the summary lists steps 1..5${tail}`);
    for (const r of rows) assert.ok(r.ok, `step ${r.step} is not ok: ${r.line}${tail}`);
    assert.match(run.stdout, /every step did what it should/, tail);
    assert.equal(run.code, 0, `exit code${tail}`);

    // Real pods, as kubectl shows them: the operator's two (one the leader), and the inference pod.
    assert.match(run.stdout, /kubectl get pods -n modelgate-system -o wide/, tail);
    assert.equal((run.stdout.match(/│ modelgate-operator-\S+\s+1\/1\s+Running/g) ?? []).length, 2, `two operator pods Running${tail}`);
    assert.match(run.stdout, /the leader \(Lease modelgate-operator\) is modelgate-operator-/, tail);
    assert.match(run.stdout, /│ ranker-\S+\s+1\/1\s+Running/, tail);
    assert.match(run.stdout, /pod ranker-\S+ fetched v1 from the store and serves it/, tail);
    // The checkpoints come from an S3 bucket behind a Secret; the pods read v1 from there too.
    assert.match(run.stdout, /published to s3:\/\/models\/ranker\/ \(SeaweedFS, checking every SigV4 signature/, tail);
    assert.match(run.stdout, /MODEL_URI=s3:\/\/models\/ranker\/ranker-v1\.onnx/, tail);
    assert.match(run.stdout, /serves it \(from S3, with Secret model-store mounted\)/, tail);

    // What the story shows along the way.
    assert.match(run.stdout, /v1 gate architecture Passed \(NoBaseline\)/, tail);
    assert.match(run.stdout, /architecture gate: .*input 'x'/, tail);
    assert.match(run.stdout, /the Deployment's spec, annotations and env are unchanged/, tail);
    assert.match(run.stdout, /v3 gate regression\s+Failed SEVERE/, tail);
    assert.match(run.stdout, /95% one-sided bounds of the degradation \(paired bootstrap\): \[.*\]: decision Regression/, tail);
    assert.match(run.stdout, /v4 Monitoring → RolledBack/, tail);
    assert.match(run.stdout, /query\s+sum\(rate\(modelgate_outcome_conversions_total\{namespace="demo",model="ranker",version="v4"\}/, tail);
    assert.match(run.stdout, /modelgate rollback v5 --wait/, tail);
    // The rollback's notification, as the local webhook receiver got it.
    assert.match(run.stdout, /the webhook receiver got the operator's notification \(RolledBack, /, tail);
    assert.match(run.stdout, /"event": "RolledBack",/, tail);
    assert.match(run.stdout, /"metric": "conversion-rate",/, tail);
    assert.match(run.stdout, /Audit trail of deployment\/ranker/, tail);

    // Nothing left behind: the temp dir the demo named is gone.
    const dir = /generated 5 ONNX checkpoints and a \d+-sample holdout set in (\S+)\/artifacts/.exec(run.stdout)?.[1];
    assert.ok(dir, `the demo names its work dir${tail}`);
    assert.equal(existsSync(dir), false, `${dir} is removed at the end`);
  });
});
