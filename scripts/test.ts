// `npm test`: the whole suite. Makes sure the real parts are there (control-plane binaries,
// Prometheus), runs mocha over unit, integration and end-to-end tests in one process (one
// control plane for all), and ends with the line `N passed, N failed`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBinaries, repoRoot } from '../test/harness/binaries.js';
import { ensureProjectImage } from '../test/harness/image.js';
import { ensureNodeBinaries, ensureNodePackages } from '../test/harness/node.js';
import { ensurePauseArchive } from '../test/harness/oci.js';
import { ensureKubernetesSdPrometheus, ensurePrometheusBinary } from '../test/harness/prometheus.js';
import { ensureRegistryBinary } from '../test/harness/registry.js';
import { ensureSeaweedfs } from '../test/harness/s3store.js';

const tiers = ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'];

function fail(message: string): never {
  process.stderr.write(`${message}\n0 passed, 1 failed\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  try {
    const bins = ensureBinaries();
    process.stderr.write(`control plane: Kubernetes ${bins.versions.kubernetes}, etcd ${bins.versions.etcd} (${bins.dir})\n`);
    const prom = await ensurePrometheusBinary();
    process.stderr.write(`prometheus: ${prom}\n`);
    // The suites with a real node: Debian's containerd, runc, CNI plugins, socat; kubelet and
    // kube-scheduler beside the control plane; the pause image and the project's own image.
    ensureNodePackages();
    const node = ensureNodeBinaries();
    process.stderr.write(`node: ${node.kubelet}, ${ensurePauseArchive()}\n`);
    process.stderr.write(`image: ${ensureProjectImage()}\n`);
    // The pod network's Prometheus discovers pods through the apiserver: Debian's build lacks
    // kubernetes_sd_configs, so upstream's is built once (tools/prometheus).
    process.stderr.write(`prometheus with Kubernetes discovery: ${await ensureKubernetesSdPrometheus()}\n`);
    // The artifact stores of test/integration/stores: SeaweedFS's S3 gateway (built once from the
    // Go module proxy, tools/seaweedfs) and Debian's docker-registry.
    process.stderr.write(`stores: ${ensureSeaweedfs()}, ${ensureRegistryBinary()}\n`);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'modelgate-test-'));
  const results = path.join(tmp, 'results.json');
  const files = args.length > 0 ? args : tiers;
  const mocha = path.join(repoRoot, 'node_modules', '.bin', 'mocha');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(mocha, ['--reporter', path.join(repoRoot, 'test', 'harness', 'reporter.cjs'), ...files], {
      cwd: repoRoot,
      stdio: 'inherit',
      env: { ...process.env, MODELGATE_RESULTS: results },
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
  let passed = 0;
  let failed = 0;
  if (existsSync(results)) {
    const r = JSON.parse(readFileSync(results, 'utf8')) as { passed: number; failed: number; pending: number };
    passed = r.passed;
    failed = r.failed;
    if (r.pending > 0) {
      process.stderr.write(`${r.pending} tests are pending: the suite has no skipped tests, so this counts as a failure\n`);
      failed += r.pending;
    }
  } else {
    failed = Math.max(1, failed);
    process.stderr.write('mocha wrote no results: it crashed before or while loading the tests (see above)\n');
  }
  rmSync(tmp, { recursive: true, force: true });
  if (passed === 0 && failed === 0) failed = 1;
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(code !== 0 || failed > 0 ? 1 : 0);
}

void main();
