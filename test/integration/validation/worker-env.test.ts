// The validation workers' environment: the real worker processes the pool forks, read from
// /proc/<pid>/environ (what a model exploiting onnxruntime could read), never carry the
// operator's Kubernetes address, credentials or settings, and still validate models.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { WorkerPool, workerEnvironment } from '../../../src/validation/worker-pool.js';
import { classifierModel, tempDir, writeArtifact } from '../../harness/models.js';

const PLANTED: Record<string, string> = {
  KUBERNETES_SERVICE_HOST: '10.96.0.1',
  KUBERNETES_SERVICE_PORT: '443',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'planted-secret',
  GITHUB_TOKEN: 'planted-token',
  STORE_CLIENT_SECRET_VALUE: 'planted-client-secret',
  MODELGATE_TRUSTED_HOSTS: 'store.internal',
  MODELGATE_PROMETHEUS_URL: 'http://prom:9090',
};

function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('validation worker environment (real worker processes)', function () {
  this.timeout(60_000);
  const saved: Record<string, string | undefined> = {};
  let pool: WorkerPool | undefined;
  let dir: string;

  before(async () => {
    dir = await tempDir('modelgate-workerenv-');
    for (const [k, v] of Object.entries(PLANTED)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  after(async () => {
    await pool?.close();
    for (const k of Object.keys(PLANTED)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a spawned worker has no KUBERNETES_*, AWS_*, *_TOKEN, *_SECRET* or MODELGATE_* settings, and still inspects a model', async () => {
    const model = await writeArtifact(dir, 'm.onnx', classifierModel({ features: 4, classes: 3 }));
    pool = new WorkerPool({ size: 1, memoryMiB: 512, threads: 2 });
    const info = await pool.run({ type: 'inspect', model: model.path });
    assert.ok(info, 'the worker inspected the model with its scrubbed environment');
    const [pid] = pool.pids;
    assert.ok(pid, 'a worker process is running');
    const env = environOf(pid);
    // The parent does carry them (the check could fail).
    for (const k of Object.keys(PLANTED)) assert.equal(process.env[k], PLANTED[k]);
    const leaked = Object.keys(env).filter((k) => /^KUBERNETES_|^AWS_|_TOKEN$|_SECRET|^MODELGATE_(?!WORKER_THREADS$|FAULT_INJECTION$)/.test(k));
    assert.deepEqual(leaked, [], `the worker's environment carries ${leaked.join(', ')}`);
    for (const v of Object.values(PLANTED)) assert.ok(!Object.values(env).includes(v), `a planted value reached the worker: ${v}`);
    assert.equal(env.PATH, process.env.PATH);
    assert.equal(env.OMP_NUM_THREADS, '2');
    assert.equal(env.MODELGATE_WORKER_THREADS, '2');
    assert.equal(env.MODELGATE_FAULT_INJECTION, undefined, 'fault injection is off unless the pool asks for it');
  });

  it('workerEnvironment keeps only the listed variables and adds the worker\'s own', () => {
    const env = workerEnvironment({ PATH: '/bin', HOME: '/home/op', TMPDIR: '/tmp/x', KUBERNETES_PORT: 'tcp://10.96.0.1:443', SOME_API_TOKEN: 't', MODELGATE_FAULT_INJECTION: '1' }, { threads: 3, faultInjection: false });
    assert.deepEqual(env, { PATH: '/bin', HOME: '/home/op', TMPDIR: '/tmp/x', OMP_NUM_THREADS: '3', MODELGATE_WORKER_THREADS: '3' });
    assert.equal(workerEnvironment({}, { threads: 1, faultInjection: true }).MODELGATE_FAULT_INJECTION, '1');
  });
});
