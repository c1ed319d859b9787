// Bad checkpoints end in a terminal status with their own reason, with the Deployment untouched,
// while a good checkpoint in the same namespace validates and deploys meanwhile.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import type { CheckpointValidator, FetchedArtifact, ValidationRequest } from '../../../src/validation/contract.js';
import { OnnxValidator } from '../../../src/validation/pipeline.js';
import { WorkerPool } from '../../../src/validation/worker-pool.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, externalDataModel, sha256Digest, tempDir, writeArtifact, type WrittenFile } from '../../harness/models.js';
import { startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

/**
 * FAKE FAULT INJECTION: no real ONNX file crashes onnxruntime on demand, so for one digest this
 * validator runs the worker pool's test-only 'crash' job (the worker process really exits).
 */
class CrashingValidator implements CheckpointValidator {
  constructor(private readonly inner: OnnxValidator, private readonly faulty: WorkerPool, private readonly crashDigest: string) {}
  fetch(a: Parameters<CheckpointValidator['fetch']>[0], s: AbortSignal): Promise<FetchedArtifact> {
    return this.inner.fetch(a, s);
  }
  async validate(r: ValidationRequest, f: FetchedArtifact, s: AbortSignal) {
    if (r.candidate.digest === this.crashDigest) await this.faulty.run({ type: 'crash' }, { stage: 'holdout' });
    return this.inner.validate(r, f, s);
  }
  cleanup(key: string): Promise<void> {
    return this.inner.cleanup(key);
  }
}

const endReason = (c: ModelCheckpoint): string | undefined => c.status?.conditions?.find((x) => x.type === 'Ready')?.reason;

describe('controller: bad checkpoints fail alone', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let inner: OnnxValidator;
  let faulty: WorkerPool;
  let server: http.Server;
  let base: string;
  let dir: string;
  let crashDigest: string;
  let crasherFile: WrittenFile;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-bad-');
    server = http.createServer((_req, res) => {
      res.statusCode = 404;
      res.end('not here');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    inner = new OnnxValidator({ cacheDir: path.join(dir, 'cache'), fileRoots: [dir], trustedHosts: ['127.0.0.1'], workers: 2, fetchRetries: 1, fetchBackoffMs: 50 });
    await inner.start();
    faulty = new WorkerPool({ size: 1, faultInjection: true });
    crasherFile = await writeArtifact(dir, 'crasher.onnx', classifierModel({ features: 4, classes: 3, seed: 77 }));
    crashDigest = crasherFile.digest;
    op = await startTestOperator(cp, { fileRoots: [dir], validator: new CrashingValidator(inner, faulty, crashDigest) });
  });
  after(async () => {
    await op?.stop();
    await inner?.close();
    await faulty?.close();
    server?.close();
  });

  it('each bad input gets its own terminal reason; the good one deploys meanwhile; no bad one touches its Deployment', async () => {
    const ns = await freshNamespace(cp, 'bad');
    const good = await writeArtifact(dir, 'good.onnx', classifierModel({ features: 4, classes: 3, seed: 1 }));
    const full = classifierModel({ features: 4, classes: 3, seed: 2 });
    const truncated = await writeArtifact(dir, 'truncated.onnx', full.slice(0, Math.floor(full.length / 2)));
    const mismatch = { ...(await writeArtifact(dir, 'mismatch.onnx', full)), digest: sha256Digest('something else') };
    const missing = { uri: `${base}/missing.onnx`, digest: sha256Digest('x'), sizeBytes: 10, path: '' };
    const oversize = { ...(await writeArtifact(dir, 'oversize.onnx', full)), sizeBytes: 64 };
    const ext = externalDataModel('../escape.bin');
    const escaping = await writeArtifact(dir, 'escaping.onnx', ext.model);
    const emptyHoldout = await writeArtifact(dir, 'empty.jsonl', '');
    const forEmpty = await writeArtifact(dir, 'for-empty.onnx', classifierModel({ features: 4, classes: 3, seed: 3 }));
    const crasher = crasherFile;
    // Real scikit-learn exports (test/fixtures/sklearn): a default ZipMap export, and a holdout whose label array is 'label'.
    const fixture = async (name: string): Promise<WrittenFile> => writeArtifact(dir, name, await readFile(path.resolve('test/fixtures/sklearn', name)));
    const zipmap = await fixture('cancer-logreg-zipmap.onnx');
    const logreg = await fixture('cancer-logreg.onnx');
    const cancer = await fixture('cancer-holdout.npz');
    const cancerHoldout = (extra: { labelField?: string } = {}) => ({ holdout: { dataset: { uri: cancer.uri, digest: cancer.digest }, task: 'classification' as const, ...extra }, benchmark: { enabled: false } });

    const cases: Array<{ name: string; ck: ModelCheckpoint; reason: string; says?: RegExp }> = [
      { name: 'truncated', ck: checkpoint('truncated', truncated, { deployment: 'd-truncated' }), reason: 'InvalidModel' },
      { name: 'mismatch', ck: checkpoint('mismatch', mismatch, { deployment: 'd-mismatch' }), reason: 'DigestMismatch' },
      { name: 'missing', ck: checkpoint('missing', missing, { deployment: 'd-missing' }), reason: 'FetchFailed' },
      { name: 'oversize', ck: checkpoint('oversize', oversize, { deployment: 'd-oversize' }), reason: 'ArtifactTooLarge' },
      { name: 'escaping', ck: checkpoint('escaping', escaping, { deployment: 'd-escaping' }), reason: 'UnsafeExternalData' },
      {
        name: 'empty-holdout',
        ck: checkpoint('empty-holdout', forEmpty, {
          deployment: 'd-empty-holdout',
          validation: { holdout: { dataset: { uri: emptyHoldout.uri, digest: emptyHoldout.digest, format: 'jsonl' }, task: 'classification' }, benchmark: { enabled: false } },
        }),
        reason: 'EmptyDataset',
      },
      { name: 'crasher', ck: checkpoint('crasher', crasher, { deployment: 'd-crasher' }), reason: 'ValidatorCrashed' },
      { name: 'zipmap', ck: checkpoint('zipmap', zipmap, { deployment: 'd-zipmap', validation: cancerHoldout() }), reason: 'UnsupportedOutput', says: /ZipMap.*'zipmap': False/ },
      { name: 'no-label', ck: checkpoint('no-label', logreg, { deployment: 'd-no-label', validation: cancerHoldout({ labelField: 'target' }) }), reason: 'DatasetInvalid', says: /cancer-holdout\.npz has no target\.npy/ },
    ];
    cases[4]!.ck.spec.artifact.allowExternalData = true;
    await apply(cp, ns, inferenceDeployment('ranker'), ...cases.map((c) => inferenceDeployment(`d-${c.name}`)));
    const before = await getJson<{ items: Array<{ metadata: { name: string; generation: number; resourceVersion: string } }> }>(cp, ns, 'deployments');
    await apply(cp, ns, ...cases.map((c) => c.ck), checkpoint('good', good));

    const deployed = await waitForCheckpoint(cp, ns, 'good', (c) => c.status?.phase === 'Healthy', 120_000);
    assert.equal(deployed.status?.phase, 'Healthy');
    for (const c of cases) {
      const done = await waitForCheckpoint(cp, ns, c.name, (x) => ['Failed', 'Rejected'].includes(x.status?.phase ?? ''), 120_000);
      const reasons = [endReason(done), ...(done.status?.stages ?? []).map((s) => s.reason)];
      assert.ok(reasons.includes(c.reason), `${c.name}: expected ${c.reason}, got ${JSON.stringify(reasons)} (${done.status?.conditions?.find((x) => x.type === 'Ready')?.message})`);
      assert.equal(done.status?.conditions?.find((x) => x.type === 'Stalled')?.status, 'True', `${c.name} is Stalled (terminal)`);
      if (c.says) {
        const message = done.status?.conditions?.find((x) => x.type === 'Ready')?.message ?? '';
        assert.match(message, c.says);
        assert.doesNotMatch(message, /sha256\//, `${c.name}: the message names the user's dataset, not the cache path`);
      }
    }
    const after = await getJson<{ items: Array<{ metadata: { name: string; generation: number; resourceVersion: string } }> }>(cp, ns, 'deployments');
    for (const c of cases) {
      const b = before.items.find((d) => d.metadata.name === `d-${c.name}`)!;
      const a = after.items.find((d) => d.metadata.name === `d-${c.name}`)!;
      assert.equal(a.metadata.generation, b.metadata.generation, `${c.name} left its Deployment's spec alone`);
    }
  });
});
