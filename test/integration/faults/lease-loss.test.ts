// A live replica that loses its lease stops acting, before its lease runs out and before another
// replica takes over. Two real operator processes against the real apiserver; the leader talks to
// it through a proxy that can make its Lease requests hang (a FAKE network fault: the requests are
// held, never forwarded, never answered; everything else passes). The process stays alive and its
// other requests work, so only the renew deadline can stop it.
import assert from 'node:assert/strict';
import os from 'node:os';
import { parseConfig } from '../../../src/operator/config.js';
import { startOperator } from '../../../src/operator/operator.js';
import { createLogger } from '../../../src/observability/logger.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { envOf, logLines, readDeployment, revisions, startTrickleServer, stepsLogged, waitForLog, waitForRevision, type LogLine, type TrickleServer } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, sha256Digest, tempDir } from '../../harness/models.js';
import { baseArgs, phaseIs, startOperatorProcess, waitForCheckpoint, type OperatorProcess } from '../../harness/operator.js';
import { waitFor } from '../../harness/process.js';
import { startSlowProxy, type SlowProxy } from '../../harness/slowproxy.js';

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string; leaseDurationSeconds?: number };
}

// The harness runs operator processes with --lease-duration=4 --renew-deadline=3 --retry-period=0.5.
const LEASE_MS = 4000;
const leaseOf = (cp: ControlPlane, leaseNs: string): Promise<Lease> => getJson<Lease>(cp, leaseNs, 'lease', 'modelgate-operator');
const at = (l: LogLine): number => Date.parse(String(l.timestamp));
/** Log lines that are the replica acting: reconcile steps and phase changes. */
const actions = (logPath: string): LogLine[] => logLines(logPath).filter((l) => l.message === 'reconcile step' || String(l.message).startsWith('phase '));

describe('faults: a live replica that lost its lease stops acting', function () {
  this.timeout(150_000);
  let cp: ControlPlane;
  let dir: string;
  let proxy: SlowProxy | undefined;
  let server: TrickleServer | undefined;
  const procs: OperatorProcess[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    dir = await tempDir('modelgate-faults-leaseloss-');
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) await p.stop('SIGKILL').catch(() => undefined);
    await proxy?.close();
    proxy = undefined;
    await server?.close();
    server = undefined;
  });

  it('the leader\'s Lease requests hang mid-fetch: it stops acting within the renew deadline, before its lease expires and before the standby leads; the standby finishes, patching once', async () => {
    const ns = await freshNamespace(cp, 'leaseloss');
    await apply(cp, ns, inferenceDeployment('ranker'));
    await waitForRevision(cp, ns, '1');
    const leaseNs = await freshNamespace(cp, 'lease-hang');
    let blockLease = false;
    proxy = await startSlowProxy(cp, { hang: (_m, url) => blockLease && url.includes('/apis/coordination.k8s.io/') });
    const idA = `${leaseNs}-a`;
    const idB = `${leaseNs}-b`;
    const a = startOperatorProcess(cp, { fileRoots: [dir], identity: idA, leaderElect: true, leaseNamespace: leaseNs, logLevel: 'debug', kubeconfig: proxy.kubeconfigPath });
    procs.push(a);
    await waitForLog(a.logPath, (l) => l.message === 'became leader', 'a becomes leader');
    const b = startOperatorProcess(cp, { fileRoots: [dir], identity: idB, leaderElect: true, leaseNamespace: leaseNs, logLevel: 'debug' });
    procs.push(b);
    await waitForLog(b.logPath, (l) => l.message === 'waiting for leadership', 'b waits for leadership');

    // a is mid-fetch (the store trickles) when its Lease requests start to hang.
    const bytes = classifierModel({ features: 16, classes: 3, seed: 9 });
    server = await startTrickleServer({ 'model.onnx': bytes }, { chunkBytes: 64, everyMs: 100 });
    await apply(cp, ns, checkpoint('v1', { path: '', uri: server.url('model.onnx'), digest: sha256Digest(bytes), sizeBytes: bytes.byteLength }));
    await waitForCheckpoint(cp, ns, 'v1', phaseIs('Fetching'), 40_000).catch((err: Error) => {
      throw new Error(`${err.message}; proxy saw ${proxy?.seen.slice(0, 40).join('\n')}; a's log: ${logLines(a.logPath).slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    assert.ok(actions(a.logPath).length > 0, 'a acts while it leads');
    assert.deepEqual(actions(b.logPath), [], 'the standby does nothing while a leads');

    blockLease = true;
    const blockedAt = Date.now();
    // The Lease as a last renewal left it: nothing of a's lands any more.
    await new Promise((r) => setTimeout(r, 700));
    const frozen = await leaseOf(cp, leaseNs);
    assert.equal(frozen.spec.holderIdentity, idA);
    const lastRenew = Date.parse(frozen.spec.renewTime ?? '');
    assert.ok(Number.isFinite(lastRenew), JSON.stringify(frozen));

    const lost = await waitForLog(a.logPath, (l) => l.message === 'lost leadership: stopping all work', 'a gives up leadership', 15_000);
    assert.ok(proxy.hung > 0, 'a\'s Lease requests were held');
    const exitCode = await a.proc.exited;
    assert.equal(exitCode, 1, 'a exits once it lost its lease');
    const tookOver = await waitForLog(b.logPath, (l) => l.message === 'became leader', 'b becomes leader', 30_000);

    const lostAt = at(lost);
    assert.ok(lostAt < lastRenew + LEASE_MS, `a stopped ${lostAt - lastRenew} ms after its last renewal, not before its ${LEASE_MS} ms lease ran out`);
    assert.ok(lostAt - blockedAt < LEASE_MS, `a stopped ${lostAt - blockedAt} ms after its renewals began to hang`);
    assert.match(String(lost.why), /no lease renewal for \d+ ms \(deadline 3000 ms/);
    assert.ok(lostAt < at(tookOver), 'a stopped before b led');
    // No two leaders act at once: every action of a's precedes b's leadership.
    const lastActionOfA = Math.max(...actions(a.logPath).map(at));
    assert.ok(lastActionOfA <= lostAt, `a acted ${lastActionOfA - lostAt} ms after it lost its lease`);
    assert.ok(actions(b.logPath).every((l) => at(l) >= at(tookOver)), 'b acted only once it led');

    server.release();
    const done = await waitForCheckpoint(cp, ns, 'v1', phaseIs('Healthy'), 60_000);
    const lease = await leaseOf(cp, leaseNs);
    assert.equal(lease.spec.holderIdentity, idB);
    assert.ok((lease.spec.leaseTransitions ?? 0) >= 1);
    assert.deepEqual(stepsLogged(a.logPath, ns, 'v1').filter((s) => s === 'PatchDeployment'), [], 'a never patched');
    assert.equal(envOf((await readDeployment(cp, ns, 'ranker'))!).MODEL_DIGEST, sha256Digest(bytes));
    await waitForRevision(cp, ns, '2');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await revisions(cp, ns), ['1', '2'], 'the Deployment was patched once');
    assert.equal((done.status?.history ?? []).filter((h) => h.phase === 'Deployed').length, 1);
  });

  it('in-process: when the renewals hang, /readyz turns 503 (leadership), the leader gauge drops and the controller stops, all within the renew deadline', async () => {
    const leaseNs = await freshNamespace(cp, 'lease-ready');
    let blockLease = false;
    proxy = await startSlowProxy(cp, { hang: (_m, url) => blockLease && url.includes('/apis/coordination.k8s.io/') });
    const cfg = parseConfig([...baseArgs(cp, os.tmpdir(), { fileRoots: [dir], kubeconfig: proxy.kubeconfigPath }), '--leader-elect=true', `--namespace=${leaseNs}`, `--identity=${leaseNs}-a`, '--lease-duration=4', '--renew-deadline=3', '--retry-period=0.5'], {});
    let lostAt = 0;
    const op = await startOperator(cfg, {
      validator: { fetch: () => Promise.reject(new Error('unused')), validate: () => Promise.reject(new Error('unused')), cleanup: async () => undefined },
      logger: createLogger({ level: 'warn', silent: true }),
      onLeadershipLost: () => (lostAt = Date.now()),
    });
    try {
      await op.leading;
      const readyz = async (): Promise<{ status: number; failing: string[] }> => {
        const r = await fetch(`${op.health.url}/readyz`);
        return { status: r.status, failing: ((await r.json()) as { failing: string[] }).failing };
      };
      let last: unknown;
      await waitFor('the leader is ready', async () => {
        const r = await readyz();
        last = r;
        return r.status === 200 ? true : undefined;
      }, 10_000, 100).catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(last)}`);
      });
      assert.equal(op.elector?.isLeader, true);
      blockLease = true;
      const blockedAt = Date.now();
      await waitFor('leadership given up', async () => (lostAt > 0 ? true : undefined), 10_000, 50);
      assert.ok(lostAt - blockedAt < LEASE_MS, `gave up ${lostAt - blockedAt} ms after the renewals began to hang`);
      assert.equal(op.elector?.isLeader, false);
      const r = await readyz();
      assert.equal(r.status, 503, 'a replica that lost its lease is not ready');
      assert.ok(r.failing.includes('leadership'), JSON.stringify(r));
      const metrics = await (await fetch(`${op.health.metricsUrl}/metrics`)).text();
      assert.match(metrics, /^modelgate_leader 0$/m);
      await waitFor('the controller stopped', async () => (op.controller?.synced === false ? true : undefined), 10_000, 50);
    } finally {
      await op.stop();
    }
  });

  it('renewals have their own request budget: a leader whose shared client limiter is starved (--qps=0.1 --burst=1) keeps its lease', async () => {
    const leaseNs = await freshNamespace(cp, 'lease-budget');
    const idA = `${leaseNs}-a`;
    const a = startOperatorProcess(cp, { fileRoots: [dir], identity: idA, leaderElect: true, leaseNamespace: leaseNs, logLevel: 'debug', extraArgs: ['--qps=0.1', '--burst=1'] });
    procs.push(a);
    await waitForLog(a.logPath, (l) => l.message === 'became leader', 'a becomes leader');
    // The controller's informers now queue their lists and watches behind one request per 10 s;
    // renewals every 0.5 s on that limiter would miss the 3 s deadline at once.
    const start = Date.now();
    let renewals = 0;
    let last = '';
    await waitFor('three lease durations of renewals', async () => {
      const l = await leaseOf(cp, leaseNs);
      assert.equal(l.spec.holderIdentity, idA, 'a still holds the Lease');
      if (l.spec.renewTime && l.spec.renewTime !== last) {
        last = l.spec.renewTime;
        renewals++;
      }
      return Date.now() - start > 3 * LEASE_MS ? true : undefined;
    }, 30_000, 250);
    assert.ok(renewals >= 8, `the Lease was renewed ${renewals} times in ${3 * LEASE_MS} ms`);
    assert.ok(!logLines(a.logPath).some((l) => String(l.message).startsWith('lost leadership')), 'a never lost leadership');
    assert.equal(a.proc.child.exitCode, null, 'a is still running');
    assert.equal((await leaseOf(cp, leaseNs)).spec.leaseTransitions ?? 0, 0);
  });
});
