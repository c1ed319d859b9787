// The reference inference server on loopback: the Open Inference Protocol round trip with a real
// onnxruntime session, its 400s, its metrics, and (as a real process started from main.ts) the
// digest check that keeps a wrong model from ever becoming ready.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { startInferenceServer, type InferenceServer } from '../../../src/server/app.js';
import { classifierModel, tempDir, writeArtifact, type WrittenFile } from '../../harness/models.js';
import { waitFor } from '../../harness/process.js';
import { spawnServer } from '../../harness/server-process.js';

const TOKEN = 'outcomes-token-for-the-monitor-test';

const post = async (url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('inference server (Open Inference Protocol)', function () {
  this.timeout(60_000);
  let dir: string;
  let model: WrittenFile;
  let server: InferenceServer;
  let base: string;

  before(async () => {
    dir = await tempDir('modelgate-server-');
    model = await writeArtifact(dir, 'model.onnx', classifierModel({ features: 4, classes: 3, seed: 3 }));
    server = await startInferenceServer({ modelPath: model.path, modelName: 'ranker', modelVersion: 'v7', expectedDigest: model.digest, outcomesToken: TOKEN });
    base = `${server.url}/v2/models/ranker`;
  });

  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is live and ready, and describes the model in v2 terms', async () => {
    assert.equal((await fetch(`${server.url}/v2/health/live`)).status, 200);
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    const meta = (await (await fetch(base)).json()) as Record<string, unknown>;
    assert.deepEqual(meta, {
      name: 'ranker',
      versions: ['v7'],
      platform: 'onnxruntime',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      parameters: { digest: model.digest },
    });
    assert.equal((await fetch(`${server.url}/v2/models/other`)).status, 404);
    assert.equal((await fetch(`${base}/versions/v6`)).status, 404);
  });

  it('runs inference: a batch of two gives two probability rows that sum to 1', async () => {
    const r = await post(`${base}/versions/v7/infer`, {
      id: 'req-1',
      inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: [[1, 2, 3, 4], [0, 0, 0, 0]] }],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.id, 'req-1');
    assert.equal(r.body.model_version, 'v7');
    const [out] = r.body.outputs as Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
    assert.ok(out);
    assert.equal(out.name, 'probabilities');
    assert.equal(out.datatype, 'FP32');
    assert.deepEqual(out.shape, [2, 3]);
    for (const row of [out.data.slice(0, 3), out.data.slice(3)]) {
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    // Different inputs, different answers: the model really ran.
    assert.notDeepEqual(out.data.slice(0, 3), out.data.slice(3));
  });

  it('answers 400 naming the bad field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{not json', /not valid JSON/],
      [{}, /^inputs must be a non-empty array/],
      [{ inputs: [{ name: 'y', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.name "y" is not an input.*inputs: x/],
      [{ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.datatype must be FP32/],
      [{ inputs: [{ name: 'x', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] }, /inputs\[0\]\.shape\[1\] is 5; input "x" needs 4/],
      [{ inputs: [{ name: 'x', shape: [4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.shape has 1 dimensions/],
      [{ inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /inputs\[0\]\.data holds 4 values; shape \[2,4\] needs 8/],
      [{ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 'a', 4] }] }, /inputs\[0\]\.data\[2\] must be a number/],
      [{ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }], outputs: [{ name: 'logits' }] }, /outputs\[0\]\.name must be one of probabilities/],
    ];
    for (const [body, message] of cases) {
      const r = await post(`${base}/infer`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(String(r.body.error), message);
    }
    assert.equal((await fetch(`${base}/infer`)).status, 405);
  });

  it('counts requests, latency and prediction scores on /metrics, labelled with model and version', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(series));
      assert.ok(line, `${series} missing from /metrics`);
      return Number(line.slice(series.length).trim());
    };
    assert.equal(value('modelgate_inference_requests_total{model="ranker",version="v7",outcome="success"}'), 1);
    assert.equal(value('modelgate_inference_requests_total{model="ranker",version="v7",outcome="invalid"}'), 9);
    assert.equal(value('modelgate_inference_errors_total{model="ranker",version="v7",type="invalid_request"}'), 9);
    assert.equal(value('modelgate_inference_request_duration_seconds_count{model="ranker",version="v7"}'), 10);
    assert.equal(value('modelgate_prediction_score_count{model="ranker",version="v7"}'), 6);
    assert.equal(value('modelgate_prediction_score_bucket{le="1",model="ranker",version="v7"}'), 6);
    assert.equal(value('modelgate_model_ready{model="ranker",version="v7"}'), 1);
  });

  it('accepts outcome events and batched counts, and refuses a bad event before counting anything', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const ok = await post(`${base}/outcomes`, {
      events: [{ type: 'impression', cost: 0.5 }, { type: 'click' }, { type: 'conversion', revenue: 12 }],
      impressions: 9,
      clicks: 1,
    }, auth);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.accepted, { impressions: 10, clicks: 2, conversions: 1, revenue: 12, cost: 0.5 });
    const bad = await post(`${base}/outcomes`, { events: [{ type: 'click' }, { type: 'purchase' }] }, auth);
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /events\[1\]\.type must be/);
    const neg = await post(`${base}/outcomes`, { conversions: -1 }, auth);
    assert.match(String(neg.body.error), /^conversions must be a non-negative integer/);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /modelgate_outcome_clicks_total\{model="ranker",version="v7"\} 2\n/);
    assert.match(text, /modelgate_outcome_revenue_total\{model="ranker",version="v7"\} 12\n/);
  });
});

describe('inference server process (src/server/main.ts)', function () {
  this.timeout(60_000);
  let dir: string;
  let model: WrittenFile;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = await tempDir('modelgate-server-proc-');
    model = await writeArtifact(dir, 'model.onnx', classifierModel({ features: 4, classes: 3 }));
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  async function launch(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; log: () => string }> {
    const p = await spawnServer({ MODEL_NAME: 'ranker', MODEL_VERSION: 'v1', ...env });
    children.push(p.child);
    await waitFor(`the server process to be live (log: ${p.log()})`, async () => ((await fetch(`${p.url}/v2/health/live`)).ok ? true : undefined), 30_000, 100);
    return p;
  }


  it('refuses readiness on a digest mismatch, says so in its log, and serves nothing', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const [bad, good] = await Promise.all([
      launch({ MODEL_URI: model.uri, MODEL_DIGEST: wrong }),
      launch({ MODEL_URI: model.uri, MODEL_DIGEST: model.digest }),
    ]);
    // The good twin proves the same file and flags can become ready.
    await waitFor('the good server to be ready', async () => ((await fetch(`${good.url}/v2/health/ready`)).ok ? true : undefined), 20_000, 100);
    const meta = (await (await fetch(`${good.url}/v2/models/ranker`)).json()) as { versions: string[] };
    assert.deepEqual(meta.versions, ['v1']);

    await waitFor('the mismatch log line', async () => (bad.log().includes('digest mismatch') ? true : undefined), 20_000, 100);
    const ready = await fetch(`${bad.url}/v2/health/ready`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { reason: string };
    assert.match(body.reason, new RegExp(`digest mismatch: .* is ${model.digest}, MODEL_DIGEST expects ${wrong}`));
    const line = bad.log().split('\n').find((l) => l.includes('digest mismatch'));
    assert.ok(line);
    const parsed = JSON.parse(line) as { level: string; reason: string };
    assert.equal(parsed.level, 'error');
    assert.equal(parsed.reason, 'DigestMismatch');
    const infer = await post(`${bad.url}/v2/models/ranker/infer`, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.equal(infer.status, 503);
    assert.equal((await fetch(`${bad.url}/v2/models/ranker/ready`)).status, 503);

    // SIGTERM ends the process cleanly.
    const exited = new Promise<number | null>((resolve) => good.child.once('exit', (code) => resolve(code)));
    good.child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
