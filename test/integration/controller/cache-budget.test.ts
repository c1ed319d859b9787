// The download cache's budget in the real operator process (src/operator/main.ts wires the
// rollback points from its informer cache into the fetcher): over budget, a rejected checkpoint's
// artifact is evicted, while the older artifacts of production and its rollback point stay.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { waitForLog } from '../../harness/faults.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, renameInput, tempDir, writeArtifact, type WrittenFile } from '../../harness/models.js';
import { phaseIs, startOperatorProcess, waitForCheckpoint, type OperatorProcess } from '../../harness/operator.js';

describe('controller: download cache budget keeps rollback points', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let dir: string;
  let op: OperatorProcess | undefined;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-cachebudget-');
  });
  after(async () => {
    await op?.stop();
  });

  it('over budget: the rejected checkpoint\'s artifact goes; production\'s and its rollback point\'s stay, though older', async () => {
    const ns = await freshNamespace(cp, 'cachebudget');
    await apply(cp, ns, inferenceDeployment('ranker'));
    const model = (seed: number): Uint8Array => classifierModel({ features: 4, classes: 3, seed });
    const v1 = await writeArtifact(dir, `${ns}-v1.onnx`, model(1));
    const v2 = await writeArtifact(dir, `${ns}-v2.onnx`, model(2));
    const bad = await writeArtifact(dir, `${ns}-bad.onnx`, renameInput(model(3), 'x', 'features'));
    const v3 = await writeArtifact(dir, `${ns}-v3.onnx`, model(4));
    const sizes = [v1, v2, bad, v3].map((f) => f.sizeBytes);
    // One byte short of all four: any three fit, the fourth download must evict one.
    const budget = sizes.reduce((a, b) => a + b, 0) - 1;
    op = startOperatorProcess(cp, { fileRoots: [dir], logLevel: 'info', extraArgs: [`--cache-max-bytes=${budget}`] });
    const cached = (f: WrittenFile): boolean => existsSync(path.join(op!.cacheDir, 'sha256', f.digest.slice('sha256:'.length)));
    const age = (f: WrittenFile, s: number): void => {
      const t = new Date(Date.now() - s * 1000);
      utimesSync(path.join(op!.cacheDir, 'sha256', f.digest.slice('sha256:'.length)), t, t);
    };

    await apply(cp, ns, checkpoint('v1', v1));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
    await apply(cp, ns, checkpoint('v2', v2));
    const v2done = await waitForCheckpoint(cp, ns, 'v2', phaseIs('Healthy'), 60_000);
    assert.equal(v2done.status?.deployment?.rollbackPoint?.digest, v1.digest);
    await apply(cp, ns, checkpoint('bad', bad));
    await waitForCheckpoint(cp, ns, 'bad', phaseIs('Rejected'), 60_000);
    assert.ok([v1, v2, bad].every(cached), 'within budget all three are cached');
    // The rollback point's and production's artifacts are the least recently used: by age
    // alone they would be the first to go.
    age(v1, 300);
    age(v2, 200);
    age(bad, 100);

    await apply(cp, ns, checkpoint('v3', v3));
    await waitForCheckpoint(cp, ns, 'v3', phaseIs('Healthy'), 60_000);
    const evicted = await waitForLog(op.logPath, (l) => String(l.message).startsWith('download cache over budget'), 'an eviction', 10_000);
    assert.deepEqual(evicted.evicted, [bad.digest], 'only the rejected artifact was evicted');
    assert.ok(!cached(bad));
    assert.ok(cached(v1), 'the rollback point\'s artifact stays, though the oldest');
    assert.ok(cached(v2), 'the artifact v3 was validated against (production then, its rollback point now) stays');
    assert.ok(cached(v3));
    assert.deepEqual(readdirSync(path.join(op.cacheDir, 'sha256')).filter((n) => n.startsWith('.partial-')), []);
  });
});
