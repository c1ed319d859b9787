// Webhook notifications against a REAL receiver on 127.0.0.1 and the REAL apiserver (the
// ConfigMap and Secret of the checkpoint's namespace): retried with backoff through a receiver
// that fails (503) and recovers, refused for a loopback address that is not trusted, never
// blocking the caller, never logging the secret; and sent by the running operator on Failed.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { ModelCheckpoint } from '../../src/api/types.js';
import { Checkpoints } from '../../src/kube/checkpoints.js';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.js';
import { KubeNotificationSettings, Notifier } from '../../src/notify/notifier.js';
import { buildNotification, type Notification } from '../../src/notify/payload.js';
import { createLogger } from '../../src/observability/logger.js';
import { OperatorMetrics } from '../../src/observability/metrics.js';
import { DestinationGuard } from '../../src/validation/fetch.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../harness/controlplane.js';
import { apply } from '../harness/fixtures.js';
import { startTestOperator, waitForCheckpoint, type TestOperator } from '../harness/operator.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: unknown;
  path: string;
}

/** A webhook receiver on 127.0.0.1 answering `statuses` in order (then 200), slowly if asked. */
async function receiver(statuses: number[] = [], delayMs = 0): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(raw) as unknown, path: req.url ?? '' });
      setTimeout(() => {
        res.statusCode = statuses.shift() ?? 200;
        res.end();
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function capturedLog(): { log: ReturnType<typeof createLogger>; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { log: createLogger({ level: 'debug', stream }), text: () => text };
}

const SECRET_PATH = '/hooks/T0001/B0002/s3cr3t-path-token';
const TOKEN = 'tok-very-secret-123';

function rolledBack(ns: string): ModelCheckpoint {
  return {
    apiVersion: 'modelgate.io/v1alpha1',
    kind: 'ModelCheckpoint',
    metadata: { name: 'ranker-2', namespace: ns, uid: 'u-2' },
    spec: { model: 'ranker', version: '2.0', artifact: { uri: 'https://m.example.com/r.onnx', digest: `sha256:${'b'.repeat(64)}` }, target: { deployment: 'ranker', container: 'server' } },
    status: {
      phase: 'RolledBack',
      deployment: { deployedAt: '2030-01-01T00:00:00Z', deployment: 'ranker', rollbackPoint: { checkpoint: 'ranker-1', version: '1.0', digest: `sha256:${'a'.repeat(64)}`, uri: 'https://m.example.com/r1.onnx' } },
      analysis: { measurements: [
        { metric: 'ctr', phase: 'Successful', at: '2030-01-01T00:01:00Z', value: 0.05 },
        { metric: 'ctr', phase: 'Failed', at: '2030-01-01T00:02:00Z', value: 0.031, baseline: 0.05, bound: 'relative >= -10%', query: 'sum(rate(clicks{version="2.0"}[1m]))' },
      ] },
    },
  };
}

describe('notifications (real receiver on 127.0.0.1, real apiserver)', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let ns: string;
  let settings: KubeNotificationSettings;

  before(async function () {
    this.timeout(30 * 60_000);
    cp = await sharedControlPlane();
    ns = await freshNamespace(cp, 'notify');
    settings = new KubeNotificationSettings(new Checkpoints(new KubeClient(loadKubeConfig(cp.kubeconfigPath))));
  });

  async function configure(namespace: string, url: string, data: Record<string, string> = {}): Promise<void> {
    await apply(cp, namespace,
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook' }, stringData: { url, token: TOKEN } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'modelgate-notifications' }, data: { secret: 'hook', ...data } });
  }

  it('retries through a receiver that fails with 503 and recovers, with the decision\'s numbers and the bearer token; enqueueing never waits', async () => {
    const rx = await receiver([503, 503], 200);
    try {
      await configure(ns, `${rx.url}${SECRET_PATH}`);
      const metrics = new OperatorMetrics({ defaultMetrics: false });
      const logs = capturedLog();
      const notifier = new Notifier({ settings, guard: new DestinationGuard(['127.0.0.1']), log: logs.log, metrics, backoffMs: 50 });
      const n: Notification = buildNotification(rolledBack(ns), 'Monitoring', 'RolledBack', 'AnalysisFailed', 'ctr fell 38% below its baseline', '2030-01-01T00:02:05Z');
      const t0 = performance.now();
      assert.equal(notifier.notify(n), true);
      assert.ok(performance.now() - t0 < 20, 'notify() returned only after delivery');
      await notifier.idle();
      assert.equal(rx.got.length, 3, 'two 503s, then the delivery');
      const last = rx.got[2]!;
      assert.equal(last.path, SECRET_PATH);
      assert.equal(last.headers.authorization, `Bearer ${TOKEN}`);
      const body = last.body as Notification;
      assert.equal(body.event, 'RolledBack');
      assert.equal(body.checkpoint.name, 'ranker-2');
      assert.deepEqual(body.decision, { gate: 'analysis', verdict: 'Failed', metric: 'ctr', value: 0.031, bound: 'relative >= -10%', baseline: 0.05, query: 'sum(rate(clicks{version="2.0"}[1m]))' });
      assert.equal(body.rollbackPoint, 'ranker-1');
      const text = await metrics.render();
      assert.match(text, /^modelgate_notifications_total\{event="RolledBack",result="retried"\} 2$/m);
      assert.match(text, /^modelgate_notifications_total\{event="RolledBack",result="delivered"\} 1$/m);
      assert.ok(!logs.text().includes(TOKEN) && !logs.text().includes('s3cr3t'), `a secret reached the log:\n${logs.text()}`);
    } finally {
      await rx.close();
    }
  });

  it('sends a Slack-compatible message when the ConfigMap asks for format slack, and only the events it lists', async () => {
    const rx = await receiver();
    const other = await freshNamespace(cp, 'notify-slack');
    try {
      await configure(other, rx.url, { format: 'slack', events: 'RolledBack, Rejected' });
      const metrics = new OperatorMetrics({ defaultMetrics: false });
      const notifier = new Notifier({ settings, guard: new DestinationGuard(['127.0.0.1']), log: capturedLog().log, metrics, backoffMs: 50 });
      const cpObj = rolledBack(other);
      notifier.notify(buildNotification(cpObj, 'Deploying', 'Deployed', 'Deployed', 'deployed', '2030-01-01T00:00:00Z'));
      notifier.notify(buildNotification(cpObj, 'Monitoring', 'RolledBack', 'AnalysisFailed', 'ctr fell', '2030-01-01T00:02:05Z'));
      await notifier.idle();
      assert.equal(rx.got.length, 1, 'Deployed is not in data.events');
      const msg = rx.got[0]!.body as { text: string; attachments: Array<{ fields: Array<{ title: string; value: string }> }> };
      assert.match(msg.text, new RegExp(`^ModelCheckpoint ${other}/ranker-2 \\(ranker 2\\.0\\) is RolledBack: AnalysisFailed\\.`));
      const fields = Object.fromEntries(msg.attachments[0]!.fields.map((f) => [f.title, f.value]));
      assert.equal(fields.Metric, 'ctr');
      assert.equal(fields.Value, '0.031');
      assert.equal(fields.Baseline, '0.05');
      assert.equal(fields['Back on'], 'ranker-1');
    } finally {
      await rx.close();
    }
  });

  it('refuses a loopback receiver that is not a trusted host: nothing is sent, it is counted, the reason is logged', async () => {
    const rx = await receiver();
    const other = await freshNamespace(cp, 'notify-guard');
    try {
      await configure(other, `${rx.url}${SECRET_PATH}`);
      const metrics = new OperatorMetrics({ defaultMetrics: false });
      const logs = capturedLog();
      // 127.0.0.1 over http, not trusted: refused by the same guard the artifact fetcher uses.
      const notifier = new Notifier({ settings, guard: new DestinationGuard([]), log: logs.log, metrics, backoffMs: 50 });
      notifier.notify(buildNotification(rolledBack(other), 'Monitoring', 'RolledBack', 'AnalysisFailed', 'x', '2030-01-01T00:02:05Z'));
      await notifier.idle();
      assert.equal(rx.got.length, 0);
      assert.match(await metrics.render(), /^modelgate_notifications_total\{event="RolledBack",result="refused"\} 1$/m);
      assert.match(logs.text(), /not in the operator's trusted hosts/);
      assert.ok(!logs.text().includes('s3cr3t') && !logs.text().includes(TOKEN), logs.text());
    } finally {
      await rx.close();
    }
  });

  it('a ConfigMap naming a Secret that does not exist is refused with a message naming the field', async () => {
    const other = await freshNamespace(cp, 'notify-bad');
    await apply(cp, other, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'modelgate-notifications' }, data: { secret: 'nope' } });
    await assert.rejects(settings.read(other), /the Secret nope named by ConfigMap modelgate-notifications data\.secret does not exist in namespace/);
    assert.equal(await settings.read(await freshNamespace(cp, 'notify-none')), undefined, 'a namespace without the ConfigMap sends nothing');
  });

  describe('from the running operator', () => {
    let op: TestOperator;
    let artifacts: http.Server;
    let base: string;

    before(async () => {
      artifacts = http.createServer((_req, res) => {
        res.statusCode = 404;
        res.end();
      });
      await new Promise<void>((r) => artifacts.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(artifacts.address() as AddressInfo).port}`;
      op = await startTestOperator(cp);
    });

    after(async () => {
      await op?.stop();
      await new Promise((r) => artifacts?.close(r));
    });

    it('the running operator exports modelgate_leader 1 (what the no-leader alert reads)', async () => {
      assert.match(await op.op.metrics.render(), /^modelgate_leader 1$/m);
    });

    it('a checkpoint that ends Failed notifies the namespace\'s webhook, and the checkpoint is not held up by a receiver that keeps failing', async () => {
      const good = await receiver();
      const bad = await receiver([500, 500, 500, 500, 500, 500, 500, 500, 500, 500]);
      const nsA = await freshNamespace(cp, 'notify-op');
      const nsB = await freshNamespace(cp, 'notify-op-bad');
      try {
        await configure(nsA, good.url);
        await configure(nsB, bad.url);
        const ck = (name: string): ModelCheckpoint => ({
          apiVersion: 'modelgate.io/v1alpha1',
          kind: 'ModelCheckpoint',
          metadata: { name },
          spec: { model: 'ranker', version: '9.9', artifact: { uri: `${base}/missing.onnx`, digest: `sha256:${'c'.repeat(64)}` }, target: { deployment: 'ranker', container: 'server' } },
        });
        await apply(cp, nsA, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ranker' }, spec: { selector: { matchLabels: { app: 'r' } }, template: { metadata: { labels: { app: 'r' } }, spec: { containers: [{ name: 'server', image: 'example.invalid/server:1' }] } } } }, ck('missing-a'));
        await apply(cp, nsB, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ranker' }, spec: { selector: { matchLabels: { app: 'r' } }, template: { metadata: { labels: { app: 'r' } }, spec: { containers: [{ name: 'server', image: 'example.invalid/server:1' }] } } } }, ck('missing-b'));
        const a = await waitForCheckpoint(cp, nsA, 'missing-a', (x) => x.status?.phase === 'Failed', 60_000);
        const b = await waitForCheckpoint(cp, nsB, 'missing-b', (x) => x.status?.phase === 'Failed', 60_000);
        assert.equal(a.status?.phase, 'Failed');
        assert.equal(b.status?.phase, 'Failed', 'a failing receiver does not change the checkpoint');
        const deadline = Date.now() + 20_000;
        while (good.got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.equal(good.got.length, 1);
        const body = good.got[0]!.body as Notification;
        assert.equal(body.event, 'Failed');
        assert.equal(body.checkpoint.namespace, nsA);
        assert.equal(body.checkpoint.name, 'missing-a');
        assert.equal(body.reason, a.status?.conditions?.find((c) => c.type === 'Ready')?.reason);
        // Deliveries are asynchronous and independent: the failing receiver's first try may come after the good one's.
        const tried = Date.now() + 20_000;
        while (bad.got.length === 0 && Date.now() < tried) await new Promise((r) => setTimeout(r, 100));
        assert.ok(bad.got.length >= 1, 'the failing receiver was tried');
        // Nothing about the notification is in the checkpoint's status.
        assert.doesNotMatch(JSON.stringify(b.status), /notif/i);
        assert.ok(!JSON.stringify(b.status).includes(bad.url), JSON.stringify(b.status));
      } finally {
        await op.op.notifier.stop();
        await good.close();
        await bad.close();
      }
    });
  });
});
