// s3:// and oci:// through ArtifactFetcher against REAL stores: SeaweedFS's S3 gateway (verifies
// SigV4, identities file) and Debian's docker-registry (Distribution 2.8) with token auth. The
// objects and images are pushed with real client code (the AWS SDK's S3 client; the OCI push
// protocol in test/harness/registry.ts). Credentials are what src/fetch/secret.ts reads from a Secret.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { StageError } from '../../../src/validation/contract.js';
import { ArtifactFetcher, type StoreCredentials } from '../../../src/fetch/index.js';
import { sha256Digest, tempDir } from '../../harness/models.js';
import { startRegistry, type Registry } from '../../harness/registry.js';
import { startS3Store, type S3Store } from '../../harness/s3store.js';

const MODEL = Buffer.from('an onnx model stand-in: the fetcher only moves and hashes bytes '.repeat(500));
const DIGEST = sha256Digest(MODEL);
const signal = (): AbortSignal => new AbortController().signal;

async function rejectsWith(p: Promise<unknown>, reason: string, pattern: RegExp): Promise<StageError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StageError, `expected StageError ${reason}, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected StageError ${reason}, but the fetch succeeded`);
}

describe('s3:// against SeaweedFS (real S3 gateway verifying SigV4)', function () {
  this.timeout(180_000);
  let s3: S3Store;
  let host: string;
  let cacheDir: string;
  // A fresh cache per fetch: a cached copy would answer without asking the store.
  let n = 0;
  const fetcher = (extra: Partial<ConstructorParameters<typeof ArtifactFetcher>[0]> = {}): ArtifactFetcher =>
    new ArtifactFetcher({ cacheDir: `${cacheDir}/${++n}`, trustedHosts: [host], retries: 1, backoffMs: 10, ...extra });
  const creds = (secretAccessKey?: string): StoreCredentials => ({ secretName: 'ml-s3', s3: { accessKeyId: s3.reader.accessKeyId, secretAccessKey: secretAccessKey ?? s3.reader.secretAccessKey } });

  before(async () => {
    cacheDir = await tempDir('s3-cache-');
    s3 = await startS3Store();
    host = new URL(s3.endpoint).host;
    await s3.createBucket('models');
    await s3.put('models', 'ranker/1.4.0/model.onnx', MODEL);
  });
  after(async () => s3?.stop());

  it('fetches an object with the Secret keys (path-style, endpoint override), verifying the digest', async () => {
    const got = await fetcher().fetch({ uri: 's3://models/ranker/1.4.0/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true }, credentials: creds() }, signal());
    assert.equal(got.sizeBytes, MODEL.length);
  });

  it('a wrong secret key: FetchFailed naming SignatureDoesNotMatch and the Secret, terminal, no file left', async () => {
    const f = fetcher();
    const err = await rejectsWith(
      f.fetch({ uri: 's3://models/ranker/1.4.0/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint }, credentials: creds('not-the-secret-key-0000000000000000000') }, signal()),
      'FetchFailed',
      /SignatureDoesNotMatch.*Secret 'ml-s3'/,
    );
    assert.equal(err.terminal, true);
    assert.doesNotMatch(err.message, /not-the-secret-key|mg-reader-secret/);
  });

  it('no credentials at all on a private bucket: FetchFailed AccessDenied, saying the artifact names no Secret', async () => {
    await rejectsWith(fetcher().fetch({ uri: 's3://models/ranker/1.4.0/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint } }, signal()), 'FetchFailed', /AccessDenied.*names no Secret/);
  });

  it('a missing key: FetchFailed naming NoSuchKey and the key', async () => {
    await rejectsWith(
      fetcher().fetch({ uri: 's3://models/ranker/9.9.9/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint }, credentials: creds() }, signal()),
      'FetchFailed',
      /s3:\/\/models\/ranker\/9\.9\.9\/model\.onnx.*NoSuchKey/,
    );
  });

  it('other bytes under the key: DigestMismatch', async () => {
    await s3.put('models', 'ranker/moved.onnx', Buffer.from('other bytes'));
    await rejectsWith(fetcher().fetch({ uri: 's3://models/ranker/moved.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint }, credentials: creds() }, signal()), 'DigestMismatch', /not the declared/);
  });

  it('the address guard holds: a loopback endpoint not in the trusted hosts is refused before any request', async () => {
    await rejectsWith(
      fetcher({ trustedHosts: [] }).fetch({ uri: 's3://models/ranker/1.4.0/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint }, credentials: creds() }, signal()),
      'ForbiddenDestination',
      /plain http|loopback/,
    );
  });

  it('a cached copy is no way around the store: other credentials asking for the same digest are still refused', async () => {
    const shared = new ArtifactFetcher({ cacheDir: `${cacheDir}/shared`, trustedHosts: [host], retries: 0 });
    const ref = { uri: 's3://models/ranker/1.4.0/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint } };
    await shared.fetch({ ...ref, credentials: creds() }, signal());
    await rejectsWith(shared.fetch({ ...ref, credentials: { ...creds('not-the-secret-key-0000000000000000000'), secretName: 'other-team' } }, signal()), 'FetchFailed', /SignatureDoesNotMatch.*Secret 'other-team'/);
    const again = await shared.fetch({ ...ref, credentials: creds() }, signal());
    assert.equal(again.sizeBytes, MODEL.length);
  });

  it('ambient credentials are used only when the fetcher is given them', async () => {
    const ref = { uri: 's3://models/ranker/1.4.0/model.onnx', digest: DIGEST, s3: { endpoint: s3.endpoint } };
    const got = await fetcher({ ambient: { s3: () => Promise.resolve(s3.reader) } }).fetch(ref, signal());
    assert.equal(got.sizeBytes, MODEL.length);
  });
});

describe('oci:// against docker-registry 2.8 (real registry, token auth)', function () {
  this.timeout(120_000);
  let reg: Registry;
  let pushed: { manifestDigest: string; blobDigest: string };
  let cacheDir: string;
  // A fresh cache per fetch: a cached copy would answer without asking the store.
  let n = 0;
  const fetcher = (): ArtifactFetcher => new ArtifactFetcher({ cacheDir: `${cacheDir}/${++n}`, trustedHosts: ['127.0.0.1'], retries: 1, backoffMs: 10 });
  const creds = (password?: string): StoreCredentials => ({ secretName: 'ml-registry', registries: { [reg.host]: { username: reg.user.username, password: password ?? reg.user.password } } });

  before(async () => {
    cacheDir = await tempDir('oci-cache-');
    reg = await startRegistry();
    pushed = await reg.push('ml/ranker', '1.4.0', MODEL);
  });
  after(async () => reg?.stop());

  it('pulls by tag: the bearer challenge is answered with the dockerconfigjson credentials, the blob digest verified', async () => {
    const before = reg.tokenRequests;
    const got = await fetcher().fetch({ uri: `oci://${reg.host}/ml/ranker:1.4.0`, digest: DIGEST, oci: { plainHttp: true }, credentials: creds() }, signal());
    assert.equal(got.sizeBytes, MODEL.length);
    assert.equal(pushed.blobDigest, DIGEST);
    assert.ok(reg.tokenRequests > before, 'the token service was asked');
  });

  it('pulls by manifest digest', async () => {
    const got = await fetcher().fetch({ uri: `oci://${reg.host}/ml/ranker@${pushed.manifestDigest}`, digest: DIGEST, oci: { plainHttp: true }, credentials: creds() }, signal());
    assert.equal(got.sizeBytes, MODEL.length);
  });

  it('a wrong password: FetchFailed naming UNAUTHORIZED and the Secret', async () => {
    await rejectsWith(
      fetcher().fetch({ uri: `oci://${reg.host}/ml/ranker:1.4.0`, digest: DIGEST, oci: { plainHttp: true }, credentials: creds('wrong') }, signal()),
      'FetchFailed',
      /UNAUTHORIZED.*Secret 'ml-registry'/,
    );
  });

  it('no Secret: FetchFailed saying to name a dockerconfigjson Secret', async () => {
    await rejectsWith(fetcher().fetch({ uri: `oci://${reg.host}/ml/ranker:1.4.0`, digest: DIGEST, oci: { plainHttp: true } }, signal()), 'FetchFailed', /dockerconfigjson Secret/);
  });

  it('a tag moved to other bytes: DigestMismatch', async () => {
    await reg.push('ml/moving', 'latest', MODEL);
    await reg.push('ml/moving', 'latest', Buffer.from('retrained, other bytes'));
    await rejectsWith(fetcher().fetch({ uri: `oci://${reg.host}/ml/moving:latest`, digest: DIGEST, oci: { plainHttp: true }, credentials: creds() }, signal()), 'DigestMismatch', /not the declared/);
  });

  it('a cached copy is no way around the registry: a wrong password for a cached digest is refused', async () => {
    const shared = new ArtifactFetcher({ cacheDir: `${cacheDir}/shared`, trustedHosts: ['127.0.0.1'], retries: 0 });
    const ref = { uri: `oci://${reg.host}/ml/ranker:1.4.0`, digest: DIGEST, oci: { plainHttp: true } };
    await shared.fetch({ ...ref, credentials: creds() }, signal());
    await rejectsWith(shared.fetch({ ...ref, credentials: creds('wrong') }, signal()), 'FetchFailed', /UNAUTHORIZED/);
  });

  it('a missing tag: FetchFailed naming MANIFEST_UNKNOWN', async () => {
    await rejectsWith(
      fetcher().fetch({ uri: `oci://${reg.host}/ml/ranker:9.9.9`, digest: DIGEST, oci: { plainHttp: true }, credentials: creds() }, signal()),
      'FetchFailed',
      /ml\/ranker:9\.9\.9.*MANIFEST_UNKNOWN/,
    );
  });

  it('a manifest whose blob is gone: FetchFailed naming BLOB_UNKNOWN and the blob', async () => {
    const bytes = Buffer.from('a model whose blob is deleted after the push');
    const { blobDigest } = await reg.push('ml/orphan', '1.0.0', bytes);
    await reg.deleteBlob('ml/orphan', blobDigest);
    await rejectsWith(
      fetcher().fetch({ uri: `oci://${reg.host}/ml/orphan:1.0.0`, digest: blobDigest, oci: { plainHttp: true }, credentials: creds() }, signal()),
      'FetchFailed',
      new RegExp(`answered BLOB_UNKNOWN \\(HTTP 404\\) for the blob ${blobDigest}`),
    );
  });

  it('plain http to an untrusted registry is refused before any connection', async () => {
    const f = new ArtifactFetcher({ cacheDir: await tempDir('oci-cache-') });
    await rejectsWith(f.fetch({ uri: `oci://${reg.host}/ml/ranker:1.4.0`, digest: DIGEST, oci: { plainHttp: true }, credentials: creds() }, signal()), 'ForbiddenDestination', /plain http/);
  });
});

describe('5xx from a store are retried (fake: a proxy answering 503 first, no real store produces one on demand)', function () {
  this.timeout(120_000);
  let reg: Registry;
  let proxy: http.Server;
  let failures = 0;

  before(async () => {
    reg = await startRegistry();
    await reg.push('ml/flaky', '1', MODEL);
    proxy = http.createServer((req, res) => {
      if (req.url?.includes('/manifests/') && failures < 2) {
        failures++;
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'busy' }] }));
      }
      const up = http.request({ host: '127.0.0.1', port: Number(reg.host.split(':')[1]), path: req.url, method: req.method, headers: { ...req.headers, host: reg.host } }, (r) => {
        // The registry's challenge names its own address as service; the realm is absolute already.
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  });
  after(async () => {
    proxy?.close();
    await reg?.stop();
  });

  it('a registry answering 503 twice is retried with backoff and the pull succeeds', async () => {
    const host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const f = new ArtifactFetcher({ cacheDir: await tempDir('oci-cache-'), trustedHosts: ['127.0.0.1'], retries: 3, backoffMs: 10 });
    const got = await f.fetch({ uri: `oci://${host}/ml/flaky:1`, digest: DIGEST, oci: { plainHttp: true }, credentials: { secretName: 'r', registries: { [host]: reg.user } } }, signal());
    assert.equal(got.sizeBytes, MODEL.length);
    assert.equal(failures, 2);
  });
});

describe('https:// with credentials and a custom CA from a Secret (real TLS server, a per-run CA)', function () {
  this.timeout(60_000);
  let server: https.Server;
  let base: string;
  let ca: string;
  let cacheDir: string;
  let n = 0;
  const fetcher = (): ArtifactFetcher => new ArtifactFetcher({ cacheDir: `${cacheDir}/${++n}`, trustedHosts: ['127.0.0.1'], retries: 0 });

  before(async () => {
    cacheDir = await tempDir('https-cache-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1'], { cwd: cacheDir, stdio: 'ignore' });
    ca = readFileSync(path.join(cacheDir, 'cert.pem'), 'utf8');
    server = https.createServer({ key: readFileSync(path.join(cacheDir, 'key.pem')), cert: ca }, (req, res) => {
      const ok = req.headers.authorization === `Basic ${Buffer.from('ml:s3cret').toString('base64')}` || req.headers['x-api-key'] === 'k-123';
      if (!ok) return res.writeHead(401, { 'www-authenticate': 'Basic realm="models"' }).end();
      res.writeHead(200, { 'content-length': MODEL.length }).end(MODEL);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server?.close());

  it('basic auth and the CA bundle from the Secret: fetched', async () => {
    const got = await fetcher().fetch({ uri: `${base}/m.onnx`, digest: DIGEST, credentials: { secretName: 'web', basic: { username: 'ml', password: 's3cret' }, ca } }, signal());
    assert.equal(got.sizeBytes, MODEL.length);
  });

  it('a header from the Secret: fetched', async () => {
    const got = await fetcher().fetch({ uri: `${base}/m.onnx`, digest: DIGEST, credentials: { secretName: 'web', headers: { 'x-api-key': 'k-123' }, ca } }, signal());
    assert.equal(got.sizeBytes, MODEL.length);
  });

  it('a wrong password: FetchFailed HTTP 401 naming the Secret', async () => {
    await rejectsWith(fetcher().fetch({ uri: `${base}/m.onnx`, digest: DIGEST, credentials: { secretName: 'web', basic: { username: 'ml', password: 'nope' }, ca } }, signal()), 'FetchFailed', /HTTP 401.*Secret 'web'/);
  });

  it('without the CA bundle the server certificate is not trusted: FetchFailed', async () => {
    await rejectsWith(fetcher().fetch({ uri: `${base}/m.onnx`, digest: DIGEST, credentials: { secretName: 'web', basic: { username: 'ml', password: 's3cret' } } }, signal()), 'FetchFailed', /self-signed|certificate/);
  });
});
