// The load generator's target mode (what the pod-network entrypoint uses): requests spread
// over the current targets, each target's outcomes posted to that target, and the Ready-pod
// filter the entrypoint applies to the apiserver's pod list.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readyPods } from '../../test/harness/loadgen-main.js';
import { startLoad } from '../../test/harness/loadgen.js';

interface Fake {
  url: string;
  infers: number;
  impressions: number;
  clicks: number;
  conversions: number;
  server: Server;
}

/** A fake inference server; with `version`, its inference answers report that model_version. */
async function fakeServer(version?: string): Promise<Fake> {
  const f: Fake = { url: '', infers: 0, impressions: 0, clicks: 0, conversions: 0, server: createServer() };
  f.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.endsWith('/infer')) f.infers += 1;
      else if (req.url?.endsWith('/outcomes')) {
        const o = JSON.parse(Buffer.concat(chunks).toString()) as { impressions: number; clicks: number; conversions: number };
        f.impressions += o.impressions;
        f.clicks += o.clicks;
        f.conversions += o.conversions;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url?.endsWith('/infer') && version ? JSON.stringify({ model_name: 'm', model_version: version, outputs: [] }) : '{}');
    });
  });
  await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
  return f;
}

describe('load generator targets', () => {
  let a: Fake;
  let b: Fake;
  before(async () => {
    [a, b] = await Promise.all([fakeServer(), fakeServer()]);
  });
  after(async () => {
    for (const f of [a, b]) await new Promise((r) => f.server.close(r));
  });

  it('spreads requests over the current targets, posts each target its own outcomes, and follows a changed list', async () => {
    let targets = [a.url, b.url];
    const load = startLoad({ targets: () => targets, model: 'm', rate: 100, durationMs: 60_000, conversionRate: 0.5, tickMs: 20, requestTimeoutMs: 30_000 });
    const until = async (ok: () => boolean): Promise<void> => {
      while (!ok()) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => a.infers >= 20 && b.infers >= 20);
    // Round robin over both: neither got much more than the other.
    assert.ok(Math.abs(a.infers - b.infers) <= 2, `a ${a.infers}, b ${b.infers}`);
    targets = [b.url];
    // Requests sent to a before the switch may still be on their way: wait until a has had
    // nothing for a second while b kept getting requests.
    for (let seen = -1, bSeen = b.infers; seen !== a.infers || b.infers < bSeen + 20; ) {
      seen = a.infers;
      bSeen = b.infers;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const aAtSwitch = a.infers;
    const bAtSwitch = b.infers;
    await until(() => b.infers >= bAtSwitch + 40);
    assert.equal(a.infers, aAtSwitch, 'a gets nothing once it left the list');
    targets = [];
    await new Promise((r) => setTimeout(r, 200));
    const s = await load.stop();
    assert.equal(s.inferenceErrors, 0, s.lastError);
    const ta = s.perTarget[a.url]!;
    const tb = s.perTarget[b.url]!;
    assert.equal(ta.inferences, a.infers);
    assert.equal(tb.inferences, b.infers);
    assert.equal(ta.impressions, a.impressions, 'a got its own impressions');
    assert.equal(tb.impressions, b.impressions, 'b got its own impressions');
    assert.equal(ta.inferences + tb.inferences, s.inferences);
    assert.ok(s.skipped > 10, `with no targets the due requests are skipped: ${s.skipped}`);
    assert.equal(s.outcomeErrors, 0, s.lastError);
    assert.equal(s.lastError, 'no targets to send to');
  });

  it('converts at the rate of the model version each target reports, the others at the default rate', async () => {
    const [good, bad, unversioned] = await Promise.all([fakeServer('v1'), fakeServer('v2'), fakeServer()]);
    try {
      const load = startLoad({
        targets: () => [good.url, bad.url, unversioned.url], model: 'm', rate: 300, durationMs: 60_000, tickMs: 20, requestTimeoutMs: 30_000,
        clickThroughRate: 0.5, conversionRate: 0.5, conversionRateByVersion: { v2: 0.2, v9: 1 },
      });
      while (bad.clicks < 200 || good.clicks < 200 || unversioned.clicks < 200) await new Promise((r) => setTimeout(r, 20));
      const s = await load.stop();
      assert.equal(s.outcomeErrors, 0, s.lastError);
      assert.equal(s.perTarget[bad.url]?.version, 'v2');
      assert.equal(s.perTarget[unversioned.url]?.version, undefined);
      // Exact counts: within one conversion of the rate (the carry), for each target.
      assert.ok(Math.abs(bad.conversions - 0.2 * bad.clicks) <= 1, `v2: ${bad.conversions} of ${bad.clicks}`);
      assert.ok(Math.abs(good.conversions - 0.5 * good.clicks) <= 1, `v1 (default rate): ${good.conversions} of ${good.clicks}`);
      assert.ok(Math.abs(unversioned.conversions - 0.5 * unversioned.clicks) <= 1, `no version: ${unversioned.conversions} of ${unversioned.clicks}`);
    } finally {
      for (const f of [good, bad, unversioned]) await new Promise((r) => f.server.close(r));
    }
  });

  it('needs exactly one of url and targets', () => {
    assert.throws(() => startLoad({ model: 'm', rate: 1, durationMs: 1, conversionRate: 0 }), /either url or targets/);
    assert.throws(() => startLoad({ url: a.url, targets: () => [], model: 'm', rate: 1, durationMs: 1, conversionRate: 0 }), /either url or targets/);
  });

  it('sends only to pods that are Ready, have an IP and are not being deleted', () => {
    const ready = [{ type: 'Ready', status: 'True' }];
    const pods = readyPods({
      items: [
        { metadata: { name: 'b' }, status: { podIP: '10.244.0.11', conditions: ready } },
        { metadata: { name: 'a' }, status: { podIP: '10.244.0.10', conditions: ready } },
        { metadata: { name: 'starting' }, status: { podIP: '10.244.0.12', conditions: [{ type: 'Ready', status: 'False' }] } },
        { metadata: { name: 'pending' }, status: { conditions: ready } },
        { metadata: { name: 'leaving', deletionTimestamp: '2026-12-02T00:00:00Z' }, status: { podIP: '10.244.0.13', conditions: ready } },
      ],
    });
    assert.deepEqual(pods, [{ name: 'a', ip: '10.244.0.10' }, { name: 'b', ip: '10.244.0.11' }]);
  });
});
