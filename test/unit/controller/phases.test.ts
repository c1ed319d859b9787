import assert from 'node:assert/strict';
import { REASON } from '../../../src/api/reasons.js';
import { PHASES, type ModelCheckpointSpec, type ModelCheckpointStatus, type Phase } from '../../../src/api/types.js';
import type { RolloutView } from '../../../src/controller/rollout.js';
import {
  CLAIMING_PHASES,
  LIVE_PHASES,
  TERMINAL_PHASES,
  canTransition,
  decide,
  kstatusOf,
  type JobView,
  type Step,
  type TargetView,
  type View,
} from '../../../src/controller/phases.js';

const UID = 'uid-self';
const OTHER = 'uid-other';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const OLD_DIGEST = `sha256:${'b'.repeat(64)}`;
const NEW_DIGEST = `sha256:${'c'.repeat(64)}`;

type LiveTarget = Extract<TargetView, { exists: true }>;

const rolloutOf = (state: RolloutView['state'], reason: string, message: string): RolloutView => ({ state, reason, message, desired: 2, updated: 2, ready: state === 'Available' ? 2 : 0, available: state === 'Available' ? 2 : 0, problems: [] });
const AVAILABLE = rolloutOf('Available', 'NewReplicaSetAvailable', '2/2 pods available on ReplicaSet ranker-abc (revision 4)');
const PROGRESSING = rolloutOf('Progressing', 'RolloutProgressing', 'rolling out: 0/2 pods available');
const FAILED = rolloutOf('Failed', 'CrashLoopBackOff', 'pod ranker-abc-1 container server: CrashLoopBackOff, exit code 3, 2 restart(s)');

const baseSpec = (): ModelCheckpointSpec => ({
  model: 'ctr',
  version: '2.0',
  artifact: { uri: 'https://models.example/ctr-2.onnx', digest: DIGEST },
  target: { deployment: 'ranker', container: 'server' },
});

/** A target Deployment that exists, has the container and runs nothing the operator knows. */
const target = (over: Partial<LiveTarget> = {}): LiveTarget => ({ exists: true, containerFound: true, claimLive: false, rollout: AVAILABLE, ...over });
/** A target that runs this checkpoint, rolled out, with the right env. */
const ours = (over: Partial<LiveTarget> = {}): LiveTarget =>
  target({ runningUid: UID, runningDigest: DIGEST, envDigest: DIGEST, claimUid: UID, claimLive: true, ...over });

function view(phase: Phase | undefined, over: Partial<View> = {}): View {
  const status: ModelCheckpointStatus = phase === undefined ? {} : { phase, observedGeneration: 3 };
  return {
    uid: UID,
    generation: 3,
    deleting: false,
    hasFinalizer: true,
    spec: baseSpec(),
    status,
    target: target(),
    job: { state: 'none' },
    ...over,
  };
}

function transition(step: Step): Extract<Step, { kind: 'Transition' }> {
  assert.equal(step.kind, 'Transition', `expected a Transition, got ${JSON.stringify(step)}`);
  return step as Extract<Step, { kind: 'Transition' }>;
}

describe('controller/phases decide', () => {
  describe('before the phase machine', () => {
    it('finalizes a checkpoint being deleted, whatever its phase or finalizer', () => {
      for (const phase of [undefined, ...PHASES]) {
        assert.deepEqual(decide(view(phase, { deleting: true })), { kind: 'Finalize' });
        assert.deepEqual(decide(view(phase, { deleting: true, hasFinalizer: false })), { kind: 'Finalize' });
      }
    });

    it('adds the finalizer first when it is missing', () => {
      for (const phase of [undefined, ...PHASES]) {
        assert.deepEqual(decide(view(phase, { hasFinalizer: false })), { kind: 'AddFinalizer' });
      }
    });

    it('restarts when the spec generation moved past observedGeneration, in every phase', () => {
      for (const phase of PHASES) {
        const step = decide(view(phase, { generation: 4 }));
        assert.equal(step.kind, 'Restart', phase);
        assert.match((step as { message: string }).message, /generation 3 → 4/);
      }
    });

    it('restarts when a phase is set but observedGeneration is missing', () => {
      const step = decide(view('Healthy', { status: { phase: 'Healthy' }, target: ours() }));
      assert.equal(step.kind, 'Restart');
      assert.match((step as { message: string }).message, /generation 0 → 3/);
    });

    it('does not restart a brand-new checkpoint without a phase', () => {
      assert.notEqual(decide(view(undefined, { status: { observedGeneration: 1 } })).kind, 'Restart');
    });
  });

  describe('Pending', () => {
    it('stalls with TargetNotFound when the Deployment is missing', () => {
      const step = decide(view('Pending', { target: { exists: false } }));
      assert.equal(step.kind, 'Stall');
      assert.equal((step as { reason: string }).reason, REASON.TargetNotFound);
      assert.match((step as { message: string }).message, /ranker/);
    });

    it('stalls with ContainerNotFound when the container is missing', () => {
      const step = decide(view('Pending', { target: target({ containerFound: false }) }));
      assert.equal(step.kind, 'Stall');
      assert.equal((step as { reason: string }).reason, REASON.ContainerNotFound);
      assert.match((step as { message: string }).message, /server/);
    });

    it('moves to Fetching when the target is there', () => {
      const t = transition(decide(view('Pending')));
      assert.equal(t.to, 'Fetching');
      assert.equal(t.reason, REASON.Fetching);
      assert.match(t.message, /ctr-2\.onnx/);
    });

    it('treats a missing phase as Pending', () => {
      assert.equal(transition(decide(view(undefined))).to, 'Fetching');
      assert.equal(decide(view(undefined, { target: { exists: false } })).kind, 'Stall');
    });
  });

  describe('Fetching and Validating', () => {
    const failed: JobView = { state: 'failed', reason: 'DigestMismatch', message: 'digest differs', terminal: true };

    it('Fetching: starts, awaits, moves to Validating, or fails', () => {
      assert.deepEqual(decide(view('Fetching', { job: { state: 'none' } })), { kind: 'StartFetch' });
      assert.deepEqual(decide(view('Fetching', { job: { state: 'running' } })), { kind: 'AwaitJob' });
      const ok = transition(decide(view('Fetching', { job: { state: 'succeeded' } })));
      assert.equal(ok.to, 'Validating');
      assert.equal(ok.reason, REASON.Fetched);
      assert.match(ok.message, new RegExp(DIGEST));
      assert.deepEqual(decide(view('Fetching', { job: failed })), { kind: 'Transition', to: 'Failed', reason: 'DigestMismatch', message: 'digest differs' });
    });

    it('Validating: starts, awaits, records the report, or fails', () => {
      assert.deepEqual(decide(view('Validating', { job: { state: 'none' } })), { kind: 'StartValidate' });
      assert.deepEqual(decide(view('Validating', { job: { state: 'running' } })), { kind: 'AwaitJob' });
      assert.deepEqual(decide(view('Validating', { job: { state: 'succeeded' } })), { kind: 'RecordValidation' });
      assert.deepEqual(decide(view('Validating', { job: { ...failed, reason: 'ValidationError' } })), { kind: 'Transition', to: 'Failed', reason: 'ValidationError', message: 'digest differs' });
    });

    it('does not look at the target while a job runs', () => {
      assert.deepEqual(decide(view('Fetching', { target: { exists: false }, job: { state: 'running' } })), { kind: 'AwaitJob' });
      assert.deepEqual(decide(view('Validating', { target: { exists: false }, job: { state: 'running' } })), { kind: 'AwaitJob' });
    });
  });

  describe('Validated', () => {
    it('holds while paused, even when autoDeploy is false or the target is missing', () => {
      const spec = { ...baseSpec(), rollout: { paused: true, autoDeploy: false } };
      const step = decide(view('Validated', { spec, target: { exists: false } }));
      assert.equal(step.kind, 'Hold');
      assert.equal((step as { reason: string }).reason, REASON.Paused);
    });

    it('holds when autoDeploy is false', () => {
      const step = decide(view('Validated', { spec: { ...baseSpec(), rollout: { autoDeploy: false } } }));
      assert.equal(step.kind, 'Hold');
      assert.equal((step as { reason: string }).reason, REASON.AutoDeployDisabled);
    });

    it('deploys with autoDeploy false once this generation is promoted, and holds for a promote of an older one', () => {
      const spec = { ...baseSpec(), rollout: { autoDeploy: false } };
      assert.deepEqual(decide(view('Validated', { spec, promotedGeneration: 3 })), { kind: 'ClaimAndDeploy' });
      const stale = decide(view('Validated', { spec, promotedGeneration: 2 }));
      assert.equal(stale.kind, 'Hold');
      assert.equal((stale as { reason: string }).reason, REASON.AutoDeployDisabled);
      assert.match((stale as { message: string }).message, /generation 3/);
    });

    it('deploys when autoDeploy is true or unset and paused is false', () => {
      assert.deepEqual(decide(view('Validated', { spec: { ...baseSpec(), rollout: { autoDeploy: true, paused: false } } })), { kind: 'ClaimAndDeploy' });
      assert.deepEqual(decide(view('Validated', { spec: { ...baseSpec(), rollout: {} } })), { kind: 'ClaimAndDeploy' });
    });

    it('stalls before the deploy when the analysis cannot be resolved (the Deployment is not claimed)', () => {
      const analysis = { ok: false as const, reason: REASON.InvalidTemplate, message: 'needs a value for arg job' };
      assert.deepEqual(decide(view('Validated', { analysis })), { kind: 'Stall', reason: REASON.InvalidTemplate, message: 'needs a value for arg job' });
      assert.equal(decide(view('Validated', { analysis, target: target({ claimUid: OTHER, claimLive: true }) })).kind, 'Stall', 'stalled, not waiting for a claim it could not use');
      assert.deepEqual(decide(view('Validated', { analysis: { ok: true, metrics: 1, templates: ['t'] } })), { kind: 'ClaimAndDeploy' });
    });

    it('stalls when the target or its container is missing', () => {
      assert.equal((decide(view('Validated', { target: { exists: false } })) as { reason: string }).reason, REASON.TargetNotFound);
      assert.equal((decide(view('Validated', { target: target({ containerFound: false }) })) as { reason: string }).reason, REASON.ContainerNotFound);
    });

    it('moves to Deployed (AlreadyRunning) when the Deployment already runs this checkpoint', () => {
      const t = transition(decide(view('Validated', { target: ours({ claimUid: undefined, claimLive: false }) })));
      assert.equal(t.to, 'Deployed');
      assert.equal(t.reason, REASON.AlreadyRunning);
    });

    it('awaits the claim while another checkpoint holds it live', () => {
      const step = decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: OLD_DIGEST, claimUid: OTHER, claimLive: true }), productionDigest: OLD_DIGEST }));
      assert.equal(step.kind, 'AwaitClaim');
    });

    it('claims and deploys when the other claim is no longer live', () => {
      const step = decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: OLD_DIGEST, claimUid: OTHER, claimLive: false }), productionDigest: OLD_DIGEST }));
      assert.deepEqual(step, { kind: 'ClaimAndDeploy' });
    });

    it('claims and deploys when it holds the claim itself', () => {
      assert.deepEqual(decide(view('Validated', { target: target({ claimUid: UID, claimLive: true }) })), { kind: 'ClaimAndDeploy' });
    });

    it('validates again (BaselineChanged) when production changed since validation', () => {
      const t = transition(decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: NEW_DIGEST }), productionDigest: OLD_DIGEST })));
      assert.equal(t.to, 'Validating');
      assert.equal(t.reason, REASON.BaselineChanged);
      assert.match(t.message, new RegExp(NEW_DIGEST));
      assert.match(t.message, new RegExp(OLD_DIGEST));
    });

    it('validates again when validated against nothing but production now runs a checkpoint', () => {
      const t = transition(decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: NEW_DIGEST }), productionDigest: '' })));
      assert.equal(t.reason, REASON.BaselineChanged);
    });

    it('a live claim of another wins over BaselineChanged (waits instead of re-validating)', () => {
      const step = decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: NEW_DIGEST, claimUid: OTHER, claimLive: true }), productionDigest: OLD_DIGEST }));
      assert.equal(step.kind, 'AwaitClaim');
    });

    it('deploys when production is unchanged', () => {
      assert.deepEqual(decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: OLD_DIGEST }), productionDigest: OLD_DIGEST })), { kind: 'ClaimAndDeploy' });
    });

    it('does not loop into BaselineChanged on an unmanaged target (no runningDigest)', () => {
      for (const productionDigest of [undefined, '', OLD_DIGEST]) {
        assert.deepEqual(decide(view('Validated', { target: target(), productionDigest })), { kind: 'ClaimAndDeploy' }, String(productionDigest));
      }
    });

    it('deploys when nothing was recorded about production (productionDigest undefined)', () => {
      assert.deepEqual(decide(view('Validated', { target: target({ runningUid: OTHER, runningDigest: NEW_DIGEST }) })), { kind: 'ClaimAndDeploy' });
    });
  });

  describe('Deploying', () => {
    it('stalls when the target or container disappeared', () => {
      assert.equal((decide(view('Deploying', { target: { exists: false } })) as { reason: string }).reason, REASON.TargetNotFound);
      assert.equal((decide(view('Deploying', { target: target({ containerFound: false }) })) as { reason: string }).reason, REASON.ContainerNotFound);
    });

    it('patches the Deployment until it runs this checkpoint, then moves to Deployed', () => {
      assert.deepEqual(decide(view('Deploying', { target: target({ claimUid: UID, claimLive: true, runningUid: OTHER, runningDigest: OLD_DIGEST }) })), { kind: 'PatchDeployment' });
      const t = transition(decide(view('Deploying', { target: ours() })));
      assert.equal(t.to, 'Deployed');
      assert.equal(t.reason, REASON.Deployed);
      assert.match(t.message, /2\/2 pods available/);
    });

    const pointed: ModelCheckpointStatus = { phase: 'Deploying', observedGeneration: 3, deployment: { deployedAt: '2026-01-01T00:00:00Z', deployment: 'ranker', rollbackPoint: { checkpoint: 'v1', uid: OTHER, version: '1.0', digest: OLD_DIGEST, uri: 'https://models.example/v1.onnx' } } };

    it('stays Deploying while the new pods are not all available, saying how far it is', () => {
      assert.deepEqual(decide(view('Deploying', { target: ours({ rollout: PROGRESSING }) })), { kind: 'AwaitRollout', message: PROGRESSING.message });
      // Patched but the rollout could not be read yet: waits, never Deployed.
      assert.equal(decide(view('Deploying', { target: ours({ rollout: undefined }) })).kind, 'AwaitRollout');
    });

    it('rolls back to the rollback point when the rollout failed, quoting the pods', () => {
      const step = decide(view('Deploying', { target: ours({ rollout: FAILED }), status: pointed }));
      assert.equal(step.kind, 'Rollback');
      const r = step as Extract<Step, { kind: 'Rollback' }>;
      assert.equal(r.reason, REASON.RolloutFailed);
      assert.equal(r.to, undefined);
      assert.match(r.message, /CrashLoopBackOff, exit code 3/);
    });

    it('holds instead when spec.rollout.onFailure is Hold, or when there is no rollback point', () => {
      const hold = decide(view('Deploying', { target: ours({ rollout: FAILED }), status: pointed, spec: { ...baseSpec(), rollout: { onFailure: 'Hold' } } }));
      assert.equal(hold.kind, 'Stall');
      assert.equal((hold as { reason: string }).reason, REASON.RolloutFailed);
      assert.match((hold as { message: string }).message, /onFailure is Hold/);
      const first = decide(view('Deploying', { target: ours({ rollout: FAILED }) }));
      assert.equal(first.kind, 'Stall');
      assert.match((first as { message: string }).message, /no rollback point/);
    });

    it('a person may roll back while the rollout is in progress', () => {
      const step = decide(view('Deploying', { target: ours({ rollout: PROGRESSING }), status: pointed, rollbackRequest: 'true' }));
      assert.equal(step.kind, 'Rollback');
      assert.equal((step as { reason: string }).reason, REASON.RollbackRequested);
    });
  });

  describe('rollouts outside Deploying', () => {
    it('Validated with the Deployment already running it is Deployed only once its pods are available', () => {
      assert.equal(transition(decide(view('Validated', { target: ours() }))).reason, REASON.AlreadyRunning);
      assert.equal(decide(view('Validated', { target: ours({ rollout: PROGRESSING }) })).kind, 'AwaitRollout');
    });

    it('Superseded returns to Deployed only once the rolled-back-to pods are available', () => {
      assert.deepEqual(decide(view('Superseded', { target: ours({ rollout: PROGRESSING }) })), { kind: 'Nothing' });
      assert.equal(transition(decide(view('Superseded', { target: ours() }))).to, 'Deployed');
    });
  });

  for (const phase of ['Deployed', 'Monitoring', 'Healthy'] as const) {
    describe(`${phase} (live)`, () => {
      it('stalls when the Deployment is gone (never recreated)', () => {
        const step = decide(view(phase, { target: { exists: false } }));
        assert.equal(step.kind, 'Stall');
        assert.equal((step as { reason: string }).reason, REASON.TargetNotFound);
        assert.match((step as { message: string }).message, /never recreates/);
      });

      it('is Superseded when the Deployment runs another checkpoint', () => {
        const t = transition(decide(view(phase, { target: target({ runningUid: OTHER, runningDigest: NEW_DIGEST }) })));
        assert.equal(t.to, 'Superseded');
        assert.equal(t.reason, REASON.Superseded);
        // rolled back from a different checkpoint is still superseded, not rolled back
        assert.equal(transition(decide(view(phase, { target: target({ runningUid: OTHER, rolledBackFromUid: 'uid-third' }) }))).to, 'Superseded');
        // an unmanaged Deployment (no checkpoint annotation) also no longer runs this one
        assert.equal(transition(decide(view(phase, { target: target() }))).to, 'Superseded');
      });

      it('is RolledBack when the Deployment was rolled back from this checkpoint', () => {
        const t = transition(decide(view(phase, { target: target({ runningUid: OTHER, runningDigest: OLD_DIGEST, rolledBackFromUid: UID }) })));
        assert.equal(t.to, 'RolledBack');
        assert.equal(t.reason, REASON.RolledBack);
      });

      it('rolls back to the previous point on "true"', () => {
        const step = decide(view(phase, { target: ours(), rollbackRequest: 'true' }));
        assert.equal(step.kind, 'Rollback');
        const r = step as Extract<Step, { kind: 'Rollback' }>;
        assert.equal(r.reason, REASON.RollbackRequested);
        assert.equal(r.to, undefined);
        assert.match(r.message, /\(true\)/);
      });

      it('rolls back to a named checkpoint', () => {
        const r = decide(view(phase, { target: ours(), rollbackRequest: 'ctr-v1' })) as Extract<Step, { kind: 'Rollback' }>;
        assert.equal(r.kind, 'Rollback');
        assert.equal(r.to, 'ctr-v1');
      });

      it('ignores an empty rollback annotation', () => {
        assert.notEqual(decide(view(phase, { target: ours(), rollbackRequest: '' })).kind, 'Rollback');
      });

      it('a rollback request wins over drift', () => {
        assert.equal(decide(view(phase, { target: ours({ envDigest: NEW_DIGEST }), rollbackRequest: 'true' })).kind, 'Rollback');
      });

      it('reports drift when the container env carries another digest', () => {
        const step = decide(view(phase, { target: ours({ envDigest: NEW_DIGEST }) }));
        assert.equal(step.kind, 'Drift');
        assert.match((step as { message: string }).message, new RegExp(NEW_DIGEST));
      });

      it('reports drift when the container env carries another model URI, digest unchanged', () => {
        const step = decide(view(phase, { target: ours({ envUri: 'https://models.example/by-hand.onnx' }) }));
        assert.equal(step.kind, 'Drift');
        assert.match((step as { message: string }).message, /MODEL_URI is https:\/\/models\.example\/by-hand\.onnx, not https:\/\/models\.example\/ctr-2\.onnx/);
      });

      it('names spec.target.modelEnv in a URI drift and keeps credentials out of the message', () => {
        const spec = { ...baseSpec(), target: { deployment: 'ranker', container: 'server', modelEnv: 'ONNX_URL' } };
        const step = decide(view(phase, { spec, target: ours({ envUri: 'https://u:secret@models.example/x.onnx?sig=abc' }) }));
        assert.equal(step.kind, 'Drift');
        const message = (step as { message: string }).message;
        assert.match(message, /ONNX_URL is https:\/\/models\.example\/x\.onnx\?…/);
        assert.doesNotMatch(message, /secret|sig=abc/);
      });

      it('no drift when the env URI is the spec URI', () => {
        assert.notEqual(decide(view(phase, { target: ours({ envUri: 'https://models.example/ctr-2.onnx' }) })).kind, 'Drift');
      });

      it('a rollback request wins over a URI drift', () => {
        assert.equal(decide(view(phase, { target: ours({ envUri: 'https://models.example/by-hand.onnx' }), rollbackRequest: 'true' })).kind, 'Rollback');
      });

      it('no drift when the env digest is unknown', () => {
        assert.notEqual(decide(view(phase, { target: ours({ envDigest: undefined }) })).kind, 'Drift');
      });
    });
  }

  describe('Deployed', () => {
    const analysis = { metrics: [{ name: 'cvr', query: 'q', direction: 'HigherIsBetter' as const }] };


    it('moves to Monitoring when analysis metrics exist', () => {
      const t = transition(decide(view('Deployed', { target: ours(), spec: { ...baseSpec(), analysis } })));
      assert.equal(t.to, 'Monitoring');
      assert.equal(t.reason, REASON.Monitoring);
      assert.match(t.message, /1 metric/);
    });

    it('moves to Monitoring with an analysis from templates alone, naming them', () => {
      const spec = { ...baseSpec(), analysis: { templates: [{ name: 'latency' }] } };
      const t = transition(decide(view('Deployed', { target: ours(), spec, analysis: { ok: true, metrics: 2, templates: ['latency'] } })));
      assert.equal(t.to, 'Monitoring');
      assert.match(t.message, /2 metric\(s\).*template latency/);
    });

    it('stalls, not Monitoring, when the analysis cannot be resolved as it starts', () => {
      const spec = { ...baseSpec(), analysis: { templates: [{ name: 'latency' }] } };
      const step = decide(view('Deployed', { target: ours(), spec, analysis: { ok: false, reason: REASON.TemplateNotFound, message: 'ModelAnalysisTemplate latency not found' } }));
      assert.deepEqual(step, { kind: 'Stall', reason: REASON.TemplateNotFound, message: 'ModelAnalysisTemplate latency not found' });
    });

    it('moves to Healthy without analysis or with an empty metric list', () => {
      assert.equal(transition(decide(view('Deployed', { target: ours() }))).to, 'Healthy');
      const t = transition(decide(view('Deployed', { target: ours(), spec: { ...baseSpec(), analysis: { metrics: [] } } })));
      assert.equal(t.to, 'Healthy');
      assert.equal(t.reason, REASON.Healthy);
    });
  });

  describe('Monitoring and Healthy', () => {
    it('Monitoring analyzes (even while a rollout is still in progress)', () => {
      assert.deepEqual(decide(view('Monitoring', { target: ours() })), { kind: 'Analyze' });
      assert.deepEqual(decide(view('Monitoring', { target: ours({ rollout: PROGRESSING }) })), { kind: 'Analyze' });
    });

    it('Monitoring with a recorded analysis analyzes, whatever the templates say now', () => {
      const status: ModelCheckpointStatus = { phase: 'Monitoring', observedGeneration: 3, analysis: { resolved: { resolvedAt: '2026-01-01T00:00:00Z', templates: [], metrics: [] } } };
      const gone = { ok: false as const, reason: REASON.TemplateNotFound, message: 'gone' };
      assert.deepEqual(decide(view('Monitoring', { target: ours(), status, analysis: gone })), { kind: 'Analyze' });
      // Without a recorded copy (monitoring since before templates) it must be resolvable first.
      assert.equal(decide(view('Monitoring', { target: ours(), analysis: gone })).kind, 'Stall');
    });

    it('Healthy does nothing', () => {
      assert.deepEqual(decide(view('Healthy', { target: ours() })), { kind: 'Nothing' });
      assert.deepEqual(decide(view('Healthy', { target: ours({ rollout: FAILED }) })), { kind: 'Nothing' });
    });
  });

  describe('Superseded and terminal phases', () => {
    it('Superseded returns to Deployed when the Deployment runs it again', () => {
      const t = transition(decide(view('Superseded', { target: ours() })));
      assert.equal(t.to, 'Deployed');
      assert.equal(t.reason, REASON.RolledBackTo);
    });

    it('Superseded otherwise does nothing', () => {
      assert.deepEqual(decide(view('Superseded', { target: target({ runningUid: OTHER }) })), { kind: 'Nothing' });
      assert.deepEqual(decide(view('Superseded', { target: { exists: false } })), { kind: 'Nothing' });
    });

    for (const phase of ['Rejected', 'Failed', 'RolledBack'] as const) {
      it(`${phase} does nothing, even when the Deployment runs it or a rollback is requested`, () => {
        assert.deepEqual(decide(view(phase, { target: ours(), rollbackRequest: 'true' })), { kind: 'Nothing' });
        assert.deepEqual(decide(view(phase, { target: { exists: false } })), { kind: 'Nothing' });
        assert.ok(TERMINAL_PHASES.has(phase));
      });
    }
  });
});

describe('controller/phases canTransition', () => {
  it('allows staying in a phase', () => {
    for (const p of PHASES) assert.ok(canTransition(p, p), p);
  });

  it('allows every phase to restart to Pending', () => {
    for (const p of PHASES) assert.ok(canTransition(p, 'Pending'), p);
  });

  it('refuses skipping validation and leaving terminal phases other than by a restart', () => {
    assert.equal(canTransition('Pending', 'Validated'), false);
    assert.equal(canTransition('Pending', 'Deployed'), false);
    assert.equal(canTransition('Fetching', 'Validated'), false);
    assert.equal(canTransition('Validating', 'Deploying'), false);
    assert.equal(canTransition('Rejected', 'Validated'), false);
    assert.equal(canTransition('Failed', 'Fetching'), false);
    assert.equal(canTransition('Healthy', 'Monitoring'), false);
    assert.equal(canTransition('Superseded', 'Healthy'), false);
  });

  it('allows the happy path end to end', () => {
    const path: Phase[] = ['Pending', 'Fetching', 'Validating', 'Validated', 'Deploying', 'Deployed', 'Monitoring', 'Healthy', 'Superseded'];
    for (let i = 1; i < path.length; i++) assert.ok(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} → ${path[i]}`);
  });

  it('phase sets are consistent: live phases are never terminal', () => {
    for (const p of LIVE_PHASES) assert.equal(TERMINAL_PHASES.has(p), false, p);
    for (const p of CLAIMING_PHASES) assert.equal(TERMINAL_PHASES.has(p), false, p);
  });
});

describe('controller/phases property: every step decide takes is an allowed transition', () => {
  /** A small deterministic PRNG so a failure reproduces. */
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const maybe = <T>(r: () => number, xs: readonly T[]): T | undefined => (r() < 0.3 ? undefined : pick(r, xs));
  const uids = [UID, OTHER, 'uid-third'];
  const digests = [DIGEST, OLD_DIGEST, NEW_DIGEST];

  function randomView(r: () => number): View {
    const phase = r() < 0.1 ? undefined : pick(r, PHASES);
    const targetView: TargetView = r() < 0.15
      ? { exists: false }
      : {
          exists: true,
          containerFound: r() < 0.9,
          runningUid: maybe(r, uids),
          runningDigest: maybe(r, digests),
          envDigest: maybe(r, digests),
          rolledBackFromUid: maybe(r, uids),
          claimUid: maybe(r, uids),
          claimLive: r() < 0.5,
          rollout: [AVAILABLE, PROGRESSING, FAILED, undefined][Math.floor(r() * 4)],
        };
    const jobs: JobView[] = [{ state: 'none' }, { state: 'running' }, { state: 'succeeded' }, { state: 'failed', reason: 'X', message: 'x', terminal: r() < 0.5 }];
    const spec = baseSpec();
    if (r() < 0.3) spec.rollout = { paused: r() < 0.3, autoDeploy: r() < 0.7 };
    if (r() < 0.5) spec.analysis = { metrics: r() < 0.5 ? [] : [{ name: 'm', query: 'q', direction: 'LowerIsBetter' }] };
    const observed = r() < 0.85 ? 3 : pick(r, [undefined, 1, 2]);
    return {
      uid: UID,
      generation: 3,
      deleting: r() < 0.05,
      hasFinalizer: r() < 0.95,
      spec,
      status: phase === undefined ? {} : { phase, observedGeneration: observed },
      target: targetView,
      job: pick(r, jobs),
      rollbackRequest: maybe(r, ['true', 'ctr-v1', '']),
      productionDigest: maybe(r, ['', ...digests]),
    };
  }

  it('holds over 20000 generated views and reaches every transition decide can produce', () => {
    const r = rng(42);
    const seen = new Set<string>();
    const kinds = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const v = randomView(r);
      const step = decide(v);
      kinds.add(step.kind);
      const from: Phase = v.status.phase ?? 'Pending';
      if (step.kind === 'Transition') {
        seen.add(`${from}→${step.to}`);
        assert.ok(canTransition(from, step.to), `decide chose ${from} → ${step.to} (${step.reason}) which canTransition refuses; view ${JSON.stringify(v)}`);
        assert.ok(step.reason.length > 0 && /^[A-Z][A-Za-z]*$/.test(step.reason), `reason ${step.reason}`);
        assert.ok(step.message.length > 0);
      }
      if (step.kind === 'Restart') assert.ok(canTransition(from, 'Pending'), `restart from ${from}`);
      // terminal phases never take a step other than a restart, a finalize or the finalizer
      if (v.status.phase && TERMINAL_PHASES.has(v.status.phase)) {
        assert.ok(['Nothing', 'Restart', 'Finalize', 'AddFinalizer'].includes(step.kind), `${v.status.phase}: ${step.kind}`);
      }
    }
    // the generator is rich enough to exercise every transition decide has
    const expected = [
      'Pending→Fetching', 'Fetching→Validating', 'Fetching→Failed', 'Validating→Failed', 'Validated→Deployed', 'Validated→Validating',
      'Deploying→Deployed', 'Deployed→Monitoring', 'Deployed→Healthy', 'Deployed→Superseded', 'Deployed→RolledBack',
      'Monitoring→Superseded', 'Monitoring→RolledBack', 'Healthy→Superseded', 'Healthy→RolledBack', 'Superseded→Deployed',
    ];
    for (const e of expected) assert.ok(seen.has(e), `generator never produced ${e}`);
    for (const k of ['Finalize', 'AddFinalizer', 'Restart', 'Stall', 'Transition', 'StartFetch', 'StartValidate', 'AwaitJob', 'RecordValidation', 'Hold', 'AwaitClaim', 'ClaimAndDeploy', 'PatchDeployment', 'AwaitRollout', 'Analyze', 'Rollback', 'Drift', 'Nothing']) {
      assert.ok(kinds.has(k), `generator never produced step ${k}`);
    }
  });

  it('every reachable transition in an exhaustive sweep of target shapes is allowed', () => {
    const shapes: TargetView[] = [{ exists: false }];
    for (const containerFound of [true, false])
      for (const runningUid of [undefined, UID, OTHER])
        for (const rolledBackFromUid of [undefined, UID])
          for (const claimUid of [undefined, UID, OTHER])
            for (const claimLive of [true, false])
              for (const rollout of [AVAILABLE, PROGRESSING, FAILED, undefined])
                for (const runningDigest of [undefined, DIGEST, NEW_DIGEST])
                  shapes.push({ exists: true, containerFound, runningUid, runningDigest, envDigest: DIGEST, rolledBackFromUid, claimUid, claimLive, rollout });
    let n = 0;
    for (const phase of PHASES)
      for (const t of shapes)
        for (const job of [{ state: 'none' }, { state: 'succeeded' }, { state: 'failed', reason: 'R', message: 'm', terminal: true }] as JobView[])
          for (const productionDigest of [undefined, '', DIGEST, OLD_DIGEST]) {
            const step = decide(view(phase, { target: t, job, productionDigest }));
            if (step.kind === 'Transition') {
              n++;
              assert.ok(canTransition(phase, step.to), `${phase} → ${step.to}`);
            }
          }
    assert.ok(n > 1000, `only ${n} transitions checked`);
  });
});

describe('controller/phases kstatusOf', () => {
  it('live phases are Ready; Healthy is done reconciling', () => {
    assert.deepEqual(kstatusOf('Deployed'), { ready: true, reconciling: true, stalled: false });
    assert.deepEqual(kstatusOf('Monitoring'), { ready: true, reconciling: true, stalled: false });
    assert.deepEqual(kstatusOf('Healthy'), { ready: true, reconciling: false, stalled: false });
  });

  it('terminal phases are Stalled', () => {
    for (const p of ['Rejected', 'Failed', 'RolledBack'] as const) assert.deepEqual(kstatusOf(p), { ready: false, reconciling: false, stalled: true });
  });

  it('Superseded is Ready and done (kstatus Current): it served, a newer checkpoint took over', () => {
    assert.deepEqual(kstatusOf('Superseded'), { ready: true, reconciling: false, stalled: false });
  });

  it('in-progress phases are Reconciling', () => {
    for (const p of ['Pending', 'Fetching', 'Validating', 'Validated', 'Deploying'] as const) {
      assert.deepEqual(kstatusOf(p), { ready: false, reconciling: true, stalled: false }, p);
    }
  });

  it('a stall reason makes any phase Stalled and not Ready', () => {
    for (const p of PHASES) assert.deepEqual(kstatusOf(p, 'TargetNotFound'), { ready: false, reconciling: false, stalled: true }, p);
  });

  it('never Reconciling and Stalled at once, never Ready and Stalled at once', () => {
    for (const p of PHASES)
      for (const s of [undefined, 'X']) {
        const k = kstatusOf(p, s);
        assert.ok(!(k.reconciling && k.stalled) && !(k.ready && k.stalled), `${p} ${s}`);
      }
  });
});
