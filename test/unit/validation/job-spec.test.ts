import assert from 'node:assert/strict';
import { StageError, type ValidationReport, type ValidationRequest } from '../../../src/validation/contract.js';
import { JOB_STAGE, REQUEST_ENV, SECRETS_DIR, buildValidationJob, requestSecrets, jobName, jobState, mayStart, parseJobResult, resultLine, runnerOf, unreachableFromPod, type JobPayload, type JobTemplate } from '../../../src/validation/job-spec.js';

const UID = '0b6f1c1e-7c55-4a3e-9d7e-2f1b7a9c0d11';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const cp = { name: 'fraud-v7', namespace: 'ml', uid: UID, generation: 3 };
const request: ValidationRequest = { key: 'ml/fraud-v7', generation: 3, candidate: { uri: 'https://models.example/fraud-v7.onnx', digest: DIGEST }, spec: { timeoutSeconds: 120 } };
const template: JobTemplate = { image: 'modelgate:dev', requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '2Gi' }, ttlSecondsAfterFinished: 3600, workDirSize: '4Gi', trustedHosts: ['models.internal'], maxArtifactBytes: 1024 };
const report: ValidationReport = { passed: true, reason: 'Validated', message: 'all gates passed', stages: [{ stage: 'architecture', verdict: 'Passed', reason: 'Compatible', message: 'signatures match' }], full: { x: 1 } };

type Job = { metadata: Record<string, unknown> & { labels: Record<string, string>; ownerReferences: Array<Record<string, unknown>> }; spec: { backoffLimit: number; activeDeadlineSeconds: number; ttlSecondsAfterFinished: number; template: { spec: Record<string, unknown> & { containers: Array<Record<string, unknown> & { env: Array<{ name: string; value: string }>; resources: unknown; securityContext: Record<string, unknown> }> } } } };

describe('validation/job-spec', () => {
  it('names one Job per checkpoint uid and generation, within a label value', () => {
    assert.equal(jobName(UID, 3), `mgv-${UID}-3`);
    assert.notEqual(jobName(UID, 3), jobName(UID, 4));
    assert.ok(jobName(UID, 123456789).length <= 63);
  });

  it('takes the checkpoint\'s runner, else the operator default', () => {
    assert.equal(runnerOf({ runner: 'Job' }, 'InProcess'), 'Job');
    assert.equal(runnerOf({}, 'InProcess'), 'InProcess');
    assert.equal(runnerOf(undefined, 'Job'), 'Job');
  });

  it('builds a locked-down Job owned by the checkpoint, with the timeout as its deadline', () => {
    const job = buildValidationJob(cp, request, template) as unknown as Job;
    assert.equal(job.metadata.name, jobName(UID, 3));
    assert.equal(job.metadata.namespace, 'ml');
    assert.deepEqual(job.metadata.ownerReferences, [{ apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelCheckpoint', name: 'fraud-v7', uid: UID, controller: true, blockOwnerDeletion: false }]);
    assert.equal(job.metadata.labels['modelgate.io/checkpoint-uid'], UID);
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.activeDeadlineSeconds, 120);
    assert.equal(job.spec.ttlSecondsAfterFinished, 3600);
    const pod = job.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal((pod.securityContext as Record<string, unknown>).runAsNonRoot, true);
    const c = pod.containers[0]!;
    assert.equal(c.image, 'modelgate:dev');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.resources, { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '2Gi' } });
    assert.deepEqual(pod.volumes, [{ name: 'work', emptyDir: { sizeLimit: '4Gi' } }]);
    assert.deepEqual(c.env.map((e) => e.name).sort(), ['HOME', 'NODE_ENV', REQUEST_ENV, 'TMPDIR'].sort());
    const payload = JSON.parse(c.env.find((e) => e.name === REQUEST_ENV)!.value) as JobPayload;
    assert.deepEqual(payload, { uid: UID, generation: 3, digest: DIGEST, request, trustedHosts: ['models.internal'], maxArtifactBytes: 1024 });
    assert.equal(pod.nodeSelector, undefined);
  });

  it('mounts each Secret the request names once, read-only, and never puts a credential in the payload', () => {
    const withSecrets: ValidationRequest = {
      ...request,
      candidate: { ...request.candidate, uri: 's3://models/fraud-v7.onnx', secretRef: { name: 'model-store' } },
      spec: { holdout: { dataset: { uri: 'oci://reg.example/ml/holdout:v1', digest: DIGEST, secretRef: { name: 'registry' } } } } as ValidationRequest['spec'],
      baseline: { checkpoint: 'fraud-v6', version: 'v6', artifact: { uri: 's3://models/fraud-v6.onnx', digest: DIGEST, secretRef: { name: 'model-store' } } } as ValidationRequest['baseline'],
      credentials: { candidate: { secretName: 'model-store', s3: { accessKeyId: 'AKIA-VALUE', secretAccessKey: 'secret-value-123' } } },
    };
    assert.deepEqual(requestSecrets(withSecrets), { candidate: 'model-store', dataset: 'registry', baseline: 'model-store' });
    const job = buildValidationJob(cp, withSecrets, template) as unknown as Job;
    const pod = job.spec.template.spec as unknown as { volumes: unknown[]; containers: Array<{ volumeMounts: unknown[]; env: Array<{ name: string; value: string }> }> };
    assert.deepEqual(pod.volumes, [
      { name: 'work', emptyDir: { sizeLimit: '4Gi' } },
      { name: 'secret-0', secret: { secretName: 'model-store' } },
      { name: 'secret-1', secret: { secretName: 'registry' } },
    ]);
    assert.deepEqual(pod.containers[0]!.volumeMounts, [
      { name: 'work', mountPath: '/work' },
      { name: 'secret-0', mountPath: `${SECRETS_DIR}/model-store`, readOnly: true },
      { name: 'secret-1', mountPath: `${SECRETS_DIR}/registry`, readOnly: true },
    ]);
    const all = JSON.stringify(job);
    assert.ok(!all.includes('secret-value-123') && !all.includes('AKIA-VALUE'), 'a credential reached the Job');
    const payload = JSON.parse(pod.containers[0]!.env.find((e) => e.name === REQUEST_ENV)!.value) as JobPayload;
    assert.equal(payload.request.credentials, undefined);
    assert.deepEqual(payload.request.candidate.secretRef, { name: 'model-store' });
    // No Secret named: no Secret volume.
    assert.deepEqual(requestSecrets(request), {});
  });

  it('applies the overrides a checkpoint may set; a lower memory limit lowers the request too', () => {
    const job = buildValidationJob(cp, request, template, {
      image: 'modelgate:cuda', runtimeClassName: 'nvidia', nodeSelector: { pool: 'gpu' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      resources: { limits: { memory: '64Mi', 'nvidia.com/gpu': 1 } },
    }) as unknown as Job;
    const pod = job.spec.template.spec;
    assert.equal(pod.containers[0]!.image, 'modelgate:cuda');
    assert.equal(pod.runtimeClassName, 'nvidia');
    assert.deepEqual(pod.nodeSelector, { pool: 'gpu' });
    assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    assert.deepEqual(pod.containers[0]!.resources, { requests: { cpu: '500m', memory: '64Mi' }, limits: { memory: '64Mi', 'nvidia.com/gpu': '1' } });
    assert.equal(pod.automountServiceAccountToken, false, 'no override turns the token back on');
  });

  it('reads the last result line, checked against uid, generation and digest', () => {
    const log = `progress...\n${resultLine({ uid: UID, generation: 2, digest: DIGEST, kind: 'report', report: { ...report, passed: false } })}\nmore\n${resultLine({ uid: UID, generation: 3, digest: DIGEST, kind: 'report', report })}\n`;
    assert.deepEqual(parseJobResult(log, { uid: UID, generation: 3, digest: DIGEST }), report);
  });

  for (const [what, r] of [
    ['another uid', { uid: 'other', generation: 3, digest: DIGEST }],
    ['another generation', { uid: UID, generation: 2, digest: DIGEST }],
    ['another digest', { uid: UID, generation: 3, digest: `sha256:${'b'.repeat(64)}` }],
  ] as const) {
    it(`refuses a result for ${what} (terminal ReportInvalid)`, () => {
      const log = resultLine({ ...r, kind: 'report', report });
      assert.throws(() => parseJobResult(log, { uid: UID, generation: 3, digest: DIGEST }), (e: unknown) => e instanceof StageError && e.reason === 'ReportInvalid' && e.terminal);
    });
  }

  it('refuses a log with no result line or a broken one', () => {
    for (const log of ['', 'hello\n', 'MODELGATE-RESULT {not json']) {
      assert.throws(() => parseJobResult(log, { uid: UID, generation: 3, digest: DIGEST }), (e: unknown) => e instanceof StageError && e.reason === 'ReportInvalid');
    }
  });

  it('turns an error result back into the pipeline\'s StageError', () => {
    const log = resultLine({ uid: UID, generation: 3, digest: DIGEST, kind: 'error', error: { reason: 'DigestMismatch', message: 'got sha256:bb', terminal: true, stage: 'fetch' } });
    assert.throws(() => parseJobResult(log, { uid: UID, generation: 3, digest: DIGEST }), (e: unknown) => e instanceof StageError && e.reason === 'DigestMismatch' && e.terminal && e.stage === 'fetch');
  });

  describe('jobState', () => {
    const failedWith = (f: Parameters<typeof jobState>[0]): StageError => {
      const s = jobState(f);
      assert.equal(s.state, 'failed');
      return (s as { error: StageError }).error;
    };
    it('is running while the pod runs, succeeded once the Job is Complete', () => {
      assert.deepEqual(jobState({ conditions: [], pod: { name: 'p', phase: 'Running' } }), { state: 'running' });
      assert.deepEqual(jobState({ conditions: [] }), { state: 'running' });
      assert.deepEqual(jobState({ conditions: [{ type: 'Complete', status: 'True' }], pod: { name: 'p', phase: 'Succeeded', terminated: { exitCode: 0, reason: 'Completed' } } }), { state: 'succeeded', pod: 'p' });
    });
    it('names OOMKilled, terminal', () => {
      const e = failedWith({ conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }], pod: { name: 'p', phase: 'Failed', terminated: { reason: 'OOMKilled', exitCode: 137 } } });
      assert.equal(e.reason, 'OOMKilled');
      assert.equal(e.terminal, true);
      assert.equal(e.stage, JOB_STAGE);
      assert.match(e.message, /resources\.limits\.memory/);
    });
    it('names DeadlineExceeded, terminal', () => {
      const e = failedWith({ conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }], pod: { name: 'p', phase: 'Failed' } });
      assert.equal(e.reason, 'DeadlineExceeded');
      assert.equal(e.terminal, true);
    });
    it('names an image the pod cannot start, terminal, before the deadline', () => {
      const e = failedWith({ conditions: [], pod: { name: 'p', phase: 'Pending', waiting: { reason: 'ErrImageNeverPull', message: 'image not present' } } });
      assert.equal(e.reason, 'ErrImageNeverPull');
      assert.equal(e.terminal, true);
    });
    it('a crash carries its exit code and is transient; an eviction is transient', () => {
      const e = failedWith({ conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }], pod: { name: 'p', phase: 'Failed', terminated: { reason: 'Error', exitCode: 3, message: 'boom' } } });
      assert.equal(e.reason, 'ValidatorCrashed');
      assert.equal(e.terminal, false);
      assert.match(e.message, /exited with code 3/);
      const ev = failedWith({ conditions: [], pod: { name: 'p', phase: 'Failed', reason: 'Evicted', message: 'low on ephemeral storage' } });
      assert.equal(ev.reason, 'Evicted');
      assert.equal(ev.terminal, false);
    });
  });

  it('caps running Jobs across the cluster and per namespace; 0 is no cap', () => {
    assert.equal(mayStart({ total: 9, inNamespace: 3 }, { total: 10, perNamespace: 4 }), true);
    assert.equal(mayStart({ total: 10, inNamespace: 0 }, { total: 10, perNamespace: 4 }), false);
    assert.equal(mayStart({ total: 5, inNamespace: 4 }, { total: 10, perNamespace: 4 }), false);
    assert.equal(mayStart({ total: 500, inNamespace: 500 }, { total: 0, perNamespace: 0 }), true);
  });

  it('says which file:// URI a Job\'s pod could not read; https and other stores pass', () => {
    assert.equal(unreachableFromPod(request), undefined);
    assert.match(unreachableFromPod({ ...request, candidate: { uri: 'file:///m/a.onnx', digest: DIGEST } }) ?? '', /^spec\.artifact\.uri is file:\/\/\/m\/a\.onnx/);
    const holdout = { dataset: { uri: 'file:///d/h.jsonl', digest: DIGEST }, task: 'classification' } as never;
    assert.match(unreachableFromPod({ ...request, spec: { holdout } }) ?? '', /^spec\.validation\.holdout\.dataset\.uri is file:/);
    const baseline = { checkpoint: 'fraud-v6', version: 'v6', artifact: { uri: 'file:///m/v6.onnx', digest: DIGEST } };
    assert.match(unreachableFromPod({ ...request, baseline }) ?? '', /production checkpoint fraud-v6's spec\.artifact\.uri is file:.*runner: InProcess/);
  });
});
