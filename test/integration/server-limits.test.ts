// The reference inference server's guards, on real loopback sockets with real onnxruntime on a
// real ONNX file (test/harness/models.ts): the outcomes endpoint's bearer token, the request
// limits (JSON depth, tensor size, body size) and the bound on inferences in progress. Each
// refusal must leave the series the live guard reads (outcome="error", inference_failed, the
// outcome counters) where they were: a client's mistake or a refusal for load is not a model
// failure, and an unauthenticated post is not a click.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { startInferenceServer, type InferenceServer } from '../../src/server/app.js';
import { classifierModel, tempDir, writeArtifact, type WrittenFile } from '../harness/models.js';
import { freePort, waitFor } from '../harness/process.js';
import { spawnServer, type ServerProcess } from '../harness/server-process.js';

const TOKEN = 'a-token-of-at-least-sixteen-characters';
const L = '{model="ranker",version="v1"';

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> };
}

/** One series' value on /metrics, e.g. `modelgate_outcome_clicks_total{model="ranker",version="v1"}`. */
async function metric(server: InferenceServer | string, series: string): Promise<number> {
  const text = await (await fetch(`${typeof server === 'string' ? server : server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is on /metrics`);
  return Number(line.slice(series.length + 1));
}

/** The series that must not move when a request is refused. */
async function guardSeries(server: InferenceServer): Promise<Record<string, number>> {
  const names = [
    `modelgate_inference_requests_total${L},outcome="error"}`,
    `modelgate_inference_requests_total${L},outcome="success"}`,
    `modelgate_inference_errors_total${L},type="inference_failed"}`,
    `modelgate_outcome_impressions_total${L}}`,
    `modelgate_outcome_clicks_total${L}}`,
    `modelgate_outcome_conversions_total${L}}`,
    `modelgate_outcome_revenue_total${L}}`,
    `modelgate_outcome_cost_total${L}}`,
  ];
  const out: Record<string, number> = {};
  for (const n of names) out[n] = await metric(server, n);
  return out;
}

const row = [0.1, 0.2, 0.3, 0.4];
const inferBody = (rows: number) => ({ inputs: [{ name: 'x', shape: [rows, 4], datatype: 'FP32', data: Array.from({ length: rows }, () => row) }] });

describe('inference server guards (src/server/app.ts, v2.ts)', function () {
  this.timeout(60_000);
  let dir: string;
  let model: WrittenFile;
  const servers: InferenceServer[] = [];
  const start = async (extra: Partial<Parameters<typeof startInferenceServer>[0]> = {}): Promise<InferenceServer> => {
    const s = await startInferenceServer({ modelPath: model.path, modelName: 'ranker', modelVersion: 'v1', expectedDigest: model.digest, ...extra });
    servers.push(s);
    return s;
  };

  before(async () => {
    dir = await tempDir('modelgate-server-limits-');
    model = await writeArtifact(dir, 'model.onnx', classifierModel({ features: 4, classes: 3, seed: 5 }));
  });

  after(async () => {
    for (const s of servers) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('outcomes authentication', () => {
    let server: InferenceServer;
    let url: string;
    before(async () => {
      server = await start({ outcomesToken: TOKEN });
      url = `${server.url}/v2/models/ranker/outcomes`;
    });

    it('answers 401 without a token, with a wrong one and with a non-Bearer scheme, and counts nothing', async () => {
      const before = await guardSeries(server);
      const batch = { impressions: 10, clicks: 5, conversions: 2, revenue: 20, cost: 1 };
      const attempts: Array<Record<string, string>> = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: TOKEN }];
      for (const headers of attempts) {
        const r = await post(url, batch, headers);
        assert.equal(r.status, 401, JSON.stringify(headers));
        assert.match(String(r.body.error), /Authorization: Bearer <OUTCOMES_TOKEN>/);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="outcomes"');
      }
      // Not even a malformed body is looked at without the token.
      assert.equal((await post(url, '{not json')).status, 401);
      assert.deepEqual(await guardSeries(server), before);
    });

    it('counts the outcomes sent with the right token', async () => {
      const r = await post(url, { impressions: 10, clicks: 5, conversions: 2, revenue: 20, cost: 1 }, { authorization: `Bearer ${TOKEN}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(await metric(server, `modelgate_outcome_clicks_total${L}}`), 5);
      assert.equal(await metric(server, `modelgate_outcome_conversions_total${L}}`), 2);
      // The scheme is case-insensitive (RFC 9110); inference needs no token.
      assert.equal((await post(url, { clicks: 1 }, { authorization: `bearer ${TOKEN}` })).status, 200);
      assert.equal(await metric(server, `modelgate_outcome_clicks_total${L}}`), 6);
      assert.equal((await post(`${server.url}/v2/models/ranker/infer`, inferBody(1))).status, 200);
    });

    it('disables the endpoint (403, nothing counted) on a server without a token', async () => {
      const open = await start();
      const r = await post(`${open.url}/v2/models/ranker/outcomes`, { clicks: 3 }, { authorization: `Bearer ${TOKEN}` });
      assert.equal(r.status, 403);
      assert.match(String(r.body.error), /disabled: this server has no OUTCOMES_TOKEN/);
      assert.equal(await metric(open, `modelgate_outcome_clicks_total${L}}`), 0);
    });
  });

  describe('request limits', () => {
    let server: InferenceServer;
    let url: string;
    before(async () => {
      server = await start({ outcomesToken: TOKEN });
      url = `${server.url}/v2/models/ranker/infer`;
    });

    it('answers 400 naming MAX_JSON_DEPTH to 2 million nested [ (4 MB, under the body limit), stays up, and counts no failure', async () => {
      const before = await guardSeries(server);
      const invalid0 = await metric(server, `modelgate_inference_requests_total${L},outcome="invalid"}`);
      const n = 2_000_000;
      const body = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":${'['.repeat(n)}${']'.repeat(n)}}]}`;
      assert.ok(body.length > 4_000_000 && body.length < 16 * 1024 * 1024);
      const r = await post(url, body);
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /deeper than the limit of 64 \(MAX_JSON_DEPTH\)/);
      // The same body to the outcomes endpoint (authenticated) is refused the same way.
      const o = await post(`${server.url}/v2/models/ranker/outcomes`, `{"events":${'['.repeat(n)}${']'.repeat(n)}}`, { authorization: `Bearer ${TOKEN}` });
      assert.equal(o.status, 400);
      assert.match(String(o.body.error), /MAX_JSON_DEPTH/);
      assert.equal((await fetch(`${server.url}/v2/health/live`)).status, 200);
      assert.equal((await post(url, inferBody(2))).status, 200, 'the process still serves');
      const after = await guardSeries(server);
      assert.equal(after[`modelgate_inference_requests_total${L},outcome="error"}`], before[`modelgate_inference_requests_total${L},outcome="error"}`]);
      assert.equal(after[`modelgate_inference_errors_total${L},type="inference_failed"}`], before[`modelgate_inference_errors_total${L},type="inference_failed"}`]);
      assert.equal(await metric(server, `modelgate_inference_requests_total${L},outcome="invalid"}`), invalid0 + 1, 'counted as a client error');
    });

    it('flattens nested data without recursion: with MAX_JSON_DEPTH raised, nesting past the shape is a 400, not a stack overflow', async () => {
      const deep = await start({ limits: { maxJsonDepth: 200_000 } });
      const before = await guardSeries(deep);
      const n = 150_000;
      const r = await post(`${deep.url}/v2/models/ranker/infer`, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":${'['.repeat(n)}1${']'.repeat(n)}}]}`);
      assert.equal(r.status, 400);
      assert.match(String(r.body.error), /^inputs\[0\]\.data nests deeper than its shape's 2 dimensions/);
      assert.equal((await post(`${deep.url}/v2/models/ranker/infer`, inferBody(1))).status, 200);
      const after = await guardSeries(deep);
      assert.equal(after[`modelgate_inference_errors_total${L},type="inference_failed"}`], before[`modelgate_inference_errors_total${L},type="inference_failed"}`]);
    });

    it('answers 413 naming MAX_TENSOR_ELEMENTS for a tensor over the limit, before reading its data', async () => {
      const before = await guardSeries(server);
      // 2^20 rows of 4: over the default 2^20 elements; no data needed to be refused.
      const big = await post(url, { inputs: [{ name: 'x', shape: [1 << 20, 4], datatype: 'FP32', data: [] }] });
      assert.equal(big.status, 413);
      assert.match(String(big.body.error), /^inputs\[0\]\.shape \[1048576,4\] holds more than the limit of 1048576 elements per tensor \(MAX_TENSOR_ELEMENTS\)/);
      // A shape whose product overflows a double is refused the same way, not as NaN or Infinity.
      const huge = await post(url, { inputs: [{ name: 'x', shape: [Number.MAX_SAFE_INTEGER, 4], datatype: 'FP32', data: [] }] });
      assert.equal(huge.status, 413);
      const small = await start({ limits: { maxTensorElements: 100 } });
      const r = await post(`${small.url}/v2/models/ranker/infer`, inferBody(26));
      assert.equal(r.status, 413);
      assert.match(String(r.body.error), /limit of 100 elements per tensor \(MAX_TENSOR_ELEMENTS\)/);
      assert.equal((await post(`${small.url}/v2/models/ranker/infer`, inferBody(25))).status, 200, '100 elements is within the limit');
      const after = await guardSeries(server);
      assert.equal(after[`modelgate_inference_requests_total${L},outcome="error"}`], before[`modelgate_inference_requests_total${L},outcome="error"}`]);
    });

    it('answers 413 naming MAX_BODY_BYTES for a body over the limit', async () => {
      const tight = await start({ maxBodyBytes: 2048 });
      const r = await post(`${tight.url}/v2/models/ranker/infer`, inferBody(200));
      assert.equal(r.status, 413);
      assert.match(String(r.body.error), /larger than the limit of 2048 bytes \(MAX_BODY_BYTES\)/);
      assert.equal(await metric(tight, `modelgate_inference_errors_total${L},type="inference_failed"}`), 0);
    });
  });

  describe('concurrent inferences', () => {
    // Requests are held in flight by real slow clients: a socket that sends the headers and half
    // the body, then waits. A slot is taken from the first body byte (a slow upload holds memory
    // as long as a slow model would), so this holds N slots exactly, with no fake delay.
    it('answers 429 with Retry-After once MAX_CONCURRENT_INFERENCES are in progress, and serves again after', async () => {
      const server = await start({ maxConcurrentInferences: 2 });
      const before = await guardSeries(server);
      const { port } = new URL(server.url);
      const body = JSON.stringify(inferBody(1));
      const half = Math.floor(body.length / 2);
      let early = 0;
      const held = [0, 1].map(() => {
        const socket = net.connect(Number(port), '127.0.0.1');
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(answer)));
        socket.write(`POST /v2/models/ranker/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.slice(0, half)}`);
        return { socket, closed };
      });
      try {
        // Until both held sockets' headers have reached the server, a probe may still be served.
        const busy = await waitFor('a 429 while two uploads are in progress', async () => {
          const r = await post(`${server.url}/v2/models/ranker/infer`, inferBody(1));
          if (r.status === 200) early += 1;
          return r.status === 429 ? r : undefined;
        }, 10_000, 50);
        assert.equal(busy.headers.get('retry-after'), '1');
        assert.match(String(busy.body.error), /busy: 2 inferences are in progress \(MAX_CONCURRENT_INFERENCES\)/);
        // Still busy: nothing was released.
        assert.equal((await post(`${server.url}/v2/models/ranker/infer`, inferBody(1))).status, 429);
        assert.ok((await metric(server, `modelgate_inference_rejected_total${L},reason="busy"}`)) >= 2);
        // Health and metrics are not inferences and stay reachable.
        assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
        // The held requests finish and are answered: they were real inferences in progress.
        for (const h of held) h.socket.write(body.slice(half));
        for (const h of held) assert.match(await h.closed, /^HTTP\/1\.1 200 /);
      } finally {
        for (const h of held) h.socket.destroy();
      }
      assert.equal((await post(`${server.url}/v2/models/ranker/infer`, inferBody(1))).status, 200, 'slots are released');
      const after = await guardSeries(server);
      assert.equal(after[`modelgate_inference_requests_total${L},outcome="error"}`], before[`modelgate_inference_requests_total${L},outcome="error"}`]);
      assert.equal(after[`modelgate_inference_errors_total${L},type="inference_failed"}`], before[`modelgate_inference_errors_total${L},type="inference_failed"}`]);
      assert.equal(after[`modelgate_inference_requests_total${L},outcome="success"}`], before[`modelgate_inference_requests_total${L},outcome="success"}`]! + early + 3);
    });
  });
});

describe('inference server process: OUTCOMES_TOKEN and the limits from the environment (src/server/main.ts)', function () {
  this.timeout(60_000);
  let dir: string;
  let model: WrittenFile;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await tempDir('modelgate-server-limits-proc-');
    model = await writeArtifact(dir, 'model.onnx', classifierModel({ features: 4, classes: 3 }));
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  async function launch(env: Record<string, string>, port: number): Promise<ServerProcess> {
    const p = await spawnServer({ MODEL_NAME: 'ranker', MODEL_VERSION: 'v1', MODEL_URI: model.uri, MODEL_DIGEST: model.digest, ...env }, port);
    children.push(p.child);
    return p;
  }


  it('requires the token from OUTCOMES_TOKEN and applies MAX_TENSOR_ELEMENTS', async () => {
    const port = await freePort();
    const { child, exited } = await launch({ OUTCOMES_TOKEN: `${TOKEN}\n`, MAX_TENSOR_ELEMENTS: '8' }, port);
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the server process to be ready', async () => ((await fetch(`${url}/v2/health/ready`).catch(() => undefined))?.ok ? true : undefined), 30_000, 100);
    const outcomes = `${url}/v2/models/ranker/outcomes`;
    assert.equal((await post(outcomes, { clicks: 4 })).status, 401);
    // The Secret's trailing newline is trimmed from the env value, not expected from clients.
    assert.equal((await post(outcomes, { clicks: 4 }, { authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.equal(await metric(url, `modelgate_outcome_clicks_total${L}}`), 4);
    const tooBig = await post(`${url}/v2/models/ranker/infer`, inferBody(3));
    assert.equal(tooBig.status, 413);
    assert.match(String(tooBig.body.error), /limit of 8 elements per tensor \(MAX_TENSOR_ELEMENTS\)/);
    assert.equal((await post(`${url}/v2/models/ranker/infer`, inferBody(2))).status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('logs a warning and disables outcomes without OUTCOMES_TOKEN; refuses to start with a short one (exit 2)', async () => {
    const port = await freePort();
    const open = await launch({ OUTCOMES_TOKEN: '' }, port);
    const url = `http://127.0.0.1:${port}`;
    await waitFor('the server process to be ready', async () => ((await fetch(`${url}/v2/health/ready`).catch(() => undefined))?.ok ? true : undefined), 30_000, 100);
    assert.equal((await post(`${url}/v2/models/ranker/outcomes`, { clicks: 1 })).status, 403);
    const warning = open.log().split('\n').find((l) => l.includes('OUTCOMES_TOKEN is not set'));
    assert.ok(warning, open.log());
    assert.equal((JSON.parse(warning) as { level: string }).level, 'warn');
    open.child.kill('SIGTERM');
    assert.equal(await open.exited, 0);

    const short = await launch({ OUTCOMES_TOKEN: 'short' }, await freePort());
    assert.equal(await short.exited, 2);
    assert.match(short.log(), /OUTCOMES_TOKEN is 5 characters: use at least 16/);
  });
});
