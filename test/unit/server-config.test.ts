// The inference server's environment (src/server/config.ts): which MODEL_URIs are fetched, the
// digest a remote model needs, and the fetch settings, each bad value refused with one sentence
// that names the variable.
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { configFromEnv, modelPathFromUri, redactUri } from '../../src/server/config.js';
import { trustedHostProblem } from '../../src/validation/fetch.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const remote = (extra: Record<string, string> = {}) => configFromEnv({ MODEL_URI: 'https://models.example.com/ctr/model.onnx', MODEL_DIGEST: DIGEST, ...extra });

describe('inference server configuration (src/server/config.ts)', () => {
  it('serves file:// URIs and paths locally, without a fetcher', () => {
    const c = configFromEnv({ MODEL_URI: 'file:///models/m.onnx', MODEL_VERSION: 'v2', MODEL_NAME: 'ranker', PORT: '9000' });
    assert.equal(c.remote, undefined);
    assert.equal(c.options.modelPath, '/models/m.onnx');
    assert.equal(c.options.expectedDigest, undefined);
    assert.deepEqual([c.options.modelName, c.options.modelVersion, c.options.port, c.options.host], ['ranker', 'v2', 9000, '0.0.0.0']);
    assert.equal(configFromEnv({ MODEL_URI: 'models/m.onnx' }).options.modelPath, path.resolve('models/m.onnx'));
    assert.equal(modelPathFromUri('/abs/m.onnx'), '/abs/m.onnx');
  });

  it('fetches https:// and http:// URIs with the defaults: a cache under the temp folder, 2 GiB, 300 s, 3 retries, nothing trusted', () => {
    const c = remote();
    assert.equal(c.options.modelPath, undefined);
    assert.equal(c.options.expectedDigest, DIGEST);
    assert.ok(c.remote);
    assert.equal(c.remote.uri, 'https://models.example.com/ctr/model.onnx');
    assert.equal(c.remote.digest, DIGEST);
    const f = c.remote.fetcher;
    assert.equal(f.cacheDir, path.join(os.tmpdir(), 'modelgate-models'));
    assert.deepEqual(f.trustedHosts, []);
    assert.equal(f.maxBytes, 2 * 1024 ** 3);
    assert.equal(f.deadlineMs, 300_000);
    assert.equal(f.retries, 3);
    assert.deepEqual(f.settings, { trustedHosts: 'MODEL_TRUSTED_HOSTS', sizeLimit: 'MODEL_MAX_BYTES', digest: 'MODEL_DIGEST' });
    assert.ok(configFromEnv({ MODEL_URI: 'http://store.models.svc:8080/m.onnx', MODEL_DIGEST: DIGEST }).remote);
  });

  it('reads the fetch settings, and MODEL_TRUSTED_HOSTS with the operator\'s list syntax', () => {
    const f = remote({
      MODEL_CACHE_DIR: '/var/cache/models',
      MODEL_TRUSTED_HOSTS: ' store.models.svc:8080, *.internal ,,[::1]:9000 ',
      MODEL_MAX_BYTES: '1000000',
      MODEL_FETCH_TIMEOUT_SECONDS: '30',
      MODEL_FETCH_RETRIES: '0',
    }).remote?.fetcher;
    assert.ok(f);
    assert.equal(f.cacheDir, '/var/cache/models');
    assert.deepEqual(f.trustedHosts, ['store.models.svc:8080', '*.internal', '[::1]:9000']);
    assert.equal(f.maxBytes, 1_000_000);
    assert.equal(f.deadlineMs, 30_000);
    assert.equal(f.retries, 0);
  });

  it('requires MODEL_DIGEST for a remote MODEL_URI, and a well-formed one', () => {
    assert.throws(() => configFromEnv({ MODEL_URI: 'https://models.example.com/m.onnx' }), /^Error: MODEL_DIGEST is not set, and MODEL_URI https:\/\/models\.example\.com\/m\.onnx is remote: set MODEL_DIGEST to sha256:<64 hex>/);
    assert.throws(() => remote({ MODEL_DIGEST: 'sha256:ABC' }), /MODEL_DIGEST "sha256:ABC" is not sha256: followed by 64 lowercase hex digits/);
  });

  it('refuses bad values, naming the variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ MODEL_TRUSTED_HOSTS: 'http://store:8080' }, /MODEL_TRUSTED_HOSTS: "http:\/\/store:8080" is not host, host:port/],
      [{ MODEL_TRUSTED_HOSTS: 'store:99999' }, /MODEL_TRUSTED_HOSTS: "store:99999" has port 99999/],
      [{ MODEL_TRUSTED_HOSTS: 'store/models' }, /MODEL_TRUSTED_HOSTS: "store\/models"/],
      [{ MODEL_MAX_BYTES: '1GiB' }, /MODEL_MAX_BYTES is "1GiB": expected a whole number/],
      [{ MODEL_MAX_BYTES: '0' }, /MODEL_MAX_BYTES is "0"/],
      [{ MODEL_FETCH_TIMEOUT_SECONDS: '-1' }, /MODEL_FETCH_TIMEOUT_SECONDS is "-1"/],
      [{ MODEL_FETCH_RETRIES: '21' }, /MODEL_FETCH_RETRIES is "21": expected a whole number from 0 to 20/],
      [{ PORT: 'http' }, /PORT "http" is not a port number/],
    ];
    for (const [env, message] of cases) assert.throws(() => remote(env), message, JSON.stringify(env));
    assert.throws(() => configFromEnv({}), /MODEL_URI is not set/);
    assert.throws(() => configFromEnv({ MODEL_URI: 'gs://bucket/m.onnx?X-Goog-Signature=secret' }), (err: Error) => {
      assert.match(err.message, /MODEL_URI "gs:\/\/bucket\/m\.onnx\?…" has a scheme the server does not fetch; use https:\/\/, http:\/\/ \(a host in MODEL_TRUSTED_HOSTS\), s3:\/\/, oci:\/\//);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  });

  it('fetches s3:// and oci:// itself, with the store settings and the mounted Secret the operator wrote', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const s3 = configFromEnv({
      MODEL_URI: 's3://models/fraud/v3.onnx', MODEL_DIGEST: digest,
      MODEL_S3_REGION: 'eu-west-1', MODEL_S3_ENDPOINT: 'http://seaweed.store:8333', MODEL_S3_FORCE_PATH_STYLE: 'true',
      MODEL_CREDENTIALS_SECRET: 'model-store', MODEL_CREDENTIALS_DIR: '/var/run/modelgate/model-credentials',
    });
    assert.equal(s3.options.modelPath, undefined);
    assert.equal(s3.remote?.uri, 's3://models/fraud/v3.onnx');
    assert.deepEqual(s3.remote?.access, { s3: { region: 'eu-west-1', endpoint: 'http://seaweed.store:8333', forcePathStyle: true }, secretRef: { name: 'model-store' } });
    assert.equal(s3.remote?.credentialsDir, '/var/run/modelgate/model-credentials');
    assert.equal(s3.remote?.allowAmbient, false);
    const oci = configFromEnv({ MODEL_URI: 'oci://registry.store:5000/models/fraud:v3', MODEL_DIGEST: digest, MODEL_OCI_PLAIN_HTTP: 'true', MODEL_ALLOW_AMBIENT_CREDENTIALS: 'true' });
    assert.deepEqual(oci.remote?.access, { oci: { plainHttp: true } });
    assert.equal(oci.remote?.credentialsDir, undefined);
    assert.equal(oci.remote?.allowAmbient, true);
    // Remote means a digest is required for these schemes too.
    assert.throws(() => configFromEnv({ MODEL_URI: 'oci://registry.store:5000/models/fraud:v3' }), /MODEL_DIGEST is not set, and MODEL_URI oci:\/\/registry\.store:5000\/models\/fraud:v3 is remote/);
    // A Secret name without the folder it is mounted at cannot be read: refused, naming both.
    assert.throws(() => configFromEnv({ MODEL_URI: 's3://models/m.onnx', MODEL_DIGEST: digest, MODEL_CREDENTIALS_SECRET: 'model-store' }),
      /MODEL_CREDENTIALS_SECRET is set but MODEL_CREDENTIALS_DIR is not: set it to the folder the Secret is mounted at/);
    assert.throws(() => configFromEnv({ MODEL_URI: 's3://models/m.onnx', MODEL_DIGEST: digest, MODEL_ALLOW_AMBIENT_CREDENTIALS: 'yes' }),
      /MODEL_ALLOW_AMBIENT_CREDENTIALS is "yes": expected true or false/);
  });

  it('reads OUTCOMES_TOKEN (trimmed, at least 16 characters) and the request limits, with documented defaults', () => {
    const local = (extra: Record<string, string> = {}) => configFromEnv({ MODEL_URI: 'file:///m.onnx', ...extra }).options;
    const d = local();
    assert.equal(d.outcomesToken, undefined);
    assert.deepEqual([d.maxBodyBytes, d.limits, d.maxConcurrentInferences], [16 * 1024 * 1024, { maxJsonDepth: 64, maxTensorElements: 1 << 20 }, 16]);
    assert.equal(local({ OUTCOMES_TOKEN: '' }).outcomesToken, undefined);
    assert.equal(local({ OUTCOMES_TOKEN: '0123456789abcdef\n' }).outcomesToken, '0123456789abcdef');
    const set = local({ MAX_BODY_BYTES: '4096', MAX_JSON_DEPTH: '10', MAX_TENSOR_ELEMENTS: '100', MAX_CONCURRENT_INFERENCES: '3' });
    assert.deepEqual([set.maxBodyBytes, set.limits, set.maxConcurrentInferences], [4096, { maxJsonDepth: 10, maxTensorElements: 100 }, 3]);
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ OUTCOMES_TOKEN: 'short' }, /OUTCOMES_TOKEN is 5 characters: use at least 16/],
      [{ OUTCOMES_TOKEN: '0123456789 abcdef' }, /OUTCOMES_TOKEN is 17 characters with whitespace inside/],
      [{ MAX_CONCURRENT_INFERENCES: '0' }, /MAX_CONCURRENT_INFERENCES is "0": expected a whole number from 1/],
      [{ MAX_JSON_DEPTH: 'deep' }, /MAX_JSON_DEPTH is "deep"/],
      [{ MAX_TENSOR_ELEMENTS: '1e6' }, /MAX_TENSOR_ELEMENTS is "1e6"/],
      [{ MAX_BODY_BYTES: '10' }, /MAX_BODY_BYTES is "10": expected a whole number from 1024/],
    ];
    for (const [env, message] of cases) assert.throws(() => local(env), message, JSON.stringify(env));
    // The token never appears in an error.
    assert.throws(() => local({ OUTCOMES_TOKEN: 'secretish' }), (err: Error) => !err.message.includes('secretish'));
  });

  it('keeps credentials and query strings out of the URI it logs', () => {
    assert.equal(redactUri('https://user:pw@store.example.com/m.onnx?sig=secret'), 'https://store.example.com/m.onnx?…');
    assert.equal(redactUri('https://store.example.com/m.onnx'), 'https://store.example.com/m.onnx');
  });

  it('accepts the trusted-host forms the fetcher matches, and nothing else', () => {
    for (const ok of ['store', 'store:8080', 'store.models.svc.cluster.local', '*.example.com', '*.example.com:443', '10.0.0.7', '10.0.0.7:80', '[::1]:9000', '[fd00::1]', '::1', 'MinIO.local:9000']) {
      assert.equal(trustedHostProblem(ok), undefined, ok);
    }
    for (const bad of ['http://store', 'store/path', 'user@store', '*', '*.', 'store:', 'store:0', '[zz]:80', 'a b']) {
      assert.ok(trustedHostProblem(bad), bad);
    }
  });
});
