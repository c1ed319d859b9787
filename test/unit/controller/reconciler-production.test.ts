// The reconciler decides "which checkpoint the Deployment runs changed" only on the apiserver's
// own Deployment, never on a lagging cache: leaving production (Superseded) and coming back
// (Superseded → Deployed, reason RolledBackTo). The apiserver and the caches here are FAKES, in
// memory: the fault (a cache that lags behind the apiserver by a chosen version) is what the test
// sets up on purpose; the integration test faults/conflict-flap.test.ts runs the real thing.
import assert from 'node:assert/strict';
import { ANNOTATIONS, FINALIZER, type ModelCheckpoint, type ModelCheckpointStatus, type Phase } from '../../../src/api/types.js';
import { JobRegistry } from '../../../src/controller/jobs.js';
import type { ReconcilerDeps } from '../../../src/controller/deps.js';
import { Reconciler } from '../../../src/controller/reconciler.js';
import { withPhase } from '../../../src/controller/status.js';
import type { DeploymentFacts } from '../../../src/kube/deployments.js';

const T0 = '2026-12-01T10:00:00.000Z';
const SELF = { name: 'v1', uid: 'uid-v1' };
const OTHER = { name: 'v2', uid: 'uid-v2' };

function facts(runs: { name: string; uid: string }, rv: string): DeploymentFacts {
  return {
    namespace: 'ns', name: 'ranker', uid: 'dep-uid', resourceVersion: rv, generation: 3, observedGeneration: 3, revision: '2', replicas: 0, selector: { app: 'ranker' }, conditions: [],
    annotations: { [ANNOTATIONS.checkpoint]: runs.name, [ANNOTATIONS.checkpointUid]: runs.uid, [ANNOTATIONS.version]: runs.name, [ANNOTATIONS.digest]: `sha256:${'a'.repeat(64)}`, [ANNOTATIONS.rolledBackFrom]: '' },
    containers: [{ name: 'server', env: { MODEL_DIGEST: `sha256:${'a'.repeat(64)}` } }],
  };
}

function checkpointIn(phase: Phase): ModelCheckpoint {
  const status: ModelCheckpointStatus = { ...withPhase({}, phase, phase, phase, 1, T0), deployment: { deployedAt: T0, deployment: 'ranker', revision: '2' } };
  return {
    apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelCheckpoint',
    metadata: { name: SELF.name, namespace: 'ns', uid: SELF.uid, generation: 1, resourceVersion: '10', finalizers: [FINALIZER] },
    spec: { model: 'ranker', version: 'v1', artifact: { uri: 'file:///m.onnx', digest: `sha256:${'a'.repeat(64)}` }, target: { deployment: 'ranker', container: 'server' } },
    status,
  };
}

/** A reconciler over a fake apiserver (`apiserver`) and a fake, lagging Deployment cache (`cached`). */
function harness(cp: ModelCheckpoint, apiserver: DeploymentFacts, cached: DeploymentFacts) {
  const writes: ModelCheckpointStatus[] = [];
  let reads = 0;
  const deps = {
    checkpoints: {
      get: async () => structuredClone(cp),
      writeStatus: async (c: ModelCheckpoint, status: ModelCheckpointStatus) => {
        writes.push(status);
        return { ...c, metadata: { ...c.metadata, resourceVersion: String(Number(c.metadata.resourceVersion) + 1) }, status };
      },
    },
    deployments: {
      read: async () => {
        reads++;
        return structuredClone(apiserver);
      },
      rolloutRevision: async () => '2',
      // No pods wanted (replicas 0): each checkpoint's ReplicaSet reads as available.
      rolloutFacts: async () => ({
        replicaSets: [SELF, OTHER].map((c) => ({ name: `ranker-${c.name}`, uid: `rs-${c.uid}`, checkpointUid: c.uid, revision: '2', specReplicas: 0, replicas: 0, availableReplicas: 0, observed: true })),
        pods: [],
      }),
      releaseClaim: async () => undefined,
    },
    events: { emit: () => undefined },
    validator: { cleanup: async () => undefined },
    jobs: new JobRegistry(() => undefined),
    checkpointCache: { cached: () => undefined, read: () => undefined },
    deploymentCache: { read: () => structuredClone(cached) },
    templates: { read: async () => undefined },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined },
    now: () => new Date(T0),
  } as unknown as ReconcilerDeps;
  return { reconciler: new Reconciler(deps), writes, reads: () => reads };
}

describe('controller/reconciler: production changes are decided on the apiserver\'s Deployment', () => {
  it('a Superseded checkpoint is not put back (RolledBackTo) by a lagging cache that still names it', async () => {
    const h = harness(checkpointIn('Superseded'), facts(OTHER, '20'), facts(SELF, '19'));
    await h.reconciler.reconcile('ns/v1');
    assert.equal(h.reads(), 1, 'the apiserver was asked');
    assert.deepEqual(h.writes.map((s) => s.phase), [], 'no status written: it stays Superseded');
  });

  it('a Superseded checkpoint the apiserver\'s Deployment really runs again is Deployed (RolledBackTo)', async () => {
    const h = harness(checkpointIn('Superseded'), facts(SELF, '21'), facts(SELF, '21'));
    await h.reconciler.reconcile('ns/v1');
    assert.deepEqual(h.writes.map((s) => s.phase), ['Deployed']);
    assert.equal(h.writes[0]?.conditions?.find((c) => c.type === 'Ready')?.reason, 'RolledBackTo');
  });

  it('a Deployed checkpoint is not Superseded by a lagging cache that names another', async () => {
    const h = harness(checkpointIn('Deployed'), facts(SELF, '20'), facts(OTHER, '19'));
    await h.reconciler.reconcile('ns/v1');
    assert.equal(h.reads(), 1);
    assert.ok(!h.writes.some((s) => s.phase === 'Superseded'), JSON.stringify(h.writes.map((s) => s.phase)));
  });

  it('a Healthy checkpoint the cache and the apiserver both show replaced is Superseded', async () => {
    const h = harness(checkpointIn('Healthy'), facts(OTHER, '20'), facts(OTHER, '20'));
    await h.reconciler.reconcile('ns/v1');
    assert.deepEqual(h.writes.map((s) => s.phase), ['Superseded']);
  });
});
