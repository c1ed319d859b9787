// 200 checkpoints applied at once all settle. The operator runs as its own process so its peak
// memory can be read; the figures are printed for the record, never asserted as timings.
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { startOperatorProcess, type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';

const N = Number(process.env.MODELGATE_SCALE_N ?? 200);

describe(`controller: ${N} checkpoints at once`, function () {
  this.timeout(600_000);
  let cp: ControlPlane;
  let op: OperatorProcess | undefined;

  before(async () => {
    cp = await sharedControlPlane();
  });
  after(async () => {
    await op?.stop();
  });

  it(`all ${N} settle Healthy, each on its own Deployment, each deployed once`, async () => {
    const ns = await freshNamespace(cp, 'scale');
    const dir = await tempDir('modelgate-scale-');
    const deployments = Array.from({ length: N }, (_, i) => inferenceDeployment(`svc-${i}`));
    for (let i = 0; i < N; i += 50) await apply(cp, ns, ...deployments.slice(i, i + 50));
    const checkpoints = [];
    for (let i = 0; i < N; i++) {
      const art = await writeArtifact(dir, `m-${i}.onnx`, classifierModel({ features: 4, classes: 3, seed: 1000 + i }));
      checkpoints.push(checkpoint(`c-${i}`, art, { deployment: `svc-${i}` }));
    }
    op = startOperatorProcess(cp, { fileRoots: [dir], workers: 8 });
    const started = Date.now();
    for (let i = 0; i < N; i += 50) await apply(cp, ns, ...checkpoints.slice(i, i + 50));
    let phases: Record<string, number> = {};
    await waitFor(`${N} Healthy`, async () => {
      const items = (await getJson<{ items: ModelCheckpoint[] }>(cp, ns, 'modelcheckpoints')).items;
      phases = {};
      for (const c of items) phases[c.status?.phase ?? 'none'] = (phases[c.status?.phase ?? 'none'] ?? 0) + 1;
      return phases.Healthy === N ? true : undefined;
    }, 480_000, 1000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; phases ${JSON.stringify(phases)}`);
    });
    const seconds = (Date.now() - started) / 1000;
    const peak = op.peakRss();
    process.stderr.write(`      ${N} checkpoints settled in ${seconds.toFixed(1)} s; operator peak RSS ${(peak / 1024 / 1024).toFixed(0)} MiB\n`);
    const rs = await getJson<{ items: Array<{ metadata: { annotations?: Record<string, string> } }> }>(cp, ns, 'replicasets');
    const second = rs.items.filter((r) => r.metadata.annotations?.['deployment.kubernetes.io/revision'] === '2').length;
    assert.equal(second, N, 'every Deployment got exactly one new revision');
    assert.equal(rs.items.filter((r) => Number(r.metadata.annotations?.['deployment.kubernetes.io/revision']) > 2).length, 0, 'no Deployment was patched twice');
    assert.ok(peak > 0, 'peak RSS was read');
  });
});
