// The project's image, built here from the real Dockerfile (test/harness/image.ts), imported
// into the node's containerd and run as real Pods: the reference inference server serving a
// model (digest verified before Ready, metadata read back through kubectl port-forward), and
// the operator's entrypoint as a Job whose output comes back through kubectl logs.
import assert from 'node:assert/strict';
import { freshNamespace } from '../harness/controlplane.js';
import { ensureProjectImage, projectImage } from '../harness/image.js';
import { classifierModel, sha256Digest } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { portForward } from '../harness/pods.js';
import { waitFor } from '../harness/process.js';

describe('the project image on a real node', function () {
  this.timeout(900_000);
  let c: NodeCluster;

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
  });

  it('serves a model from the reference inference server: Ready only after the digest matched, metadata through port-forward', async () => {
    const ns = await freshNamespace(c.cp, 'image');
    const model = classifierModel({ features: 4, classes: 3, seed: 7 });
    const digest = sha256Digest(model);
    const objects = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'model' }, binaryData: { 'model.onnx': Buffer.from(model).toString('base64') } },
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ranker' },
        spec: {
          replicas: 1, selector: { matchLabels: { app: 'ranker' } },
          template: {
            metadata: { labels: { app: 'ranker' } },
            spec: {
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [{
                name: 'server', image: projectImage, imagePullPolicy: 'Never',
                command: ['node', 'dist/src/server/main.js'],
                env: [{ name: 'MODEL_URI', value: 'file:///models/model.onnx' }, { name: 'MODEL_DIGEST', value: digest },
                  { name: 'MODEL_VERSION', value: 'v7' }, { name: 'MODEL_NAME', value: 'ranker' }],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/v2/health/ready', port: 8080 }, periodSeconds: 1 },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [{ name: 'model', mountPath: '/models', readOnly: true }],
              }],
              volumes: [{ name: 'model', configMap: { name: 'model' } }],
            },
          },
        },
      },
    ];
    const applied = await c.cp.kubectl(['apply', '-n', ns, '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
    assert.equal(applied.code, 0, applied.stderr);
    const rollout = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(rollout.code, 0, `${rollout.stderr}\n${(await c.cp.kubectl(['-n', ns, 'describe', 'pods'])).stdout}`);
    const pf = await portForward(c, ns, 'deployment/ranker', 8080);
    try {
      const meta = await waitFor('model metadata', async () => {
        const r = await fetch(`http://127.0.0.1:${pf.port}/v2/models/ranker`);
        return r.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
      }, 30_000, 500);
      assert.equal(meta.name, 'ranker');
      assert.deepEqual(meta.versions, ['v7']);
      assert.deepEqual(meta.parameters, { digest });
    } finally {
      pf.stop();
    }
  });

  it('runs the operator entrypoint as a Job: Complete, its output through kubectl logs', async () => {
    const ns = await freshNamespace(c.cp, 'image');
    const job = {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'help' },
      spec: {
        backoffLimit: 0, ttlSecondsAfterFinished: 600,
        template: { spec: { restartPolicy: 'Never', automountServiceAccountToken: false, containers: [{ name: 'operator', image: projectImage, imagePullPolicy: 'Never', args: ['--help'] }] } },
      },
    };
    const applied = await c.cp.kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(job));
    assert.equal(applied.code, 0, applied.stderr);
    const done = await c.cp.kubectl(['-n', ns, 'wait', '--for=condition=Complete', 'job/help', '--timeout=120s']);
    assert.equal(done.code, 0, `${done.stderr}\n${(await c.cp.kubectl(['-n', ns, 'describe', 'pods'])).stdout}`);
    const logs = await c.cp.kubectl(['-n', ns, 'logs', 'job/help']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /--kubeconfig/);
  });
});
