// `npm run cluster -- up [--no-node]|status|down`: the local cluster for people, in the
// background: the control plane and (unless --no-node) a real node that runs pods.
// `up` starts a detached `serve` process that owns the control plane and writes a state file;
// `down` asks it to stop (SIGTERM) and waits; `status` reads the state and asks /readyz.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot, ensureBinaries, repoRoot } from '../test/harness/binaries.js';
import { ControlPlane } from '../test/harness/controlplane.js';
import { LocalNode, ensureNodeBinaries, ensureNodePackages } from '../test/harness/node.js';
import { ensurePauseArchive } from '../test/harness/oci.js';
import { GiveUp, waitFor } from '../test/harness/process.js';

const home = path.join(cacheRoot(), 'cluster');
const statePath = path.join(home, 'state.json');
const logPath = path.join(home, 'cluster.log');

interface State {
  pid: number;
  kubeconfig: string;
  server: string;
  dir: string;
  versions: { kubernetes: string; etcd: string };
  ready: boolean;
  /** The pod network namespace, when a node runs. */
  netns?: string;
}

function readState(): State | undefined {
  if (!existsSync(statePath)) return undefined;
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function printUsage(s: State): void {
  process.stdout.write([
    `control plane up: Kubernetes ${s.versions.kubernetes}, etcd ${s.versions.etcd}, apiserver ${s.server}`,
    `kubeconfig: ${s.kubeconfig}`,
    ...(s.netns ? [`node:       localhost, pod network in /run/netns/${s.netns} (reach pods with nsenter --net=/run/netns/${s.netns} or kubectl port-forward)`] : []),
    `use it:     export KUBECONFIG=${s.kubeconfig}; kubectl get nodes,pods -A`,
    `or:         kubectl --kubeconfig ${s.kubeconfig} api-resources --api-group=modelgate.io`,
    'stop it:    npm run cluster -- down',
    '',
  ].join('\n'));
}

async function up(): Promise<number> {
  const s = readState();
  if (s && alive(s.pid) && s.ready) {
    printUsage(s);
    return 0;
  }
  if (s) rmSync(statePath, { force: true });
  mkdirSync(home, { recursive: true });
  const withNode = !process.argv.includes('--no-node');
  ensureBinaries(); // builds in the foreground on first use, so its progress is visible
  if (withNode) {
    ensureNodePackages();
    ensureNodeBinaries();
    ensurePauseArchive();
  }
  const out = openSync(logPath, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts', 'cluster.ts'), 'serve', ...(withNode ? [] : ['--no-node'])], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  const started = Date.now();
  const state = await waitFor('the control plane to be ready', async () => {
    if (child.pid === undefined || !alive(child.pid)) throw new GiveUp(`the control plane exited early: see ${logPath}`);
    const st = readState();
    return st?.ready ? st : undefined;
  }, 120_000, 200).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  });
  if (!state) return 1;
  process.stdout.write(`started in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  printUsage(state);
  return 0;
}

async function serve(): Promise<void> {
  const dir = path.join(home, 'run');
  rmSync(dir, { recursive: true, force: true });
  const log = (l: string): boolean => process.stdout.write(`${l}\n`);
  const withNode = !process.argv.includes('--no-node');
  const cp = new ControlPlane({ dir, log, nodeControllers: withNode });
  const node = withNode ? new LocalNode(cp, { log }) : undefined;
  const stop = async (): Promise<void> => {
    await node?.stop();
    const left = node?.leftovers() ?? [];
    if (left.length > 0) log(`left behind: ${left.join(', ')}`);
    await cp.stop(true);
    rmSync(statePath, { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  try {
    await cp.start();
    await node?.start();
  } catch (err) {
    process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n`);
    await node?.stop();
    await cp.stop(true);
    process.exit(1);
  }
  const state: State = { pid: process.pid, kubeconfig: cp.kubeconfigPath, server: cp.server, dir, versions: cp.versions, ready: true, netns: node?.netns };
  writeFileSync(statePath, JSON.stringify(state, null, 2));
  setInterval(() => undefined, 1 << 30);
}

async function status(): Promise<number> {
  const s = readState();
  if (!s || !alive(s.pid)) {
    process.stdout.write('control plane: down (start it with `npm run cluster -- up`)\n');
    return 1;
  }
  const kubectl = ensureBinaries().kubectl;
  const ready = await new Promise<string>((resolve) => {
    const c = spawn(kubectl, ['--kubeconfig', s.kubeconfig, 'get', '--raw', '/readyz'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', () => resolve('kubectl not found'));
    c.on('exit', () => resolve(out.trim() || 'not ready'));
  });
  process.stdout.write(`control plane: up (pid ${s.pid}), readyz: ${ready}\n`);
  printUsage(s);
  return ready === 'ok' ? 0 : 1;
}

async function down(): Promise<number> {
  const s = readState();
  if (!s || !alive(s.pid)) {
    rmSync(statePath, { force: true });
    process.stdout.write('control plane: already down\n');
    return 0;
  }
  process.kill(s.pid, 'SIGTERM');
  await waitFor('the control plane to stop', async () => (alive(s.pid) ? undefined : true), 30_000, 200);
  process.stdout.write('control plane: stopped\n');
  return 0;
}

const verb = process.argv[2] ?? 'status';
const verbs: Record<string, () => Promise<number | void>> = { up, status, down, serve };
const fn = verbs[verb];
if (!fn) {
  process.stderr.write(`unknown command "${verb}": use up, status or down\n`);
  process.exit(2);
}
fn().then((code) => {
  if (typeof code === 'number') process.exit(code);
}, (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
