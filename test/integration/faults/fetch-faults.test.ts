// Fetch faults through the whole operator (real apiserver, operator in this process, real ONNX
// validator): a store name DNS does not know, a store that never completes the TCP handshake, a
// store that stops sending mid-body, a digest mismatch and a missing holdout dataset. Each ends
// in Failed with its reason, after bounded retries where the fault is transient, with an Event,
// the partial file removed, and the Deployment untouched. DNS, the handshake and the mid-body
// stop are faults no real store produces on demand, so they come from FAKES on loopback: a fake
// DNS server answering NXDOMAIN (asked through node's real resolver), a listening socket whose
// accept queue is full (the kernel drops further SYNs), and a fake store that goes silent.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { ModelCheckpoint } from '../../../src/api/types.js';
import { ArtifactFetcher } from '../../../src/validation/fetch.js';
import { OnnxValidator } from '../../../src/validation/pipeline.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { checkpointEvents, tempFilesIn } from '../../harness/faults.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, sha256Digest, tempDir, writeArtifact } from '../../harness/models.js';
import { startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';

const CONNECT_MS = 500;
const DEADLINE_MS = 2_000;
const RETRIES = 1;

/** A FAKE DNS server on loopback: every question is answered NXDOMAIN (no such name). */
async function startNxdomainDns(): Promise<{ socket: UdpSocket; port: number; questions: () => number }> {
  const socket = createSocket('udp4');
  let questions = 0;
  socket.on('message', (q, rinfo) => {
    questions++;
    let end = 12;
    while (end < q.length && q[end] !== 0) end += q[end]! + 1;
    const reply = Buffer.from(q.subarray(0, end + 5));
    reply[2] = 0x80 | (q[2]! & 0x01); // a response, recursion desired as asked
    reply[3] = 0x83; // recursion available, RCODE 3 = NXDOMAIN
    reply.writeUInt16BE(1, 4);
    reply.fill(0, 6, 12); // no answers, authority or additional records
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { socket, port: socket.address().port, questions: () => questions };
}

/**
 * A listening socket that never accepts, its accept queue filled: the kernel drops further SYNs,
 * so a connect neither succeeds nor is refused (python, because node always accepts).
 */
async function startFullBacklog(): Promise<{ proc: ChildProcess; port: number; fillers: net.Socket[] }> {
  const proc = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()', // until the test closes stdin
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    proc.once('exit', (code) => reject(new Error(`python3 exited ${code}`)));
  });
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
  return { proc, port, fillers };
}

describe('fetch faults through the operator (real apiserver, real validator, fake DNS and stores)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let op: TestOperator;
  let validator: OnnxValidator;
  let dir: string;
  let cacheDir: string;
  let ns: string;
  let dns: Awaited<ReturnType<typeof startNxdomainDns>>;
  let backlog: Awaited<ReturnType<typeof startFullBacklog>>;
  let silent: http.Server;
  let silentRequests = 0;
  let partialSeen = false;
  let seed = 500;

  before(async function () {
    this.timeout(30 * 60_000);
    [cp, dir] = await Promise.all([sharedControlPlane(), tempDir('modelgate-fetchfaults-')]);
    cacheDir = path.join(dir, 'cache');
    dns = await startNxdomainDns();
    backlog = await startFullBacklog();
    const model = classifierModel({ features: 4, classes: 3, seed: 499 });
    silent = http.createServer((_req, res) => {
      silentRequests++;
      // Declares the whole model, sends the first half, then nothing: the fetch deadline must end it.
      res.writeHead(200, { 'content-length': String(model.length) });
      res.write(Buffer.from(model.subarray(0, Math.floor(model.length / 2))));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const resolver = new Resolver({ timeout: 1_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
    const fetcher = new ArtifactFetcher({
      cacheDir,
      fileRoots: [dir],
      trustedHosts: ['127.0.0.1', 'model-store.invalid'],
      connectTimeoutMs: CONNECT_MS,
      deadlineMs: DEADLINE_MS,
      retries: RETRIES,
      backoffMs: 50,
      // node's real resolver, asking the fake DNS server instead of the machine's.
      resolve: async (host) => (await resolver.resolve4(host)).map((address) => ({ address, family: 4 })),
    });
    validator = new OnnxValidator({ cacheDir, fileRoots: [dir], trustedHosts: ['127.0.0.1'], workers: 1 }, { fetcher });
    await validator.start();
    // One attempt per checkpoint: these tests show what the fetcher does with each fault; the
    // operator's retries of a transient failure (later attempts with backoff) are faults/transient.test.ts.
    op = await startTestOperator(cp, { fileRoots: [dir], validator, extraArgs: ['--job-attempts=1'] });
    ns = await freshNamespace(cp, 'fetchfaults');
  });
  after(async function () {
    this.timeout(60_000);
    await op?.stop();
    await validator?.close();
    dns?.socket.close();
    for (const s of backlog?.fillers ?? []) s.destroy();
    backlog?.proc.stdin?.end();
    if (backlog && backlog.proc.exitCode === null) await new Promise((r) => backlog.proc.once('exit', r));
    silent?.closeAllConnections();
    if (silent) await new Promise((r) => silent.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const failed = (name: string): Promise<ModelCheckpoint> => waitForCheckpoint(cp, ns, name, (c) => c.status?.phase === 'Failed', 120_000);
  const readyMessage = (c: ModelCheckpoint): string => c.status?.conditions?.find((x) => x.type === 'Ready')?.message ?? '';
  /** The Ready condition's reason and the stages' (a gate's failure may be reported on its stage). */
  const reasonsOf = (c: ModelCheckpoint): string[] => [c.status?.conditions?.find((x) => x.type === 'Ready')?.reason ?? '', ...(c.status?.stages ?? []).map((x) => x.reason ?? '')];
  const assertReason = (c: ModelCheckpoint, reason: string): void => assert.ok(reasonsOf(c).includes(reason), `${c.metadata.name}: expected ${reason}, got ${JSON.stringify(reasonsOf(c))} (${readyMessage(c)})`);
  async function assertUntouched(deployment: string, c: ModelCheckpoint): Promise<void> {
    const d = await getJson<{ metadata: { generation: number }; spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string }> }> } } } }>(cp, ns, 'deployment', deployment);
    assert.equal(d.metadata.generation, 1, `${c.metadata.name}: the Deployment spec was never changed`);
    assert.ok(!(d.spec.template.spec.containers[0]?.env ?? []).some((e) => e.name === 'MODEL_DIGEST'), 'no model was deployed');
    assert.ok(!(c.status?.history ?? []).some((h) => h.phase === 'Validated' || h.phase === 'Deploying'), `${c.metadata.name} was never Validated: ${JSON.stringify(c.status?.history?.map((h) => h.phase))}`);
  }
  async function assertEvent(name: string, reason: string, says: RegExp): Promise<void> {
    const events = await checkpointEvents(cp, ns, name);
    const e = events.find((x) => x.reason === reason && (x as { type?: string }).type === 'Warning');
    assert.ok(e, `${name}: no Warning Event with reason ${reason} among ${JSON.stringify(events.map((x) => x.reason))}`);
    assert.match(e.note ?? '', says);
  }
  const submit = async (name: string, uri: string, digest: string, extra: Partial<ModelCheckpoint['spec']> = {}): Promise<void> => {
    await apply(cp, ns, inferenceDeployment(`d-${name}`));
    const art = { uri, digest, sizeBytes: 100_000, path: '' };
    await apply(cp, ns, checkpoint(name, art, { deployment: `d-${name}`, ...extra }));
  };

  it('a store name DNS does not know (fake NXDOMAIN server, real resolver): retried, then FetchFailed naming ENOTFOUND, with an Event; Deployment untouched', async () => {
    await submit('dns', 'http://model-store.invalid:8080/m.onnx', sha256Digest('x'));
    const c = await failed('dns');
    assertReason(c, 'FetchFailed');
    assert.match(readyMessage(c), /after 2 attempt\(s\): .*ENOTFOUND/);
    assert.ok(dns.questions() >= RETRIES + 1, `the name was asked ${dns.questions()} times: once per attempt`);
    await assertEvent('dns', 'FetchFailed', /ENOTFOUND/);
    await assertUntouched('d-dns', c);
  });

  it('a store that never completes the TCP handshake (accept queue full): the connect timeout fires per attempt, then FetchFailed; Deployment untouched', async () => {
    // The fault is real: a plain connect to it neither connects nor is refused.
    const probe = net.connect(backlog.port, '127.0.0.1');
    const outcome = await new Promise<string>((resolve) => {
      probe.once('connect', () => resolve('connected'));
      probe.once('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
      setTimeout(() => resolve('pending'), 1_000);
    });
    probe.destroy();
    assert.equal(outcome, 'pending', 'the full backlog drops new connections');
    const started = Date.now();
    await submit('connect', `http://127.0.0.1:${backlog.port}/m.onnx`, sha256Digest('y'));
    const c = await failed('connect');
    assertReason(c, 'FetchFailed');
    assert.match(readyMessage(c), new RegExp(`after 2 attempt\\(s\\): no connection to 127\\.0\\.0\\.1:${backlog.port} within ${CONNECT_MS} ms`));
    assert.ok(Date.now() - started < 60_000);
    await assertEvent('connect', 'FetchFailed', /no connection/);
    await assertUntouched('d-connect', c);
  });

  it('a store that stops sending mid-body (fake): the fetch deadline fires, the partial file is removed, FetchFailed; Deployment untouched', async () => {
    const model = classifierModel({ features: 4, classes: 3, seed: 499 });
    const base = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const watching = setInterval(() => {
      if (tempFilesIn(cacheDir).some((f) => f.startsWith('.partial-'))) partialSeen = true;
    }, 20);
    try {
      await submit('midbody', `${base}/m.onnx`, sha256Digest(model));
      const c = await failed('midbody');
      assertReason(c, 'FetchFailed');
      assert.match(readyMessage(c), new RegExp(`no complete response within the ${DEADLINE_MS} ms deadline`));
      await assertEvent('midbody', 'FetchFailed', /deadline/);
      await assertUntouched('d-midbody', c);
    } finally {
      clearInterval(watching);
    }
    assert.ok(partialSeen, 'the half body was being written to a partial file');
    assert.equal(silentRequests, RETRIES + 1, 'one request per attempt');
    assert.deepEqual(tempFilesIn(cacheDir), [], 'no partial file is left');
    assert.ok(!existsSync(path.join(cacheDir, 'sha256', sha256Digest(model).slice(7))), 'nothing was kept under the digest');
  });

  it('a digest mismatch: Failed (DigestMismatch), terminal, a Warning Event with that reason, and the file removed', async () => {
    const file = await writeArtifact(dir, `${ns}-mismatch.onnx`, classifierModel({ features: 4, classes: 3, seed: seed++ }));
    const wrong = sha256Digest('something else');
    await apply(cp, ns, inferenceDeployment('d-mismatch'));
    await apply(cp, ns, checkpoint('mismatch', { ...file, digest: wrong }, { deployment: 'd-mismatch' }));
    const c = await failed('mismatch');
    assertReason(c, 'DigestMismatch');
    assert.equal(c.status?.conditions?.find((x) => x.type === 'Stalled')?.status, 'True', 'terminal');
    await assertEvent('mismatch', 'DigestMismatch', /not the declared/);
    const kept = existsSync(path.join(cacheDir, 'sha256')) ? readdirSync(path.join(cacheDir, 'sha256')) : [];
    assert.ok(!kept.includes(wrong.slice(7)) && !kept.includes(file.digest.slice(7)), `the mismatching file was not kept: ${kept.join(', ')}`);
    assert.deepEqual(tempFilesIn(cacheDir), []);
    await assertUntouched('d-mismatch', c);
  });

  it('a holdout dataset that does not exist: never Validated, Failed (FetchFailed) naming the holdout dataset and the field to fix', async () => {
    const art = await writeArtifact(dir, `${ns}-noholdout.onnx`, classifierModel({ features: 4, classes: 3, seed: seed++ }));
    const missing = path.join(dir, 'no-such-holdout.jsonl');
    await apply(cp, ns, inferenceDeployment('d-noholdout'));
    await apply(cp, ns, checkpoint('noholdout', art, {
      deployment: 'd-noholdout',
      validation: { holdout: { dataset: { uri: `file://${missing}`, digest: sha256Digest('{}'), format: 'jsonl' }, task: 'classification' }, benchmark: { enabled: false } },
    }));
    const c = await failed('noholdout');
    assertReason(c, 'FetchFailed');
    assert.match(readyMessage(c), /holdout dataset file .*no-such-holdout\.jsonl does not exist; check the uri field/);
    await assertEvent('noholdout', 'FetchFailed', /holdout dataset/);
    await assertUntouched('d-noholdout', c);
  });
});
