// The shipped RBAC is enough: the operator, authenticated as its ServiceAccount with only
// deploy/rbac.yaml's grants (leader election on), takes checkpoints through deploy, supersede
// and deletion, and reads (watches) analysis templates of both scopes. Every grant it lacks would show up here as a Forbidden and a stuck phase;
// the unit test in test/unit/manifests.test.ts pins that nothing more is granted.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../harness/binaries.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { phaseIs, startOperatorProcess, waitForCheckpoint, type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

describe('controller: as its ServiceAccount with only the shipped RBAC', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let op: OperatorProcess;
  let dir: string;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-rbac-');
    const files = ['namespace.yaml', 'serviceaccount.yaml', 'rbac.yaml'].flatMap((f) => ['-f', path.join(repoRoot, 'deploy', f)]);
    const applied = await cp.kubectl(['apply', ...files]);
    assert.equal(applied.code, 0, applied.stderr);
    const token = await cp.kubectl(['create', 'token', 'modelgate-operator', '-n', 'modelgate-system', '--duration=1h']);
    assert.equal(token.code, 0, token.stderr);
    const kc = cp.kubeConfig();
    const cluster = kc.getCurrentCluster()!;
    const kubeconfig = path.join(dir, 'sa.kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
      users: [{ name: 'sa', user: { token: token.stdout.trim() } }],
      contexts: [{ name: 'sa', context: { cluster: 'local', user: 'sa' } }],
    }), { mode: 0o600 });
    const who = await cp.kubectl(['--kubeconfig', kubeconfig, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    assert.equal(who.stdout, 'system:serviceaccount:modelgate-system:modelgate-operator', who.stderr);
    op = startOperatorProcess(cp, { kubeconfig, fileRoots: [dir], prometheusUrl: 'http://127.0.0.1:9', leaderElect: true, leaseNamespace: 'modelgate-system', identity: 'rbac-test' });
  });
  after(async () => {
    await op?.stop();
  });

  it('deploys, supersedes, reports, records Events and lets a deleted checkpoint go', async () => {
    const ns = await freshNamespace(cp, 'rbac');
    await apply(cp, ns, inferenceDeployment('ranker'));
    for (const [i, name] of ['v1', 'v2'].entries()) {
      const art = await writeArtifact(dir, `${ns}-${name}.onnx`, classifierModel({ features: 4, classes: 3, seed: 20 + i }));
      await apply(cp, ns, checkpoint(name, art));
      await waitForCheckpoint(cp, ns, name, phaseIs('Healthy'), 120_000);
    }
    const v2 = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy'));
    assert.equal(v2.status?.deployment?.rollbackPoint?.checkpoint, 'v1');
    assert.ok(v2.status?.reportConfigMap, 'a report ConfigMap is named');
    const report = await cp.kubectl(['get', 'configmap', '-n', ns, v2.status!.reportConfigMap!, '-o', 'name']);
    assert.equal(report.code, 0, report.stderr);
    const events = await cp.kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'jsonpath={.items[*].reason}']);
    assert.match(events.stdout, /Deploying/);
    const lease = await cp.kubectl(['get', 'lease', '-n', 'modelgate-system', '-o', 'jsonpath={.items[*].spec.holderIdentity}']);
    assert.match(lease.stdout, /rbac-test/);
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Superseded'));
    const del = await cp.kubectl(['delete', 'modelcheckpoint', 'v2', '-n', ns, '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
    await waitFor('v2 to be gone (finalizer removed by the operator)', async () => {
      const r = await cp.kubectl(['get', 'modelcheckpoint', 'v2', '-n', ns]);
      return r.code !== 0 && /NotFound/.test(r.stderr) ? true : undefined;
    }, 60_000, 500);

    // Analysis templates of both scopes, read through the informers the ServiceAccount may list and watch.
    const clusterName = `${ns}-errors`.slice(0, 63);
    const metric = { direction: 'HigherIsBetter', query: 'vector(1)', min: 0 };
    await apply(cp, ns, inferenceDeployment('scorer'), { apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelAnalysisTemplate', metadata: { name: 'latency' }, spec: { metrics: [{ name: 'latency', ...metric }] } });
    const cluster = await cp.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'modelgate.io/v1alpha1', kind: 'ClusterModelAnalysisTemplate', metadata: { name: clusterName }, spec: { metrics: [{ name: 'errors', ...metric }] } }));
    assert.equal(cluster.code, 0, cluster.stderr);
    try {
      const art = await writeArtifact(dir, `${ns}-s1.onnx`, classifierModel({ features: 4, classes: 3, seed: 30 }));
      // No Prometheus answers at the operator's URL: the analysis holds in Monitoring, which is all this needs.
      await apply(cp, ns, checkpoint('s1', art, { deployment: 'scorer', analysis: { prometheusUrl: 'http://127.0.0.1:9', durationSeconds: 0, templates: [{ name: 'latency' }, { name: clusterName, clusterScope: true }] } }));
      const s1 = await waitForCheckpoint(cp, ns, 's1', (c) => c.status?.analysis?.resolved !== undefined, 120_000);
      assert.equal(s1.status?.phase, 'Monitoring');
      assert.deepEqual(s1.status?.analysis?.resolved?.templates.map((t) => t.kind), ['ModelAnalysisTemplate', 'ClusterModelAnalysisTemplate']);
    } finally {
      await cp.kubectl(['delete', 'clustermodelanalysistemplate', clusterName, '--ignore-not-found']);
    }
    assert.doesNotMatch(await import('node:fs').then((fs) => fs.readFileSync(op.logPath, 'utf8')), /forbidden/i, 'the operator met no Forbidden');
  });
});
