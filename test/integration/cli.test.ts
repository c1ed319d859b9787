// The `modelgate` CLI as a REAL child process (Node 24 + tsx, exactly as `npm run cli` runs it):
// publish hashes real ONNX files; publish --apply, status, history and rollback talk to the REAL
// kube-apiserver of the harness (status written through the status subresource with kubectl,
// standing in for the operator); validate runs the REAL pipeline (onnxruntime workers).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import type { ModelCheckpoint, ModelCheckpointStatus } from '../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../harness/controlplane.js';
import {
  classificationData,
  classifierModel,
  holdoutJsonl,
  randomWeights,
  renameInput,
  tempDir,
  weightsOnlyUpdate,
  writeArtifact,
  type WrittenFile,
} from '../harness/models.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How long one CLI command may run before the test kills it and says which. */
const CLI_TIMEOUT_S = 45;

/** Runs `modelgate <args>` as a child process; KUBECONFIG is cleared unless `env` sets it. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig', HOME: '/nonexistent', ...env };
    delete childEnv.MODELGATE_DEBUG;
    // Well under the suite's 120 s: a command that hangs fails its own assertion, named with its
    // arguments and what it printed, instead of timing the whole test out with no clue (a CI run
    // once timed out here, on a test that takes 8-11 s).
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: childEnv, maxBuffer: 16 << 20, timeout: CLI_TIMEOUT_S * 1000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      const killed = err && (err as { killed?: boolean }).killed ? `\n[killed after ${CLI_TIMEOUT_S} s: modelgate ${args.join(' ')}]` : '';
      resolve({ code, stdout, stderr: stderr + killed });
    });
  });
}

/** The error line: exactly one line on stderr starting "modelgate:", no stack frame. */
function assertOneSentence(r: Run): string {
  const lines = r.stderr.trim().split('\n');
  const last = lines[lines.length - 1]!;
  assert.match(last, /^modelgate: .+\.$/, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, `stack trace on stderr:\n${r.stderr}`);
  return last;
}

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('modelgate CLI (real child process)', function () {
  this.timeout(120_000);
  let dir: string;
  let baseline: WrittenFile;
  let renamed: WrittenFile;
  let update: WrittenFile;
  let holdout: WrittenFile;

  before(async () => {
    dir = await tempDir('modelgate-cli-');
    const truth = randomWeights(8, 3, 1);
    const baseBytes = classifierModel({ features: 8, classes: 3, weights: truth.weights, bias: truth.bias });
    baseline = await writeArtifact(dir, 'baseline.onnx', baseBytes);
    renamed = await writeArtifact(dir, 'renamed.onnx', renameInput(baseBytes, 'x', 'features'));
    const u = weightsOnlyUpdate(truth, 0.01, 5);
    update = await writeArtifact(dir, 'update.onnx', classifierModel({ features: 8, classes: 3, weights: u.weights, bias: u.bias }));
    holdout = await writeArtifact(dir, 'holdout.jsonl', holdoutJsonl(classificationData(truth, 200)));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('without a cluster', () => {
    it('--help lists every command and exits 0', async () => {
      const r = await cli(['--help']);
      assert.equal(r.code, 0, r.stderr);
      for (const c of ['publish', 'status', 'history', 'rollback', 'validate']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
    });

    it('publish prints a manifest whose digest and size are the file\'s own', async () => {
      const r = await cli(['publish', update.path, '--model', 'ctr', '--version', '2.0.0', '--deployment', 'ranker', '--container', 'server', '--metric', 'accuracy=0.93', '--metric', 'roas=3.5', '--step', '1200']);
      assert.equal(r.code, 0, r.stderr);
      const m = parse(r.stdout) as ModelCheckpoint;
      const bytes = await readFile(update.path);
      assert.equal(m.apiVersion, 'modelgate.io/v1alpha1');
      assert.equal(m.kind, 'ModelCheckpoint');
      assert.equal(m.metadata.name, 'ctr-2.0.0');
      assert.equal(m.spec.artifact.digest, sha256(bytes));
      assert.equal(m.spec.artifact.sizeBytes, bytes.byteLength);
      assert.equal(m.spec.artifact.uri, pathToFileURL(update.path).href);
      assert.deepEqual(m.spec.target, { deployment: 'ranker', container: 'server' });
      assert.deepEqual(m.spec.training, { step: 1200, metrics: { accuracy: 0.93, roas: 3.5 } });
      assert.equal(m.metadata.namespace, undefined, 'no namespace unless asked for (GitOps)');
      // Progress went to stderr, never into the manifest.
      assert.match(r.stderr, /hashing update\.onnx/);
    });

    it('publish -o json with --uri and a --template keeps the template\'s validation spec', async () => {
      const template = path.join(dir, 'template.yaml');
      await writeFile(template, [
        'apiVersion: modelgate.io/v1alpha1',
        'kind: ModelCheckpoint',
        'metadata: {name: ignored, labels: {team: ads}}',
        'spec:',
        '  model: ctr',
        '  version: "0"',
        '  artifact: {uri: "file:///old", digest: "sha256:' + '0'.repeat(64) + '"}',
        '  target: {deployment: ranker, container: server}',
        '  validation: {architecture: {policy: Compatible}}',
      ].join('\n'));
      const r = await cli(['publish', baseline.path, '--template', template, '--version', '3.1', '--name', 'ctr-v3', '--uri', 'https://models.example.com/ctr/3.1.onnx', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const m = JSON.parse(r.stdout) as ModelCheckpoint;
      assert.equal(m.metadata.name, 'ctr-v3');
      assert.deepEqual(m.metadata.labels, { team: 'ads' });
      assert.equal(m.spec.version, '3.1');
      assert.equal(m.spec.artifact.uri, 'https://models.example.com/ctr/3.1.onnx');
      assert.equal(m.spec.artifact.digest, baseline.digest);
      assert.deepEqual(m.spec.validation, { architecture: { policy: 'Compatible' } });
    });

    it('an unknown flag exits 2 with one sentence naming it', async () => {
      const r = await cli(['publish', update.path, '--modle', 'ctr']);
      assert.equal(r.code, 2);
      const line = assertOneSentence(r);
      assert.match(line, /--modle/);
      assert.equal(r.stdout, '');
    });

    it('a missing required flag, a bad metric and an unknown command exit 2 naming what is wrong', async () => {
      const missing = await cli(['publish', update.path, '--model', 'ctr', '--version', '1', '--deployment', 'ranker']);
      assert.equal(missing.code, 2);
      assert.match(assertOneSentence(missing), /--container/);
      const metric = await cli(['publish', update.path, '--model', 'ctr', '--version', '1', '--deployment', 'ranker', '--container', 'c', '--metric', 'roas=high']);
      assert.equal(metric.code, 2);
      assert.match(assertOneSentence(metric), /roas=high/);
      const unknown = await cli(['deploy']);
      assert.equal(unknown.code, 2);
      assert.match(assertOneSentence(unknown), /unknown command 'deploy'/);
    });

    it('an unreachable apiserver is one sentence naming the server, exit 1', async () => {
      const kubeconfig = path.join(dir, 'unreachable.kubeconfig');
      await writeFile(kubeconfig, [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u, namespace: team-a}}]',
        'current-context: x',
      ].join('\n'));
      const r = await cli(['status', 'ctr-1', '--kubeconfig', kubeconfig]);
      assert.equal(r.code, 1);
      const line = assertOneSentence(r);
      assert.match(line, /cannot reach the Kubernetes apiserver at https:\/\/127\.0\.0\.1:9/);
      assert.match(line, /namespace team-a/, 'the namespace comes from the kubeconfig context');
    });
  });

  describe('validate (real pipeline, real onnxruntime)', () => {
    it('a candidate with a renamed input is blocked (exit 1) and the input is named', async () => {
      const r = await cli(['validate', '--candidate', renamed.path, '--baseline', baseline.path, '--holdout', holdout.path]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /^architecture\s+Failed\s+IncompatibleSignature/m);
      assert.match(r.stdout, /^BLOCKED IncompatibleSignature/m);
      assert.match(r.stdout, /input 'x': missing in the candidate/);
      assert.match(r.stdout, /'features'/);
    });

    it('a weights-only update passes every gate (exit 0), in text and in json', async () => {
      const r = await cli(['validate', '--candidate', update.path, '--baseline', baseline.path, '--holdout', holdout.path, '--task', 'classification']);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      for (const gate of ['fetch', 'architecture', 'holdout', 'benchmark', 'regression']) assert.match(r.stdout, new RegExp(`^${gate}\\s+Passed`, 'm'));
      assert.match(r.stdout, /^holdout .*samples=200/m);
      assert.match(r.stdout, /^PASSED Validated severity (NONE|MINOR)/m);

      const j = await cli(['validate', '--candidate', update.path, '--baseline', baseline.path, '--holdout', holdout.path, '-o', 'json', '-q']);
      assert.equal(j.code, 0, j.stderr);
      const report = JSON.parse(j.stdout) as { passed: boolean; stages: Array<{ stage: string; verdict: string }> };
      assert.equal(report.passed, true);
      assert.deepEqual(report.stages.map((s) => s.stage), ['fetch', 'architecture', 'holdout', 'benchmark', 'regression']);
      assert.equal(j.stderr, '', '-q prints no progress');
    });

    it('a --checkpoint manifest supplies the digest, and a wrong one blocks with DigestMismatch', async () => {
      const manifest = path.join(dir, 'wrong-digest.yaml');
      await writeFile(manifest, [
        'apiVersion: modelgate.io/v1alpha1',
        'kind: ModelCheckpoint',
        'metadata: {name: ctr-bad}',
        'spec:',
        '  model: ctr',
        '  version: "2"',
        `  artifact: {uri: "${update.uri}", digest: "${baseline.digest}"}`,
        '  target: {deployment: ranker, container: server}',
      ].join('\n'));
      const r = await cli(['validate', '--checkpoint', manifest]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /DigestMismatch/);
    });

    it('input errors exit 2: a missing file, a remote URI without digest, a bad task', async () => {
      const missing = await cli(['validate', '--candidate', path.join(dir, 'nope.onnx')]);
      assert.equal(missing.code, 2);
      assert.match(assertOneSentence(missing), /nope\.onnx does not exist/);
      const remote = await cli(['validate', '--candidate', 'https://models.example.com/m.onnx']);
      assert.equal(remote.code, 2);
      assert.match(assertOneSentence(remote), /--candidate-digest/);
      const task = await cli(['validate', '--candidate', update.path, '--holdout', holdout.path, '--task', 'ranking']);
      assert.equal(task.code, 2);
      assert.match(assertOneSentence(task), /--task ranking/);
    });
  });

  describe('against a real kube-apiserver', function () {
    let cp: ControlPlane;
    let ns: string;
    let kc: string[];

    before(async function () {
      // The first run on a machine may build the control plane from source.
      this.timeout(30 * 60_000);
      cp = await sharedControlPlane();
      ns = await freshNamespace(cp, 'cli');
      kc = ['--kubeconfig', cp.kubeconfigPath, '-n', ns];
    });

    async function getCheckpoint(name: string): Promise<ModelCheckpoint> {
      const r = await cp.kubectl(['get', 'modelcheckpoints.modelgate.io', name, '-n', ns, '-o', 'json', '--show-managed-fields']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as ModelCheckpoint;
    }

    async function writeStatus(name: string, status: ModelCheckpointStatus): Promise<void> {
      const r = await cp.kubectl(['patch', 'modelcheckpoints.modelgate.io', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
      assert.equal(r.code, 0, r.stderr);
    }

    async function publish(name: string, file: WrittenFile, version: string, deployment = 'ranker'): Promise<Run> {
      const r = await cli(['publish', file.path, '--name', name, '--model', 'ctr', '--version', version, '--deployment', deployment, '--container', 'server', '--apply', ...kc]);
      assert.equal(r.code, 0, r.stderr);
      return r;
    }

    it('publish --apply creates the checkpoint with server-side apply as modelgate-cli (KUBECONFIG honoured)', async () => {
      const r = await cli(['publish', update.path, '--name', 'ctr-apply', '--model', 'ctr', '--version', '2.0', '--deployment', 'ranker', '--container', 'server', '--metric', 'auc=0.91', '--apply', '-n', ns], { KUBECONFIG: cp.kubeconfigPath });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`ctr-apply applied in namespace ${ns}`));
      const got = await getCheckpoint('ctr-apply');
      assert.equal(got.spec.artifact.digest, update.digest);
      assert.equal(got.spec.artifact.sizeBytes, update.sizeBytes);
      assert.deepEqual(got.spec.training?.metrics, { auc: 0.91 });
      const managers = (got.metadata as { managedFields?: Array<{ manager: string; operation: string }> }).managedFields ?? [];
      assert.ok(managers.some((m) => m.manager === 'modelgate-cli' && m.operation === 'Apply'), JSON.stringify(managers));
      // Applying the same file again is a no-op; a different file under the same name is refused (artifact immutable).
      const again = await cli(['publish', update.path, '--name', 'ctr-apply', '--model', 'ctr', '--version', '2.0', '--deployment', 'ranker', '--container', 'server', '--metric', 'auc=0.91', '--apply', ...kc]);
      assert.equal(again.code, 0, again.stderr);
      const changed = await cli(['publish', baseline.path, '--name', 'ctr-apply', '--model', 'ctr', '--version', '2.0', '--deployment', 'ranker', '--container', 'server', '--apply', ...kc]);
      assert.equal(changed.code, 1);
      assert.match(assertOneSentence(changed), /spec\.artifact is immutable/);
    });

    it('status shows phase, severity, conditions, gate numbers, deployment, rollback point and measurements; -o json is the status object', async () => {
      await publish('ctr-status', update, '2.1');
      const status: ModelCheckpointStatus = {
        phase: 'Monitoring',
        severity: 'MINOR',
        observedGeneration: 1,
        conditions: [
          { type: 'Ready', status: 'True', reason: 'Deployed', message: 'Deployment ranker runs ctr 2.1', lastTransitionTime: '2030-01-01T00:02:00Z' },
          { type: 'AnalysisHealthy', status: 'Unknown', reason: 'Measuring', message: 'roas within bounds (2 of 20)', lastTransitionTime: '2030-01-01T00:03:00Z' },
        ],
        stages: [
          { stage: 'fetch', verdict: 'Passed', reason: 'Fetched', message: 'ok', summary: { candidateBytes: 356 }, durationMs: 12 },
          { stage: 'regression', verdict: 'Passed', reason: 'NoRegression', message: 'ok', summary: { severity: 'MINOR', worstMetric: 'auc', relativeChange: -0.0123 }, severity: 'MINOR' },
        ],
        deployment: {
          deployedAt: '2030-01-01T00:02:00Z',
          deployment: 'ranker',
          revision: '3',
          rollbackPoint: { checkpoint: 'ctr-1', uid: 'u-1', version: '1.0', digest: baseline.digest, uri: baseline.uri },
        },
        rollout: {
          state: 'Available', reason: 'NewReplicaSetAvailable', message: '2/2 pods available on ReplicaSet ranker-7f9c (revision 3)',
          desired: 2, updated: 2, ready: 2, available: 2, revision: '3', replicaSet: 'ranker-7f9c',
          problems: [{ pod: 'ranker-7f9c-a', container: 'server', reason: 'Restarting', exitCode: 3, restarts: 1, message: 'fetch failed once' }],
        },
        analysis: {
          resolved: {
            resolvedAt: '2030-01-01T00:02:00Z',
            templates: [
              { kind: 'ModelAnalysisTemplate', name: 'roas', namespace: ns, resourceVersion: '812', args: [{ name: 'window', value: '5m' }], metrics: ['roas'] },
              { kind: 'ClusterModelAnalysisTemplate', name: 'errors', resourceVersion: '90', metrics: [] },
            ],
            metrics: [{ name: 'roas', direction: 'HigherIsBetter', query: 'roas{window="5m"}', min: 2, failureLimit: 0, inconclusiveLimit: 3, errorLimit: 3 }],
          },
          startedAt: '2030-01-01T00:02:00Z',
          lastMeasuredAt: '2030-01-01T00:04:00Z',
          counts: { roas: { successful: 2, failed: 0, inconclusive: 0, error: 0 } },
          measurements: [
            { metric: 'roas', phase: 'Successful', at: '2030-01-01T00:03:00Z', value: 3.25, baseline: 3.1 },
            { metric: 'roas', phase: 'Successful', at: '2030-01-01T00:04:00Z', value: 3.31, baseline: 3.1 },
          ],
        },
      };
      await writeStatus('ctr-status', status);
      const r = await cli(['status', 'ctr-status', ...kc]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Phase:\s+Monitoring$/m);
      assert.match(r.stdout, /^Severity:\s+MINOR$/m);
      assert.match(r.stdout, /^Ready\s+True\s+Deployed\s+\S+\s+Deployment ranker runs ctr 2\.1$/m);
      assert.match(r.stdout, /^AnalysisHealthy\s+Unknown\s+Measuring/m);
      const regression = /^regression\s+Passed\s+NoRegression\s+MINOR\s+-\s+(.*)$/m.exec(r.stdout);
      assert.ok(regression, r.stdout);
      assert.deepEqual(regression[1]!.split(' ').sort(), ['relativeChange=-0.0123', 'severity=MINOR', 'worstMetric=auc']);
      assert.match(r.stdout, /^fetch\s+Passed\s+Fetched\s+-\s+12ms\s+candidateBytes=356$/m);
      assert.match(r.stdout, /Rollback point:\s+ctr-1 \(1\.0, sha256:/);
      assert.match(r.stdout, /Revision:\s+3/);
      assert.match(r.stdout, /^\s+State:\s+Available \(NewReplicaSetAvailable\)$/m);
      assert.match(r.stdout, /^\s+Pods:\s+2\/2 available, 2 ready, 2 updated \(ReplicaSet ranker-7f9c, revision 3\)$/m);
      assert.match(r.stdout, /^\s+ranker-7f9c-a\/server: Restarting \(exit 3\), 1 restart\(s\): fetch failed once$/m);
      assert.match(r.stdout, /Templates:\s+roas@812 \(window=5m\); cluster\/errors@90$/m);
      // Newest measurement first.
      const i331 = r.stdout.indexOf('3.31');
      const i325 = r.stdout.indexOf('3.25');
      assert.ok(i331 > 0 && i325 > i331, r.stdout);

      const j = await cli(['status', 'ctr-status', '-o', 'json', ...kc]);
      assert.equal(j.code, 0, j.stderr);
      assert.deepEqual(JSON.parse(j.stdout), status);

      const list = await cli(['status', ...kc]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^ctr-status\s+ctr\s+2\.1\s+ranker\s+Monitoring\s+MINOR/m);

      const missing = await cli(['status', 'ctr-nope', ...kc]);
      assert.equal(missing.code, 1);
      assert.match(assertOneSentence(missing), new RegExp(`ModelCheckpoint ctr-nope was not found in namespace ${ns}`));
    });

    it('history <name> prints the checkpoint\'s entries newest first', async () => {
      await publish('ctr-hist', update, '2.2');
      await writeStatus('ctr-hist', {
        phase: 'Deployed',
        history: [
          { time: '2030-01-01T00:00:00Z', phase: 'Pending', reason: 'Pending', message: 'created' },
          { time: '2030-01-01T00:02:00Z', phase: 'Deployed', reason: 'Deployed', message: 'Deployment ranker now runs ctr 2.2' },
          { time: '2030-01-01T00:01:00Z', phase: 'Validated', reason: 'Validated', message: 'all gates passed' },
        ],
      });
      const r = await cli(['history', 'ctr-hist', ...kc]);
      assert.equal(r.code, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[1]);
      assert.deepEqual(rows, ['Deployed', 'Validated', 'Pending']);
      const j = await cli(['history', 'ctr-hist', '-o', 'json', ...kc]);
      assert.deepEqual((JSON.parse(j.stdout) as Array<{ message: string }>).map((e) => e.message), ['Deployment ranker now runs ctr 2.2', 'all gates passed', 'created']);
    });

    it('history --deployment prints the audit trail newest first and the checkpoints that targeted it', async () => {
      await publish('feed-1', baseline, '1.0', 'feed');
      await publish('feed-2', update, '2.0', 'feed');
      await publish('other-1', update, '2.0', 'other');
      await writeStatus('feed-1', { phase: 'Superseded' });
      await writeStatus('feed-2', { phase: 'RolledBack' });
      const cm = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'modelgate-audit-feed', namespace: ns },
        data: {
          '2030-01-01T00.00.00Z': JSON.stringify({ action: 'deploy', checkpoint: 'feed-1', version: '1.0' }),
          '2030-01-02T00.00.00Z': JSON.stringify({ time: '2030-01-02T00:00:00Z', action: 'rollback', from: 'feed-2', to: 'feed-1', reason: 'AnalysisFailed' }),
          '2030-01-01T12.00.00Z': JSON.stringify({ time: '2030-01-01T12:00:00Z', action: 'deploy', checkpoint: 'feed-2', version: '2.0' }),
          'legacy': 'not json at all',
        },
      };
      const created = await cp.kubectl(['apply', '-f', '-'], JSON.stringify(cm));
      assert.equal(created.code, 0, created.stderr);

      const r = await cli(['history', '--deployment', 'feed', ...kc]);
      assert.equal(r.code, 0, r.stderr);
      const rollback = r.stdout.indexOf('rollback');
      const deploy2 = r.stdout.indexOf('checkpoint=feed-2');
      assert.ok(rollback > 0 && deploy2 > rollback, `the rollback (newest) comes first:\n${r.stdout}`);
      assert.match(r.stdout, /from=feed-2 to=feed-1 reason=AnalysisFailed/);
      assert.match(r.stdout, /not json at all/);
      assert.match(r.stdout, /^feed-2\s+2\.0\s+RolledBack/m);
      assert.match(r.stdout, /^feed-1\s+1\.0\s+Superseded/m);
      assert.doesNotMatch(r.stdout, /other-1/);

      const j = await cli(['history', '--deployment', 'feed', '-o', 'json', ...kc]);
      const body = JSON.parse(j.stdout) as { audit: Array<{ entry: { action?: string } }>; checkpoints: Array<{ name: string; phase: string }> };
      assert.deepEqual(body.audit.slice(0, 3).map((a) => a.entry.action), ['rollback', 'deploy', 'deploy']);
      assert.deepEqual(body.checkpoints.map((c) => c.name).sort(), ['feed-1', 'feed-2']);

      const none = await cli(['history', '--deployment', 'nothing-here', ...kc]);
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /no ConfigMap modelgate-audit-nothing-here/);
    });

    it('rollback sets the annotation to "true" or to the older checkpoint, refusing an older one never deployed', async () => {
      await publish('rb-1', baseline, '1.0', 'rb');
      await publish('rb-2', update, '2.0', 'rb');
      await publish('rb-3', update, '3.0', 'rb');
      const r = await cli(['rollback', 'rb-2', ...kc]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Rollback of rb-2 to its rollback point requested/);
      assert.equal((await getCheckpoint('rb-2')).metadata.annotations?.['modelgate.io/rollback'], 'true');

      const never = await cli(['rollback', 'rb-3', '--to', 'rb-1', ...kc]);
      assert.equal(never.code, 1);
      assert.match(assertOneSentence(never), /--to rb-1 was never deployed/);
      assert.equal((await getCheckpoint('rb-3')).metadata.annotations?.['modelgate.io/rollback'], undefined);

      await writeStatus('rb-1', { phase: 'Superseded', deployment: { deployedAt: '2030-01-01T00:00:00Z', deployment: 'rb' } });
      const to = await cli(['rollback', 'rb-3', '--to', 'rb-1', ...kc]);
      assert.equal(to.code, 0, to.stderr);
      assert.equal((await getCheckpoint('rb-3')).metadata.annotations?.['modelgate.io/rollback'], 'rb-1');
    });

    it('rollback --wait returns 0 once the checkpoint is RolledBack and 1 when the operator says NoRollbackPoint', async () => {
      await publish('wait-1', update, '1.0', 'wait');
      await writeStatus('wait-1', { phase: 'Monitoring' });
      const child = spawnCli(['rollback', 'wait-1', '--wait', '--interval', '0.2', '--timeout', '60', ...kc]);
      // Stand in for the operator: see the request, then roll back.
      await until(async () => (await getCheckpoint('wait-1')).metadata.annotations?.['modelgate.io/rollback'] === 'true');
      await writeStatus('wait-1', {
        phase: 'RolledBack',
        conditions: [{ type: 'Ready', status: 'False', reason: 'RolledBack', message: 'rolled back', lastTransitionTime: new Date().toISOString() }],
        history: [{ time: new Date().toISOString(), phase: 'RolledBack', reason: 'RollbackRequested', message: 'Deployment wait is back on wait-0 (0.9)' }],
      });
      const done = await child;
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /wait-1 rolled back to its rollback point \(RolledBack\): Deployment wait is back on wait-0 \(0\.9\)/);

      await publish('wait-2', update, '2.0', 'wait');
      await writeStatus('wait-2', { phase: 'Monitoring' });
      const refused = spawnCli(['rollback', 'wait-2', '--wait', '--interval', '0.2', '--timeout', '60', '-o', 'json', ...kc]);
      await until(async () => (await getCheckpoint('wait-2')).metadata.annotations?.['modelgate.io/rollback'] === 'true');
      await writeStatus('wait-2', {
        conditions: [{ type: 'AnalysisHealthy', status: 'False', reason: 'NoRollbackPoint', message: 'roas fell; but there is no rollback point (first checkpoint of this target)', lastTransitionTime: new Date().toISOString() }],
      });
      const out = await refused;
      assert.equal(out.code, 1, out.stderr);
      const outcome = JSON.parse(out.stdout) as { result: string; reason: string; message: string };
      assert.equal(outcome.result, 'Refused');
      assert.equal(outcome.reason, 'NoRollbackPoint');
      assert.match(outcome.message, /no rollback point/);
    });

    it('rollback --wait gives up after --timeout with one sentence, exit 1', async () => {
      await publish('wait-3', update, '3.0', 'wait');
      const r = await cli(['rollback', 'wait-3', '--wait', '--interval', '0.2', '--timeout', '1', ...kc]);
      assert.equal(r.code, 1);
      assert.match(assertOneSentence(r), /wait-3 was not rolled back within 1 s/);
    });
  });
});

function spawnCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not reached in time');
}
