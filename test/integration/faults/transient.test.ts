// Transient and terminal failures differ. The model store here is a real HTTP server on loopback
// that counts the requests it gets and answers 503 to the first ones (a fault no real store gives
// on demand): the fetch fails transiently past the fetcher's own retries, the operator retries it
// with backoff, status says the attempt count and the next try, and the checkpoint ends Validated
// and deployed with the attempts recorded. A digest mismatch, terminal, is Failed at once.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { checkpointEvents, recordCheckpoint, waitForRevision } from '../../harness/faults.js';
import { apply, checkpoint, inferenceDeployment } from '../../harness/fixtures.js';
import { kstatus } from '../../harness/kstatus.js';
import { classifierModel, sha256Digest, tempDir } from '../../harness/models.js';
import { phaseIs, startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

/** Serves `files`; answers 503 to the first `failFirst[path]` requests of a path. Counts every request. */
async function flakyStore(files: Record<string, Uint8Array>, failFirst: Record<string, number>): Promise<{ url: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const n = (hits.get(p) ?? 0) + 1;
    hits.set(p, n);
    const body = files[p];
    if (!body) return void res.writeHead(404).end('not found');
    if (n <= (failFirst[p] ?? 0)) return void res.writeHead(503).end('busy');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.byteLength }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('faults: transient failures are retried with backoff, terminal ones fail at once', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let dir: string;
  const model = classifierModel({ features: 4, classes: 3, seed: 21 });
  // The test operator's fetcher tries twice per fetch (fetchRetries 1): 4 refusals fail two fetch attempts.
  const REFUSALS = 4;
  let store: Awaited<ReturnType<typeof flakyStore>>;

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-transient-');
    store = await flakyStore({ '/flaky.onnx': model, '/other.onnx': model }, { '/flaky.onnx': REFUSALS });
    op = await startTestOperator(cp, { fileRoots: [dir], extraArgs: ['--job-attempts=5', '--job-retry-delay=0.3', '--job-retry-max-delay=2'] });
  });
  after(async () => {
    await op?.stop();
    await store?.close();
  });

  it('a store that answers 503 to the first requests: retried, status says the attempt and the next try, ends Validated and deployed with the attempts recorded', async () => {
    const ns = await freshNamespace(cp, 'transient');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const c = checkpoint('v1', { path: '', digest: sha256Digest(model), sizeBytes: model.byteLength, uri: `${store.url}/flaky.onnx` });
    const rec = await recordCheckpoint(cp, ns, 'v1');
    let done: ModelCheckpoint;
    try {
      await apply(cp, ns, c);
      done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy', 'Failed', 'Rejected'), 90_000);
    } finally {
      rec.stop();
    }
    assert.equal(done.status?.phase, 'Healthy', JSON.stringify(done.status?.history));
    assert.equal(store.hits.get('/flaky.onnx')! > REFUSALS, true, `the store was asked again after refusing (${store.hits.get('/flaky.onnx')} requests)`);
    const phases = (done.status?.history ?? []).map((h) => h.phase);
    assert.ok(phases.includes('Validated'), phases.join(' '));
    assert.ok(!phases.includes('Failed'), phases.join(' '));
    assert.deepEqual(done.status?.retry, {
      phase: 'Fetching', attempts: 2, maxAttempts: 5, lastReason: 'FetchFailed', lastMessage: done.status?.retry?.lastMessage,
    }, 'two failed attempts recorded, no next attempt once the phase moved on');
    assert.match(done.status?.retry?.lastMessage ?? '', /HTTP 503/);

    // While it waited: the attempt count, the next try, Reconciling True with a message saying so; kstatus InProgress.
    const waiting = rec.versions.filter((v) => v.status?.retry?.nextAttemptAt);
    assert.deepEqual([...new Set(waiting.map((v) => v.status!.retry!.attempts))], [1, 2], 'attempts 1 and 2 were recorded with a next try');
    for (const v of waiting) {
      assert.equal(v.status?.phase, 'Fetching');
      const reconciling = v.status?.conditions?.find((k) => k.type === 'Reconciling');
      assert.equal(reconciling?.status, 'True');
      assert.match(reconciling?.message ?? '', new RegExp(`attempt ${v.status!.retry!.attempts} of 5 failed \\(transient\\).*next attempt at ${v.status!.retry!.nextAttemptAt!.replace(/[.]/g, '\\.')}`));
      assert.ok(Date.parse(v.status!.retry!.nextAttemptAt!) > Date.parse(v.status!.conditions!.find((k) => k.type === 'Reconciling')!.lastTransitionTime) - 1000);
    }
    assert.deepEqual([...new Set((await kstatus(waiting)).map((k) => k.status))], ['InProgress']);
    const retries = (await checkpointEvents(cp, ns, 'v1')).filter((e) => (e as { action?: string }).action === 'Retry');
    assert.ok(retries.length >= 1, 'a Warning Event says a retry is coming');
  });

  it('a digest mismatch is terminal: Failed at once, one request, no retry recorded', async () => {
    const ns = await freshNamespace(cp, 'terminal');
    await apply(cp, ns, inferenceDeployment('ranker'));
    const before = store.hits.get('/other.onnx') ?? 0;
    const c = checkpoint('v1', { path: '', digest: sha256Digest('something else'), sizeBytes: model.byteLength, uri: `${store.url}/other.onnx` });
    await apply(cp, ns, c);
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Failed', 'Healthy', 'Rejected'), 60_000);
    assert.equal(done.status?.phase, 'Failed');
    assert.equal(done.status?.conditions?.find((k) => k.type === 'Stalled')?.reason, 'DigestMismatch');
    assert.equal(done.status?.retry, undefined);
    // Give a wrongly scheduled retry time to happen (the retry delay is 0.3 s).
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((store.hits.get('/other.onnx') ?? 0) - before, 1, 'fetched once: nothing retried');
    assert.deepEqual((await kstatus([done])).map((k) => k.status), ['Failed']);
  });
});
