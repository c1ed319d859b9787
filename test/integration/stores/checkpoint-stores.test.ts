// Checkpoints whose model and holdout set sit in real stores, through the real apiserver and the
// operator: the model in SeaweedFS (S3, SigV4 verified), the holdout set in docker-registry 2.8
// (token auth), credentials in Secrets of the checkpoint's namespace. The Deployment fixture has
// replicas 0, so no node is needed. Secrets named but missing stall the checkpoint until they appear.
import assert from 'node:assert/strict';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classificationData, classifierModel, holdoutJsonl, randomWeights, sha256Digest } from '../../harness/models.js';
import { startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { startRegistry, type Registry } from '../../harness/registry.js';
import { startS3Store, type S3Store } from '../../harness/s3store.js';

const cond = (c: ModelCheckpoint, type: string) => c.status?.conditions?.find((x) => x.type === type);
const secret = (name: string, stringData: Record<string, string>, type = 'Opaque') => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type, stringData });

describe('checkpoints from S3 and an OCI registry, with Secrets (real apiserver, real stores)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let s3: S3Store;
  let reg: Registry;
  const truth = randomWeights(4, 3, 41);
  const model = Buffer.from(classifierModel({ features: 4, classes: 3, weights: truth.weights, bias: truth.bias }));
  const holdout = Buffer.from(holdoutJsonl(classificationData(truth, 200, 42)));

  before(async () => {
    cp = await sharedControlPlane();
    [s3, reg] = await Promise.all([startS3Store(), startRegistry()]);
    await s3.createBucket('models');
    await s3.put('models', 'ranker/1.0.0/model.onnx', model);
    await reg.push('ml/holdout', 'v1', holdout, 'application/vnd.modelgate.holdout.jsonl');
    await reg.push('ml/ranker', '1.0.1', model);
    op = await startTestOperator(cp, { trustedHosts: ['127.0.0.1'] });
  });
  after(async () => {
    await op?.stop();
    await s3?.stop();
    await reg?.stop();
  });

  const storeCheckpoint = (name: string, s3Secret: string, registrySecret: string) =>
    checkpoint(name, { uri: 's3://models/ranker/1.0.0/model.onnx', digest: sha256Digest(model), sizeBytes: model.length, path: '' }, {
      artifact: { uri: 's3://models/ranker/1.0.0/model.onnx', digest: sha256Digest(model), secretRef: { name: s3Secret }, s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true } },
      validation: {
        holdout: { dataset: { uri: `oci://${reg.host}/ml/holdout:v1`, digest: sha256Digest(holdout), format: 'jsonl', secretRef: { name: registrySecret }, oci: { plainHttp: true } }, task: 'classification' },
        benchmark: { enabled: false },
      },
    });

  it('stalls with SecretNotFound while the Secrets are missing, resumes when each appears, and is Validated', async () => {
    const ns = await freshNamespace(cp, 'stores');
    await apply(cp, ns, inferenceDeployment('ranker'), storeCheckpoint('v1', 'model-store', 'registry'));
    let c = await waitForCheckpoint(cp, ns, 'v1', (x) => cond(x, 'Stalled')?.status === 'True');
    assert.equal(cond(c, 'Stalled')?.reason, 'SecretNotFound');
    assert.match(cond(c, 'Stalled')?.message ?? '', /Secret 'model-store' named by spec\.artifact\.secretRef does not exist in namespace/);
    await apply(cp, ns, secret('model-store', { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey }));
    c = await waitForCheckpoint(cp, ns, 'v1', (x) => /Secret 'registry'/.test(cond(x, 'Stalled')?.message ?? ''), 30_000);
    assert.equal(cond(c, 'Stalled')?.reason, 'SecretNotFound');
    await apply(cp, ns, secret('registry', { '.dockerconfigjson': reg.dockerConfig(reg.user.username, reg.user.password) }, 'kubernetes.io/dockerconfigjson'));
    c = await waitForCheckpoint(cp, ns, 'v1', (x) => ['Validated', 'Deployed', 'Healthy', 'Failed', 'Rejected'].includes(x.status?.phase ?? ''), 120_000);
    assert.ok(['Validated', 'Deployed', 'Healthy'].includes(c.status?.phase ?? ''), `phase ${c.status?.phase}: ${JSON.stringify(c.status?.conditions)}`);
    const stages = (c.status?.stages ?? []).map((s) => `${s.stage}:${s.verdict}`);
    assert.ok(stages.includes('fetch:Passed') && stages.includes('holdout:Passed'), stages.join(', '));
    const all = JSON.stringify(c.status) + JSON.stringify(await getJson(cp, ns, 'events'));
    for (const v of [s3.reader.secretAccessKey, reg.user.password]) assert.ok(!all.includes(v), 'a Secret value reached status or Events');
  });

  it('the Deployment gets the store env and the Secret volume; the next model replaces them and the rollback point keeps the first', async () => {
    const ns = await freshNamespace(cp, 'stores-deploy');
    await apply(cp, ns, inferenceDeployment('ranker'), secret('model-store', { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey }),
      secret('registry', { '.dockerconfigjson': reg.dockerConfig(reg.user.username, reg.user.password) }, 'kubernetes.io/dockerconfigjson'), storeCheckpoint('v1', 'model-store', 'registry'));
    await waitForCheckpoint(cp, ns, 'v1', (x) => x.status?.phase === 'Deployed' || x.status?.phase === 'Healthy', 120_000);
    type Dep = { spec: { template: { spec: { volumes?: Array<{ name: string; secret?: { secretName: string } }>; containers: Array<{ name: string; env: Array<{ name: string; value: string }>; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }> } } } };
    const pod = async () => (await getJson<Dep>(cp, ns, 'deployment', 'ranker')).spec.template.spec;
    const envOf = (p: Dep['spec']['template']['spec']) => Object.fromEntries(p.containers[0]!.env.map((e) => [e.name, e.value]));
    let p = await pod();
    assert.deepEqual(envOf(p), {
      LOG_LEVEL: 'info', MODEL_URI: 's3://models/ranker/1.0.0/model.onnx', MODEL_DIGEST: sha256Digest(model), MODEL_VERSION: 'v1',
      MODEL_S3_REGION: s3.region, MODEL_S3_ENDPOINT: s3.endpoint, MODEL_S3_FORCE_PATH_STYLE: 'true',
      MODEL_CREDENTIALS_SECRET: 'model-store', MODEL_CREDENTIALS_DIR: '/var/run/modelgate/model-credentials',
    });
    assert.deepEqual(p.volumes, [{ name: 'modelgate-model-credentials', secret: { secretName: 'model-store', defaultMode: 420 } }]);
    assert.deepEqual(p.containers[0]!.volumeMounts, [{ name: 'modelgate-model-credentials', mountPath: '/var/run/modelgate/model-credentials', readOnly: true }]);
    assert.ok(!JSON.stringify(p).includes(s3.reader.secretAccessKey), 'the key itself is never copied into the Deployment');

    // v2: the same bytes from the registry, no S3 settings.
    const v2 = checkpoint('v2', { uri: '', digest: sha256Digest(model), sizeBytes: model.length, path: '' }, {
      artifact: { uri: `oci://${reg.host}/ml/ranker:1.0.1`, digest: sha256Digest(model), secretRef: { name: 'registry' }, oci: { plainHttp: true } },
      validation: storeCheckpoint('x', 'model-store', 'registry').spec.validation,
    });
    await apply(cp, ns, v2);
    const c2 = await waitForCheckpoint(cp, ns, 'v2', (x) => x.status?.phase === 'Deployed' || x.status?.phase === 'Healthy', 120_000);
    p = await pod();
    const env = envOf(p);
    assert.equal(env.MODEL_URI, `oci://${reg.host}/ml/ranker:1.0.1`);
    assert.equal(env.MODEL_OCI_PLAIN_HTTP, 'true');
    assert.equal(env.MODEL_CREDENTIALS_SECRET, 'registry');
    for (const gone of ['MODEL_S3_REGION', 'MODEL_S3_ENDPOINT', 'MODEL_S3_FORCE_PATH_STYLE']) assert.equal(env[gone], undefined, `${gone} left behind`);
    assert.deepEqual(p.volumes?.map((v) => [v.name, v.secret?.secretName]), [['modelgate-model-credentials', 'registry']]);
    const point = c2.status?.deployment?.rollbackPoint;
    assert.equal(point?.checkpoint, 'v1');
    assert.equal(point?.uri, 's3://models/ranker/1.0.0/model.onnx');
    assert.deepEqual([point?.secretRef, point?.s3], [{ name: 'model-store' }, { region: s3.region, endpoint: s3.endpoint, forcePathStyle: true }]);
  });

  it('wrong S3 keys: Failed with FetchFailed naming SignatureDoesNotMatch and the Secret; the value appears nowhere', async () => {
    const ns = await freshNamespace(cp, 'stores-bad');
    const wrong = 'wrong-secret-key-00000000000000000000000';
    await apply(cp, ns, inferenceDeployment('ranker'), secret('model-store', { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: wrong }),
      secret('registry', { '.dockerconfigjson': reg.dockerConfig(reg.user.username, reg.user.password) }, 'kubernetes.io/dockerconfigjson'), storeCheckpoint('v1', 'model-store', 'registry'));
    const c = await waitForCheckpoint(cp, ns, 'v1', (x) => x.status?.phase === 'Failed', 60_000);
    const ready = cond(c, 'Ready');
    assert.equal(ready?.reason, 'FetchFailed');
    assert.match(ready?.message ?? '', /SignatureDoesNotMatch.*Secret 'model-store'/);
    const all = JSON.stringify(c.status) + JSON.stringify(await getJson(cp, ns, 'events'));
    assert.ok(!all.includes(wrong));
  });

  it('a Secret of the same name in another namespace is never read; secretRef.namespace is refused by the API', async () => {
    const ns = await freshNamespace(cp, 'stores-own');
    const other = await freshNamespace(cp, 'stores-other');
    await apply(cp, other, secret('model-store', { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey }));
    await apply(cp, ns, inferenceDeployment('ranker'), storeCheckpoint('v1', 'model-store', 'registry'));
    const c = await waitForCheckpoint(cp, ns, 'v1', (x) => cond(x, 'Stalled')?.status === 'True');
    assert.equal(cond(c, 'Stalled')?.reason, 'SecretNotFound');
    const bad = storeCheckpoint('v2', 'model-store', 'registry');
    (bad.spec.artifact.secretRef as unknown as Record<string, string>).namespace = other;
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(bad));
    assert.notEqual(r.code, 0, 'kubectl apply accepted secretRef.namespace');
    assert.match(r.stderr, /unknown field "spec\.artifact\.secretRef\.namespace"/);
  });
});
