// A tenant's Prometheus cannot hold or crash the operator (issue 11): the real apiserver, the
// operator in this process with ONE reconcile worker, a real Prometheus for the well-behaved
// checkpoint, and three FAKE Prometheus servers for faults no real one produces on demand: one
// that streams its answer without end, one that never answers, one that redirects to the cloud
// metadata address. Each is cut off or refused, the worker is never held past the reconcile
// deadline, and the checkpoint on the real Prometheus keeps being measured meanwhile. A fourth
// checkpoint names a URL the operator was not started with: it stalls before the deploy and is
// never queried.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { REASON } from '../../../src/api/reasons.js';
import type { AnalysisSpec, ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';
import { startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';
import { startPrometheus, type PrometheusHandle } from '../../harness/prometheus.js';

const DEADLINE_S = 2;
const analysis = (extra: Partial<AnalysisSpec>): AnalysisSpec => ({
  intervalSeconds: 1,
  durationSeconds: 0,
  metrics: [{ name: 'up', direction: 'HigherIsBetter', query: 'vector(1)', min: 0.5 }],
  ...extra,
});
const measurements = (c: ModelCheckpoint) => c.status?.analysis?.measurements ?? [];

describe('a tenant\'s Prometheus cannot hold the operator (real apiserver, real Prometheus, fake faulty Prometheus servers)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let prom: PrometheusHandle;
  let op: TestOperator;
  let dir: string;
  let ns: string;
  let streaming: Server;
  let redirecting: Server;
  let hung: TcpServer;
  const hungSockets = new Set<Socket>();
  /** How long each connection to the never-answering fake stayed open (ms). */
  const hungLifetimes: number[] = [];
  let streamed = 0;
  let redirected = 0;
  const urlOf = (s: Server | TcpServer): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

  before(async function () {
    this.timeout(30 * 60_000);
    streaming = createHttpServer((_req, res) => {
      streamed++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"success","data":{"resultType":"vector","result":[');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    redirecting = createHttpServer((_req, res) => {
      redirected++;
      res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' });
      res.end();
    });
    hung = createTcpServer((s) => {
      const opened = Date.now();
      hungSockets.add(s);
      s.resume();
      s.on('close', () => {
        hungSockets.delete(s);
        hungLifetimes.push(Date.now() - opened);
      });
    });
    for (const s of [streaming, redirecting, hung]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    [cp, prom, dir] = await Promise.all([sharedControlPlane(), startPrometheus({ scrapeInterval: 1 }), tempDir('modelgate-tenantprom-')]);
    op = await startTestOperator(cp, {
      fileRoots: [dir],
      prometheusUrl: prom.url,
      workers: 1,
      extraArgs: [
        `--prometheus-urls=${urlOf(streaming)},${urlOf(hung)}/,${urlOf(redirecting)}`,
        `--reconcile-deadline=${DEADLINE_S}`,
        // Longer than the reconcile deadline: the deadline, not the query timeout, frees the worker.
        '--prometheus-timeout=60',
        '--prometheus-max-response-bytes=262144',
      ],
    });
    ns = await freshNamespace(cp, 'tenantprom');
  });
  after(async function () {
    this.timeout(60_000);
    await op?.stop();
    await prom?.stop();
    for (const s of hungSockets) s.destroy();
    streaming?.closeAllConnections();
    redirecting?.closeAllConnections();
    for (const s of [streaming, redirecting, hung]) if (s) await new Promise((r) => s.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('cuts off the streaming fake, aborts the never-answering fake at the reconcile deadline, refuses the redirect to 169.254.169.254 and the unlisted URL, while the healthy checkpoint goes on', async () => {
    const names = ['healthy', 'stream', 'hung', 'redirect', 'unlisted'] as const;
    await apply(cp, ns, ...names.map((n) => inferenceDeployment(n)));
    const urls: Record<(typeof names)[number], string | undefined> = {
      healthy: undefined, // the operator's default: the real Prometheus
      stream: urlOf(streaming),
      hung: urlOf(hung),
      redirect: urlOf(redirecting),
      unlisted: 'http://127.0.0.1:1',
    };
    let seed = 300;
    for (const n of names) {
      const art = await writeArtifact(dir, `${ns}-${n}.onnx`, classifierModel({ features: 4, classes: 3, seed: seed++ }));
      await apply(cp, ns, checkpoint(n, art, { deployment: n, analysis: analysis(urls[n] ? { prometheusUrl: urls[n] } : {}) }));
    }

    // The never-answering fake is queried; its connection is closed at the reconcile deadline, not the 60 s query timeout.
    await waitFor('the never-answering fake to be queried and cut off twice', async () => (hungLifetimes.length >= 2 ? true : undefined), 180_000, 200);
    for (const ms of hungLifetimes) assert.ok(ms < DEADLINE_S * 1000 + 3_000, `a query to the never-answering fake stayed open ${ms} ms`);
    assert.ok(hungSockets.size <= 1, `${hungSockets.size} connections to the never-answering fake are open at once`);

    // Meanwhile the one worker keeps measuring the healthy checkpoint on the real Prometheus.
    const during = Date.now();
    const healthy = await waitForCheckpoint(cp, ns, 'healthy', (c) => measurements(c).filter((m) => Date.parse(m.at) > during && m.phase === 'Successful').length >= 3, 60_000);
    assert.equal(healthy.status?.phase, 'Monitoring');
    assert.ok(hungLifetimes.length >= 2 && hungSockets.size <= 1);

    const stream = await waitForCheckpoint(cp, ns, 'stream', (c) => measurements(c).some((m) => m.phase === 'Error'), 60_000);
    assert.match(measurements(stream).find((m) => m.phase === 'Error')?.message ?? '', /TooLarge: .*more than 262144 bytes; the answer was cut off/);
    assert.ok(streamed >= 1);

    const redirect = await waitForCheckpoint(cp, ns, 'redirect', (c) => measurements(c).some((m) => m.phase === 'Error'), 60_000);
    assert.match(measurements(redirect).find((m) => m.phase === 'Error')?.message ?? '', /Refused: .*redirects to http:\/\/169\.254\.169\.254/);
    assert.ok(redirected >= 1);

    // Refused before the deploy: Stalled, the Deployment never changed, nothing queried.
    const unlisted = await waitForCheckpoint(cp, ns, 'unlisted', (c) => c.status?.conditions?.some((x) => x.type === 'Stalled' && x.status === 'True' && x.reason === REASON.PrometheusUrlNotAllowed) ?? false, 60_000);
    const cond = unlisted.status?.conditions?.find((x) => x.type === 'Stalled');
    assert.match(cond?.message ?? '', /spec\.analysis\.prometheusUrl "http:\/\/127\.0\.0\.1:1" is not one of the Prometheus URLs/);
    assert.match(cond?.message ?? '', /--prometheus-urls \(env MODELGATE_PROMETHEUS_URLS\)/);
    assert.equal(unlisted.status?.phase, 'Validated');
    assert.deepEqual(measurements(unlisted), [], 'the unlisted URL was never queried');
    const d = await getJson<{ metadata: { generation: number; annotations?: Record<string, string> } }>(cp, ns, 'deployment', 'unlisted');
    assert.equal(d.metadata.generation, 1, 'the Deployment of the refused checkpoint was never changed');
    const events = await cp.kubectl(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=unlisted', '-o', 'jsonpath={.items[*].reason}']);
    assert.match(events.stdout, /PrometheusUrlNotAllowed/);

    // The never-answering checkpoint recorded nothing against itself: past the deadline the reconcile is dropped and retried.
    const hungCp = await waitForCheckpoint(cp, ns, 'hung', () => true);
    assert.equal(hungCp.status?.phase, 'Monitoring');
    assert.deepEqual(measurements(hungCp).filter((m) => /cancelled/.test(m.message ?? '')), []);
    const reconciles = await op.op.metrics.reconcileTotal.get();
    const errors = reconciles.values.find((v) => v.labels.result === 'error')?.value ?? 0;
    assert.ok(errors >= 2, `reconciles past the deadline are counted as errors (${errors})`);
    const queryErrors = (await op.op.metrics.prometheusQueryErrorsTotal.get()).values.map((v) => v.labels.error);
    for (const e of ['TooLarge', 'Refused']) assert.ok(queryErrors.includes(e), `query errors ${queryErrors.join(', ')} include ${e}`);
  });
});
