// Serving pods read the model from the same private store, with the same credentials, as the
// validation did: the operator in the cluster (its pods, its RBAC) validates checkpoints whose
// models sit in SeaweedFS (S3, SigV4 verified) and in docker-registry 2.8 (token auth), each
// behind a Secret of the checkpoint's namespace; it writes the store settings and the Secret
// volume into the pod template, and the new pods fetch the same URI themselves and report its
// digest. A rollback restores the earlier model's store and Secret, not just its URI.
// The models are scikit-learn models trained on the breast-cancer dataset (test/fixtures/sklearn),
// and each checkpoint's holdout set sits in the same store as its model; v1 is validated by a
// validation Job whose pod reads the Secret from a volume, v2 in the operator's pod.
// The stores listen on the host's loopback; pods reach them through LocalNode.relayToHost.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ANNOTATIONS, CREDENTIALS_MOUNT, CREDENTIALS_VOLUME, STORE_ENV, type ModelCheckpoint } from '../../src/api/types.js';
import { SECRETS_DIR } from '../../src/validation/job-spec.js';
import { freshNamespace } from '../harness/controlplane.js';
import { apply, getJson } from '../harness/fixtures.js';
import { ensureProjectImage } from '../harness/image.js';
import { sha256Digest, tempDir } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { phaseIs, waitForCheckpoint } from '../harness/operator.js';
import { freePort } from '../harness/process.js';
import { ensureInClusterOperator, expectPodsServing, operatorLogs, outcomesSecret, rolloutStatus, sampleDeployment, type Pod } from '../harness/pods.js';
import { startRegistry, type Registry } from '../harness/registry.js';
import { startS3Store, type S3Store } from '../harness/s3store.js';
import { startModelStore, type ModelStore } from '../harness/store.js';

interface DeploymentJson {
  metadata: { annotations?: Record<string, string> };
  spec: { template: { spec: {
    containers: Array<{ name: string; env: Array<{ name: string; value?: string }>; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;
    volumes?: Array<{ name: string; secret?: { secretName: string } }>;
  } } };
}

const secret = (name: string, stringData: Record<string, string>, type = 'Opaque') => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type, stringData });

describe('serving pods fetch from private S3 and OCI stores with the checkpoint\'s Secret (real node, in-cluster operator)', function () {
  this.timeout(900_000);
  let c: NodeCluster;
  let store: ModelStore;
  let s3: S3Store;
  let reg: Registry;
  let dir: string;
  /** What pods use: http://10.244.0.1:<port> for S3, 10.244.0.1:<port> for the registry. */
  let s3Endpoint: string;
  let regHost: string;
  const WEB_PASSWORD = 'web-model-password-0123';
  let web: https.Server;
  let webCa: string;
  /** https://10.244.0.1:<port>: the TLS model server as pods reach it. */
  let webBase: string;
  const webFiles = new Map<string, Buffer>();
  /** Authorized GETs per path. */
  const webGets = new Map<string, number>();

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
    dir = await tempDir('modelgate-stores-e2e-');
    store = await startModelStore(c.node, path.join(dir, 'store'));
    s3 = await startS3Store();
    s3Endpoint = c.node.relayToHost('stores-s3', await freePort(), Number(new URL(s3.endpoint).port));
    // The registry's token challenge must name an address pods can reach: the relayed token service.
    const tokenRelayPort = await freePort();
    const regRelayPort = await freePort();
    reg = await startRegistry({ realm: () => `http://10.244.0.1:${tokenRelayPort}/token` });
    c.node.relayToHost('stores-oci-token', tokenRelayPort, reg.tokenPort);
    regHost = new URL(c.node.relayToHost('stores-oci', regRelayPort, Number(reg.host.split(':')[1]))).host;
    await s3.createBucket('models');
    // An https model server with basic auth and a certificate from a CA of this run (for the pod-network address).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'web.key', '-out', 'web.crt', '-subj', '/CN=10.244.0.1', '-addext', 'subjectAltName=IP:10.244.0.1', '-days', '1'], { cwd: dir, stdio: 'ignore' });
    webCa = readFileSync(path.join(dir, 'web.crt'), 'utf8');
    web = https.createServer({ key: readFileSync(path.join(dir, 'web.key')), cert: webCa }, (req, res) => {
      const body = webFiles.get(req.url ?? '');
      if (req.headers.authorization !== `Basic ${Buffer.from(`ml:${WEB_PASSWORD}`).toString('base64')}`) return res.writeHead(401, { 'www-authenticate': 'Basic realm="models"' }).end();
      if (!body) return res.writeHead(404).end();
      webGets.set(req.url ?? '', (webGets.get(req.url ?? '') ?? 0) + 1);
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((ok) => web.listen(0, '127.0.0.1', ok));
    webBase = c.node.relayToHost('stores-https', await freePort(), (web.address() as AddressInfo).port).replace(/^http:/, 'https:');
    await ensureInClusterOperator(c);
  });

  after(async () => {
    web?.closeAllConnections();
    web?.close();
    await s3?.stop();
    await reg?.stop();
    await store?.stop();
  });

  const fixture = (name: string): Buffer => readFileSync(path.resolve('test/fixtures/sklearn', name));
  type Validation = NonNullable<ModelCheckpoint['spec']['validation']>;
  const checkpointFor = (name: string, artifact: ModelCheckpoint['spec']['artifact'], validation: Validation = {}): ModelCheckpoint => ({
    apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelCheckpoint', metadata: { name },
    spec: { model: 'ranker', version: name, artifact, target: { deployment: 'ranker', container: 'server' }, validation: { benchmark: { batchSizes: [1], warmupRuns: 1, runs: 3 }, ...validation } },
  });
  const holdout = fixture('cancer-holdout.npz');
  const stageVerdicts = (cp: ModelCheckpoint): string[] => (cp.status?.stages ?? []).map((x) => `${x.stage}:${x.verdict}`);

  /** The rollout done, and every pod of the Deployment serving `version` with the bytes of `digest`. */
  const servedBy = async (ns: string, version: string, digest: string): Promise<Pod[]> => {
    await rolloutStatus(c, ns, 'ranker', 240);
    return expectPodsServing(c, ns, 'ranker', version, digest);
  };

  const deployment = (ns: string): Promise<DeploymentJson> => getJson<DeploymentJson>(c.cp, ns, 'deployment', 'ranker');
  const envOf = (d: DeploymentJson): Record<string, string | undefined> => Object.fromEntries(d.spec.template.spec.containers.find((x) => x.name === 'server')!.env.map((e) => [e.name, e.value]));
  const credentialsVolume = (d: DeploymentJson): string | undefined => d.spec.template.spec.volumes?.find((v) => v.name === CREDENTIALS_VOLUME)?.secret?.secretName;

  it('s3:// then oci://, model and holdout set in each store: v1 waits for its Secret, is validated by a Job pod reading it from a volume, v2 in the operator pod; pods serve each with the mounted Secret; a rollback restores the S3 Secret', async () => {
    const ns = await freshNamespace(c.cp, 'stores');
    const v0 = fixture('cancer-logreg-weak.onnx');
    const v0File = path.join(dir, `${ns}-v0.onnx`);
    writeFileSync(v0File, v0);
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', store.put(v0File), sha256Digest(v0), 'v0'));
    await rolloutStatus(c, ns, 'ranker', 240);
    await apply(c.cp, ns, checkpointFor('v0', { uri: store.put(v0File), digest: sha256Digest(v0) }));
    await waitForCheckpoint(c.cp, ns, 'v0', phaseIs('Healthy'), 240_000);

    // v1 and its holdout set in S3 behind the reader's keys, validated by a Job whose pod reads the Secret from a volume.
    const v1 = fixture('cancer-logreg.onnx');
    await s3.put('models', `${ns}/v1/model.onnx`, v1);
    await s3.put('models', `${ns}/holdout/cancer.npz`, holdout);
    const s3Access = { secretRef: { name: 'model-store' }, s3: { endpoint: s3Endpoint, region: s3.region, forcePathStyle: true } };
    await apply(c.cp, ns, checkpointFor('v1', { uri: `s3://models/${ns}/v1/model.onnx`, digest: sha256Digest(v1), ...s3Access }, {
      runner: 'Job', job: { resources: { requests: { cpu: '50m', memory: '128Mi' } } },
      holdout: { dataset: { uri: `s3://models/${ns}/holdout/cancer.npz`, digest: sha256Digest(holdout), ...s3Access }, task: 'classification' },
    }));
    // The Secret does not exist yet: stalled, and no Job is made that could not read the store.
    const stalled = await waitForCheckpoint(c.cp, ns, 'v1', (x) => x.status?.conditions?.some((k) => k.type === 'Stalled' && k.status === 'True' && k.reason === 'SecretNotFound') ?? false, 120_000);
    assert.match(stalled.status?.conditions?.find((k) => k.type === 'Stalled')?.message ?? '', /Secret 'model-store' named by spec\.artifact\.secretRef does not exist/);
    assert.equal((await getJson<{ items: unknown[] }>(c.cp, ns, 'jobs')).items.length, 0, 'no Job while the Secret is missing');
    await apply(c.cp, ns, secret('model-store', { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey }));
    const d1 = await waitForCheckpoint(c.cp, ns, 'v1', phaseIs('Healthy', 'Failed', 'Rejected'), 300_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await operatorLogs(c)}`);
    });
    assert.equal(d1.status?.phase, 'Healthy', JSON.stringify(d1.status?.conditions));
    assert.ok(stageVerdicts(d1).includes('holdout:Passed') && stageVerdicts(d1).includes('regression:Passed'), stageVerdicts(d1).join(', '));
    // The Job's pod had the Secret as a read-only volume and no credential in its env.
    const jobs = (await getJson<{ items: Array<{ spec: { template: { spec: { volumes?: Array<{ secret?: { secretName: string } }>; containers: Array<{ env: Array<{ value?: string }>; volumeMounts?: Array<{ mountPath: string; readOnly?: boolean }> }> } } } }> }>(c.cp, ns, 'jobs')).items;
    assert.equal(jobs.length, 1, 'one validation Job for v1');
    const jobPod = jobs[0]!.spec.template.spec;
    assert.deepEqual(jobPod.volumes?.flatMap((v) => (v.secret ? [v.secret.secretName] : [])), ['model-store']);
    assert.ok(jobPod.containers[0]!.volumeMounts?.some((m) => m.mountPath === `${SECRETS_DIR}/model-store` && m.readOnly === true));
    assert.ok(!JSON.stringify(jobs).includes(s3.reader.secretAccessKey), 'no Secret value in the Job');
    let d = await deployment(ns);
    let env = envOf(d);
    assert.equal(env.MODEL_URI, `s3://models/${ns}/v1/model.onnx`);
    assert.equal(env[STORE_ENV.s3Endpoint], s3Endpoint);
    assert.equal(env[STORE_ENV.s3ForcePathStyle], 'true');
    assert.equal(env[STORE_ENV.credentialsSecret], 'model-store');
    assert.equal(env[STORE_ENV.credentialsDir], CREDENTIALS_MOUNT);
    assert.equal(credentialsVolume(d), 'model-store', 'the Secret is mounted into the pod template');
    const mount = d.spec.template.spec.containers.find((x) => x.name === 'server')!.volumeMounts?.find((m) => m.name === CREDENTIALS_VOLUME);
    assert.deepEqual([mount?.mountPath, mount?.readOnly], [CREDENTIALS_MOUNT, true]);
    assert.ok(!JSON.stringify(d).includes(s3.reader.secretAccessKey), 'no Secret value in the Deployment');
    await servedBy(ns, 'v1', sha256Digest(v1));

    // v2 in the registry behind a dockerconfigjson; the token service is asked by the pods too.
    // v2 (a random forest, Compatible) and the holdout set in the registry, validated in the operator's pod against v1 read from S3.
    const v2 = fixture('cancer-forest.onnx');
    await reg.push(`${ns}/ranker`, 'v2', v2);
    await reg.push(`${ns}/holdout`, 'cancer', holdout, 'application/vnd.modelgate.holdout.npz');
    const tokensBefore = reg.tokenRequests;
    const ociAccess = { secretRef: { name: 'registry' }, oci: { plainHttp: true } };
    await apply(c.cp, ns, secret('registry', { '.dockerconfigjson': reg.dockerConfig(reg.user.username, reg.user.password, regHost) }, 'kubernetes.io/dockerconfigjson'),
      checkpointFor('v2', { uri: `oci://${regHost}/${ns}/ranker:v2`, digest: sha256Digest(v2), ...ociAccess }, {
        architecture: { policy: 'Compatible' },
        holdout: { dataset: { uri: `oci://${regHost}/${ns}/holdout:cancer`, digest: sha256Digest(holdout), format: 'npz', ...ociAccess }, task: 'classification' },
      }));
    const d2 = await waitForCheckpoint(c.cp, ns, 'v2', phaseIs('Healthy', 'Failed', 'Rejected'), 240_000);
    assert.equal(d2.status?.phase, 'Healthy', JSON.stringify(d2.status?.conditions));
    assert.ok(stageVerdicts(d2).includes('holdout:Passed') && stageVerdicts(d2).includes('regression:Passed'), stageVerdicts(d2).join(', '));
    const point = d2.status?.deployment?.rollbackPoint;
    assert.equal(point?.checkpoint, 'v1');
    assert.deepEqual([point?.secretRef?.name, point?.s3?.endpoint, point?.s3?.forcePathStyle], ['model-store', s3Endpoint, true], 'the rollback point keeps how v1\'s store is reached');
    d = await deployment(ns);
    env = envOf(d);
    assert.equal(env.MODEL_URI, `oci://${regHost}/${ns}/ranker:v2`);
    assert.equal(env[STORE_ENV.ociPlainHttp], 'true');
    assert.equal(env[STORE_ENV.credentialsSecret], 'registry');
    assert.equal(env[STORE_ENV.s3Endpoint], undefined, 'v1\'s S3 settings are gone from the container');
    assert.equal(credentialsVolume(d), 'registry');
    await servedBy(ns, 'v2', sha256Digest(v2));
    // The operator pod and each of the two new pods asked the token service (through the relay).
    assert.ok(reg.tokenRequests - tokensBefore >= 3, `token requests after v2: ${reg.tokenRequests - tokensBefore}`);

    // Back to v1: its S3 settings and its Secret return with its URI.
    await c.cp.kubectl(['-n', ns, 'annotate', 'modelcheckpoint', 'v2', `${ANNOTATIONS.rollbackRequest}=true`]);
    await waitForCheckpoint(c.cp, ns, 'v2', phaseIs('RolledBack'), 120_000);
    d = await deployment(ns);
    env = envOf(d);
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.checkpoint], 'v1');
    assert.equal(env.MODEL_URI, `s3://models/${ns}/v1/model.onnx`);
    assert.equal(env[STORE_ENV.ociPlainHttp], undefined);
    assert.equal(env[STORE_ENV.s3Endpoint], s3Endpoint);
    assert.equal(credentialsVolume(d), 'model-store');
    await servedBy(ns, 'v1', sha256Digest(v1));
  });

  it('https:// with basic auth and a private CA from a Secret: validated, and the pods fetch it with the mounted Secret', async () => {
    const ns = await freshNamespace(c.cp, 'stores-https');
    const v0 = fixture('cancer-logreg-weak.onnx');
    const v0File = path.join(dir, `${ns}-v0.onnx`);
    writeFileSync(v0File, v0);
    await apply(c.cp, ns, outcomesSecret(), sampleDeployment('ranker', store.put(v0File), sha256Digest(v0), 'v0'));
    await rolloutStatus(c, ns, 'ranker', 240);
    const v1 = fixture('cancer-logreg.onnx');
    webFiles.set(`/${ns}/v1.onnx`, v1);
    webFiles.set(`/${ns}/holdout.npz`, holdout);
    const access = { secretRef: { name: 'model-web' } };
    await apply(c.cp, ns, secret('model-web', { username: 'ml', password: WEB_PASSWORD, 'ca.crt': webCa }),
      checkpointFor('v1', { uri: `${webBase}/${ns}/v1.onnx`, digest: sha256Digest(v1), ...access }, {
        holdout: { dataset: { uri: `${webBase}/${ns}/holdout.npz`, digest: sha256Digest(holdout), ...access }, task: 'classification' },
      }));
    const d1 = await waitForCheckpoint(c.cp, ns, 'v1', phaseIs('Healthy', 'Failed', 'Rejected'), 240_000);
    assert.equal(d1.status?.phase, 'Healthy', JSON.stringify(d1.status?.conditions));
    assert.ok(stageVerdicts(d1).includes('holdout:Passed'), stageVerdicts(d1).join(', '));
    const d = await deployment(ns);
    const env = envOf(d);
    assert.equal(env.MODEL_URI, `${webBase}/${ns}/v1.onnx`);
    assert.equal(env[STORE_ENV.credentialsSecret], 'model-web');
    assert.equal(credentialsVolume(d), 'model-web');
    assert.ok(!JSON.stringify(d).includes(WEB_PASSWORD), 'no Secret value in the Deployment');
    await servedBy(ns, 'v1', sha256Digest(v1));
    // The operator and both new pods downloaded it with the Secret's password, trusting the Secret's CA.
    assert.ok((webGets.get(`/${ns}/v1.onnx`) ?? 0) >= 3, `authorized model downloads: ${webGets.get(`/${ns}/v1.onnx`)}`);
  });
});
