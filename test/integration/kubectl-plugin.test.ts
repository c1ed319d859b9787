// The CLI as a kubectl plugin and its launcher: the REAL kubectl binary of the control-plane
// cache finds `kubectl-modelgate` on PATH and runs it against the REAL apiserver; `promote` and
// `abort` write the annotations the operator acts on; `history` shows "-" for a severity that
// was never judged; the launcher on the machine's old Node says which Node it needs.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelCheckpoint, ModelCheckpointStatus } from '../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../harness/controlplane.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const binDir = path.join(root, 'bin');
const nodeBinDir = path.join(root, 'node_modules', '.bin');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: root, env, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The first `node` on the machine's PATH (outside the project) older than 22.19, e.g. Debian's Node 20. */
function oldNode(): { path: string; version: string } | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d && !d.startsWith(root));
  for (const d of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const p = path.join(d, 'node');
    if (!existsSync(p)) continue;
    const version = execFileSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    const [major, minor] = version.split('.').map(Number) as [number, number];
    if (major < 22 || (major === 22 && minor < 19)) return { path: realpathSync(p), version };
  }
  return undefined;
}

describe('kubectl modelgate (plugin) and the launcher', function () {
  this.timeout(120_000);

  it('on the machine\'s old Node the launcher says in one sentence which Node it needs, no stack trace', async function () {
    const old = oldNode();
    // The machines ship Node 20 (docs: ENVIRONMENT.md); the test is about exactly that Node.
    assert.ok(old, 'no Node older than 22.19 found on PATH or in /usr/bin: this machine is not the one the rough edge is about');
    const r = await run(old.path, [path.join(binDir, 'modelgate.js'), 'status'], { ...process.env, PATH: '/usr/bin:/bin' });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^modelgate: this is Node ${old.version.replace(/\./g, '\\.')} .*needs Node 22\\.19 or newer.*\\.$`));
    assert.doesNotMatch(r.stderr, /undici|\s+at .+:\d+:\d+/);
  });

  it('on the project\'s Node the same launcher runs the CLI', async () => {
    const r = await run(path.join(binDir, 'kubectl-modelgate'), ['--version'], { ...process.env, PATH: `${nodeBinDir}${path.delimiter}${process.env.PATH}` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'modelgate 0.1.0');
  });

  describe('against the real apiserver', () => {
    let cp: ControlPlane;
    let ns: string;
    let env: NodeJS.ProcessEnv;

    before(async function () {
      this.timeout(30 * 60_000);
      cp = await sharedControlPlane();
      ns = await freshNamespace(cp, 'plugin');
      // kubectl's plugin lookup: an executable named kubectl-<name> on PATH. The project's Node 24 first.
      env = { ...process.env, PATH: [binDir, nodeBinDir, process.env.PATH].join(path.delimiter), KUBECONFIG: cp.kubeconfigPath, HOME: '/nonexistent' };
      delete env.MODELGATE_DEBUG;
    });

    const kubectl = (args: string[]): Promise<Run> => run(cp.binaries.kubectl, args, env);

    async function create(name: string, deployment: string, rollout?: Record<string, unknown>): Promise<void> {
      const manifest = {
        apiVersion: 'modelgate.io/v1alpha1',
        kind: 'ModelCheckpoint',
        metadata: { name, namespace: ns },
        spec: {
          model: 'ranker',
          version: name,
          artifact: { uri: 'https://models.example.com/ranker.onnx', digest: `sha256:${'a'.repeat(64)}` },
          target: { deployment, container: 'server' },
          ...(rollout ? { rollout } : {}),
        },
      };
      const r = await cp.kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
      assert.equal(r.code, 0, r.stderr);
    }

    async function writeStatus(name: string, status: ModelCheckpointStatus): Promise<void> {
      const r = await cp.kubectl(['patch', 'modelcheckpoints.modelgate.io', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
      assert.equal(r.code, 0, r.stderr);
    }

    async function get(name: string): Promise<ModelCheckpoint> {
      const r = await cp.kubectl(['get', 'modelcheckpoints.modelgate.io', name, '-n', ns, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as ModelCheckpoint;
    }

    it('kubectl lists the plugin and `kubectl modelgate status` runs it against the cluster', async () => {
      await create('plug-1', 'plug');
      await writeStatus('plug-1', { phase: 'Healthy' });
      const list = await kubectl(['plugin', 'list']);
      assert.match(list.stdout, /kubectl-modelgate/, `${list.stdout}${list.stderr}`);
      const r = await kubectl(['modelgate', 'status', '-n', ns]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^NAME\s+MODEL\s+VERSION\s+DEPLOYMENT\s+PHASE/m);
      assert.match(r.stdout, /^plug-1\s+ranker\s+plug-1\s+plug\s+Healthy/m);
      const one = await kubectl(['modelgate', 'status', 'plug-1', '-n', ns, '-o', 'json']);
      assert.equal(one.code, 0, one.stderr);
      assert.equal((JSON.parse(one.stdout) as { phase?: string; status?: { phase?: string } }).status?.phase ?? (JSON.parse(one.stdout) as { phase?: string }).phase, 'Healthy');
      const missing = await kubectl(['modelgate', 'status', 'nope', '-n', ns]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr.trim(), /^modelgate: ModelCheckpoint nope was not found in namespace .+\.$/);
    });

    it('history shows "-" for a checkpoint rejected by the architecture gate and the severity where regression was judged', async () => {
      await create('sev-1', 'sev');
      await create('sev-2', 'sev');
      await writeStatus('sev-1', { phase: 'Healthy', severity: 'MINOR', stages: [{ stage: 'architecture', verdict: 'Passed', reason: 'Compatible', message: 'ok' }, { stage: 'regression', verdict: 'Passed', reason: 'NoRegression', message: 'ok', severity: 'MINOR' }] });
      await writeStatus('sev-2', { phase: 'Rejected', severity: 'NONE', stages: [{ stage: 'architecture', verdict: 'Failed', reason: 'IncompatibleSignature', message: 'input x renamed' }] });
      const r = await kubectl(['modelgate', 'history', '--deployment', 'sev', '-n', ns]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sev-2\s+sev-2\s+Rejected\s+-\s/m);
      assert.match(r.stdout, /^sev-1\s+sev-1\s+Healthy\s+MINOR\s/m);
      assert.doesNotMatch(r.stdout, /NONE/);
      const s = await kubectl(['modelgate', 'status', 'sev-2', '-n', ns]);
      assert.match(s.stdout, /^Severity:\s+- \(no regression judged\)$/m);
    });

    it('promote approves the current generation of a checkpoint held by autoDeploy: false, and refuses one that is not held', async () => {
      await create('pro-1', 'pro', { autoDeploy: false });
      await writeStatus('pro-1', { phase: 'Validated' });
      const r = await kubectl(['modelgate', 'promote', 'pro-1', '-n', ns]);
      assert.equal(r.code, 0, r.stderr);
      const got = await get('pro-1');
      assert.equal(got.metadata.annotations?.['modelgate.io/promote'], String(got.metadata.generation));
      assert.match(r.stdout, new RegExp(`Promoted pro-1 generation ${got.metadata.generation}`));

      await create('pro-2', 'pro');
      const refused = await kubectl(['modelgate', 'promote', 'pro-2', '-n', ns]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr.trim(), /^modelgate: pro-2 does not wait for approval \(spec\.rollout\.autoDeploy is not false\).*\.$/);
      assert.equal((await get('pro-2')).metadata.annotations?.['modelgate.io/promote'], undefined);
    });

    it('abort asks for a rollback of a checkpoint under analysis, and refuses a Healthy one', async () => {
      await create('ab-1', 'ab');
      await writeStatus('ab-1', { phase: 'Monitoring' });
      const r = await kubectl(['modelgate', 'abort', 'ab-1', '-n', ns, '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { result: string }).result, 'AbortRequested');
      assert.equal((await get('ab-1')).metadata.annotations?.['modelgate.io/rollback'], 'true');

      await create('ab-2', 'ab');
      await writeStatus('ab-2', { phase: 'Healthy' });
      const refused = await kubectl(['modelgate', 'abort', 'ab-2', '-n', ns]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr.trim(), /^modelgate: ab-2 is Healthy, not in a running rollout or analysis .*\.$/);
      assert.equal((await get('ab-2')).metadata.annotations?.['modelgate.io/rollback'], undefined);
    });
  });
});
