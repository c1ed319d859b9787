// A real node for the local control plane: containerd + runc (Debian's packages), a kubelet and
// kube-scheduler built from the pinned Kubernetes module, and a pod network (bridge + host-local
// CNI) inside a network namespace this harness creates. The kubelet, containerd and the CNI
// plugins run inside that namespace (nsenter --net, so mounts stay shared with the host); the
// apiserver and the kubelet reach each other through socat relays over unix sockets. Opt-in:
// only suites that need pods start one. stop() leaves nothing behind (see leftovers()).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot, ensureBinaries, repoRoot } from './binaries.js';
import type { ControlPlane } from './controlplane.js';
import { ensurePauseArchive, pauseImage } from './oci.js';
import { issueClient, kubeconfigYaml } from './pki.js';
import { freePort, startProcess, stopProcess, waitFor, type Managed } from './process.js';

export const nodeName = 'localhost';
export const bridgeAddress = '10.244.0.1';
/** Where pods reach the apiserver (a relay inside the pod network namespace). */
export const apiserverInPodNetwork = { host: bridgeAddress, port: 6443 };

const packages: Array<[string, string]> = [['containerd', '/usr/bin/containerd'], ['runc', '/usr/sbin/runc'],
  ['containernetworking-plugins', '/usr/lib/cni/bridge'], ['socat', '/usr/bin/socat']];
// Paths kubelet, containerd and libcni use whatever they are told: removed at stop if this run made them.
const hardCodedPaths = ['/var/lib/kubelet', '/var/log/containers', '/var/log/pods', '/run/containerd', '/var/lib/cni', '/run/netns',
  '/usr/libexec/kubernetes', '/opt/containerd'];
const cgroupHierarchies = (): string[] => readdirSync('/sys/fs/cgroup').map((c) => path.join('/sys/fs/cgroup', c));

/** Installs the Debian packages a node needs when missing (as root), or says what to install. */
export function ensureNodePackages(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  const missing = packages.filter(([, bin]) => !existsSync(bin)).map(([p]) => p);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`a local node needs root and the Debian packages ${missing.join(' ')}: run as root, or apt-get install -y --no-install-recommends ${missing.join(' ')}`);
  log(`installing ${missing.join(' ')} (apt-get, about 40 s)`);
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed: install them by hand (apt-get install -y --no-install-recommends ${missing.join(' ')})`);
}

/** kubelet and kube-scheduler beside the control plane, built once from the same Go module. */
export function ensureNodeBinaries(log: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): { kubelet: string; scheduler: string } {
  const dir = ensureBinaries(log).dir;
  const kubelet = path.join(dir, 'kubelet');
  const scheduler = path.join(dir, 'kube-scheduler');
  if (existsSync(kubelet) && existsSync(scheduler)) return { kubelet, scheduler };
  if (process.env.KUBEBUILDER_ASSETS) throw new Error(`KUBEBUILDER_ASSETS=${dir} has no kubelet and kube-scheduler: a local node needs both`);
  log('building kubelet and kube-scheduler (first run only, about 2-5 minutes)');
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'build-control-plane.sh'), '--node', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`building kubelet and kube-scheduler failed (exit ${r.status}): see the Go output above`);
  return { kubelet, scheduler };
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface NodeOptions {
  log?: (line: string) => void;
}

let nodeCount = 0;

export class LocalNode {
  readonly netns: string;
  readonly dir: string;
  readonly containerdSocket: string;
  private procs: Managed[] = [];
  private createdPaths: string[] = [];
  private kubeletPort = 0;
  /** The kubelet's cgroup root: its kubepods tree lives under it, apart from any other kubelet's. */
  readonly cgroupRoot: string;
  private stopped = false;

  constructor(private readonly cp: ControlPlane, private readonly opts: NodeOptions = {}) {
    this.dir = path.join(cp.dir, 'node');
    this.netns = `modelgate-${process.pid}-${nodeCount++}`;
    this.containerdSocket = path.join(this.dir, 'containerd.sock');
    this.cgroupRoot = `/${this.netns}`;
  }

  private log(l: string): void {
    (this.opts.log ?? (() => undefined))(l);
  }

  /** argv prefix that runs a command inside the pod network namespace. */
  get inNetns(): string[] {
    return ['nsenter', `--net=/run/netns/${this.netns}`, '--'];
  }

  private startIn(name: string, cmd: string, args: string[]): Managed {
    const m = startProcess(name, 'nsenter', [`--net=/run/netns/${this.netns}`, '--', cmd, ...args], path.join(this.dir, `${name}.log`));
    this.procs.push(m);
    return m;
  }

  private startHost(name: string, cmd: string, args: string[]): Managed {
    const m = startProcess(name, cmd, args, path.join(this.dir, `${name}.log`));
    this.procs.push(m);
    return m;
  }

  ctr(args: string[]): string {
    return sh('ctr', ['--address', this.containerdSocket, '-n', 'k8s.io', ...args]);
  }

  async start(): Promise<this> {
    if (process.getuid?.() !== 0) throw new Error('a local node needs root (network namespace, containerd, cgroups): run as root');
    ensureNodePackages(this.opts.log);
    const bins = ensureNodeBinaries(this.opts.log);
    const pause = ensurePauseArchive();
    for (const p of hardCodedPaths) if (!existsSync(p)) this.createdPaths.push(p);
    mkdirSync(this.dir, { recursive: true });
    for (const h of cgroupHierarchies()) mkdirSync(path.join(h, this.cgroupRoot), { recursive: true });
    const d = (...p: string[]): string => path.join(this.dir, ...p);
    for (const sub of ['cni/net.d', 'cni/ipam', 'kubelet', 'logs', 'volume-plugins']) mkdirSync(d(sub), { recursive: true });

    // The pod network: a namespace holding a bridge whose gateway address is the node's IP.
    this.log(`network namespace ${this.netns}, bridge cni0 ${bridgeAddress}/24`);
    sh('ip', ['netns', 'add', this.netns]);
    const ipn = (...a: string[]): string => sh('ip', ['-n', this.netns, ...a]);
    ipn('link', 'set', 'lo', 'up');
    ipn('link', 'add', 'cni0', 'type', 'bridge');
    ipn('addr', 'add', `${bridgeAddress}/24`, 'dev', 'cni0');
    ipn('link', 'set', 'cni0', 'up');
    writeFileSync(d('cni/net.d/10-modelgate.conflist'), JSON.stringify({
      cniVersion: '1.0.0',
      name: 'modelgate',
      plugins: [{ type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', dataDir: d('cni/ipam'), ranges: [[{ subnet: '10.244.0.0/24', rangeStart: '10.244.0.10', gateway: bridgeAddress }]], routes: [{ dst: '0.0.0.0/0' }] } }],
    }, null, 2));

    writeFileSync(d('containerd.toml'), [
      'version = 2',
      `root = "${d('containerd', 'root')}"`,
      `state = "${d('containerd', 'state')}"`,
      'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      '[grpc]',
      `  address = "${this.containerdSocket}"`,
      '[ttrpc]',
      `  address = "${d('containerd-ttrpc.sock')}"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${pauseImage}"`,
      // This VM's bounding set lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
      '  restrict_oom_score_adj = true',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      '    bin_dir = "/usr/lib/cni"',
      `    conf_dir = "${d('cni/net.d')}"`,
      '  [plugins."io.containerd.grpc.v1.cri".containerd]',
      '    default_runtime_name = "runc"',
      '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
      '      runtime_type = "io.containerd.runc.v2"',
      '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
      '        SystemdCgroup = false',
      '',
    ].join('\n'));
    this.startIn('containerd', 'containerd', ['--config', d('containerd.toml')]);
    await waitFor('containerd', async () => (existsSync(this.containerdSocket) ? true : undefined), 30_000, 100);
    await waitFor('containerd to answer', async () => (this.ctr(['version']) ? true : undefined), 30_000, 200);
    this.ctr(['images', 'import', '--all-platforms', pause]);

    // Relays: kubelet (and pods) -> apiserver; apiserver -> kubelet (logs, exec, port-forward).
    const apiPort = new URL(this.cp.server).port;
    this.kubeletPort = await freePort();
    this.startHost('relay-apiserver-host', 'socat', [`UNIX-LISTEN:${d('apiserver.sock')},fork`, `TCP:127.0.0.1:${apiPort}`]);
    this.startIn('relay-apiserver-netns', 'socat', [`TCP-LISTEN:${apiserverInPodNetwork.port},fork,reuseaddr`, `UNIX-CONNECT:${d('apiserver.sock')}`]);
    this.startIn('relay-kubelet-netns', 'socat', [`UNIX-LISTEN:${d('kubelet.sock')},fork`, `TCP:127.0.0.1:${this.kubeletPort}`]);
    this.startHost('relay-kubelet-host', 'socat', [`TCP-LISTEN:${this.kubeletPort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${d('kubelet.sock')}`]);

    // The kubelet authenticates as system:node:localhost; RBAC only here, so bind system:node.
    const pki = this.cp.pki;
    const nodeCert = issueClient(pki, 'node', `system:node:${nodeName}`, 'system:nodes');
    const schedCert = issueClient(pki, 'scheduler', 'system:kube-scheduler');
    await this.cp.kubectl(['create', 'clusterrolebinding', 'modelgate-system-nodes', '--clusterrole=system:node', '--group=system:nodes']);
    writeFileSync(d('kubelet.kubeconfig'), kubeconfigYaml(`https://127.0.0.1:${apiserverInPodNetwork.port}`, pki.caCert, nodeCert.cert, nodeCert.key, 'node'), { mode: 0o600 });
    writeFileSync(d('scheduler.kubeconfig'), kubeconfigYaml(this.cp.server, pki.caCert, schedCert.cert, schedCert.key, 'scheduler'), { mode: 0o600 });

    writeFileSync(d('kubelet.yaml'), JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // The host has the cgroup v1 (hybrid) layout: allowed explicitly, cgroupfs driver.
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      cgroupRoot: this.cgroupRoot,
      containerRuntimeEndpoint: `unix://${this.containerdSocket}`,
      address: '127.0.0.1',
      port: this.kubeletPort,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: pki.caCert } },
      authorization: { mode: 'AlwaysAllow' },
      podLogsDir: d('logs'),
      volumePluginDir: d('volume-plugins'),
      // A shared disk: never evict or garbage-collect images for a few percent of free space.
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      maxPods: 40,
      resolvConf: '/etc/resolv.conf',
      nodeStatusUpdateFrequency: '2s',
      syncFrequency: '5s',
    }, null, 2));
    this.startIn('kubelet', bins.kubelet, [
      `--config=${d('kubelet.yaml')}`,
      `--kubeconfig=${d('kubelet.kubeconfig')}`,
      `--root-dir=${d('kubelet')}`,
      `--cert-dir=${d('kubelet', 'pki')}`,
      `--hostname-override=${nodeName}`,
      `--node-ip=${bridgeAddress}`,
      '--v=1',
    ]);
    const schedPort = await freePort();
    this.startHost('kube-scheduler', bins.scheduler, [
      `--kubeconfig=${d('scheduler.kubeconfig')}`,
      `--authentication-kubeconfig=${d('scheduler.kubeconfig')}`,
      `--authorization-kubeconfig=${d('scheduler.kubeconfig')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--leader-elect=false',
    ]);
    await waitFor('the node to be Ready', async () => {
      for (const m of this.procs) if (m.child.exitCode !== null) throw new Error(`${m.name} exited with ${m.child.exitCode}: see ${m.logPath}`);
      const r = await this.cp.kubectl(['get', 'node', nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.taints}']);
      return r.code === 0 && r.stdout.startsWith('True ') && !r.stdout.includes('not-ready') ? true : undefined;
    }, 120_000, 500);
    this.log(`node ${nodeName} Ready`);
    return this;
  }

  /** Imports an OCI or docker image archive into containerd's k8s.io namespace (never pulled). */
  importImage(archive: string): void {
    this.ctr(['images', 'import', '--all-platforms', archive]);
  }

  /**
   * A host service reachable from pods: <bridge address>:<podNetworkPort> inside the pod network
   * relays over a unix socket to 127.0.0.1:<hostPort> on the host (as the apiserver relay does).
   * Stopped with the node. Returns the URL base pods use.
   */
  relayToHost(name: string, podNetworkPort: number, hostPort: number): string {
    const sock = path.join(this.dir, `${name}.sock`);
    this.startHost(`relay-${name}-host`, 'socat', [`UNIX-LISTEN:${sock},fork`, `TCP:127.0.0.1:${hostPort}`]);
    this.startIn(`relay-${name}-netns`, 'socat', [`TCP-LISTEN:${podNetworkPort},bind=${bridgeAddress},fork,reuseaddr`, `UNIX-CONNECT:${sock}`]);
    return `http://${bridgeAddress}:${podNetworkPort}`;
  }

  /** pids of the containerd shims this node's containerd started (they outlive containerd). */
  shimPids(): number[] {
    const pids: number[] = [];
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
        if (argv[0]?.endsWith('containerd-shim-runc-v2') && argv.includes(this.containerdSocket)) pids.push(Number(e));
      } catch {
        // gone
      }
    }
    return pids;
  }

  private ourMounts(): string[] {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter(Boolean);
    return mounts.filter((m) => m.startsWith(`${this.dir}/`) || m === `/run/netns/${this.netns}` || this.sandboxNetns.includes(m)).sort((a, b) => b.length - a.length);
  }

  private sandboxNetns: string[] = [];
  private killedShims: number[] = [];

  /** The pod network namespaces at the far end of this node's veths (`ip -o link` names each peer's). */
  private podNetnsOnBridge(): string[] {
    const r = spawnSync('ip', ['-n', this.netns, '-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' });
    return [...(r.stdout ?? '').matchAll(/link-netns (cni-[0-9A-Za-z-]+)/g)].map((m) => `/run/netns/${m[1]}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Pods first, through the kubelet, so sandboxes and their network namespaces are torn down.
    const kubelet = this.procs.find((m) => m.name === 'kubelet');
    if (kubelet && kubelet.child.exitCode === null) {
      await this.cp.kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=1', '--wait=false']);
      await waitFor('the node\'s pods to stop', async () => {
        const tasks = this.ctr(['tasks', 'ls', '-q']).trim();
        return tasks === '' ? true : undefined;
      }, 30_000, 500).catch(() => undefined);
    }
    // Remember the CRI sandboxes' network namespaces (mounted under /run/netns) before they go.
    try {
      const infos = this.ctr(['containers', 'ls', '-q']).trim().split('\n').filter(Boolean);
      for (const id of infos) {
        const spec = this.ctr(['containers', 'info', id]);
        for (const m of spec.matchAll(/"path":\s*"(\/(?:var\/)?run\/netns\/cni-[^"]+)"/g)) this.sandboxNetns.push(m[1]!.replace(/^\/var\/run/, '/run'));
      }
    } catch {
      // containerd already gone
    }
    for (const name of ['kube-scheduler', 'kubelet']) {
      const m = this.procs.find((p) => p.name === name);
      if (m) await stopProcess(m, 10_000);
    }
    const shims = this.shimPids();
    for (const pid of shims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const m of this.procs) await stopProcess(m, 5000);
    await waitFor('the shims to exit', async () => (shims.every((pid) => !isRunning(pid)) ? true : undefined), 10_000, 100).catch(() => undefined);
    this.killedShims = shims;
    // A shim killed while its pod was still running (a Deployment recreating pods outlasts the
    // drain) leaves the pod's processes behind, reparented to pid 1: they are still in this node's
    // cgroup tree, which says exactly which processes are ours.
    const orphans = (): number[] => [...new Set(cgroupHierarchies().flatMap((h) => cgroupProcs(path.join(h, this.cgroupRoot))))];
    for (const pid of orphans()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await waitFor('the pods\' processes to exit', async () => (orphans().every((pid) => !isRunning(pid)) ? true : undefined), 10_000, 100).catch(() => undefined);
    // A pod's network namespace the CRI never tore down (its sandbox not listed above, e.g. one
    // being set up as the node stopped) is still wired to this node's bridge: its veth's peer
    // names it. Found before this node's namespace goes, which takes the veths with it.
    for (const ns of this.podNetnsOnBridge()) if (!this.sandboxNetns.includes(ns)) this.sandboxNetns.push(ns);
    for (const m of this.ourMounts()) spawnSync('umount', ['-l', m]);
    for (const m of this.sandboxNetns) rmSync(m, { force: true });
    spawnSync('ip', ['netns', 'delete', this.netns]);
    // kubepods cgroups (cgroupfs driver): leaves first; only empty cgroups can be removed.
    for (const h of cgroupHierarchies()) removeCgroupTree(path.join(h, this.cgroupRoot));
    for (const p of [...this.createdPaths].reverse()) {
      if (p === '/run/netns') {
        // ip netns mounts /run/netns on itself; leave it while anyone else has a namespace there.
        if (existsSync(p) && readdirSync(p).length === 0) {
          spawnSync('umount', [p]);
          rmSync(p, { recursive: true, force: true });
        }
        continue;
      }
      rmSync(p, { recursive: true, force: true });
    }
  }

  /** What a stopped node left on the host: processes, mounts, namespaces, cgroups, paths. Empty is clean. */
  leftovers(): string[] {
    const out: string[] = [];
    for (const m of this.procs) if (m.child.exitCode === null && m.child.signalCode === null) out.push(`process ${m.name} (${m.child.pid})`);
    for (const pid of new Set([...this.shimPids(), ...this.killedShims.filter(isRunning)])) out.push(`containerd shim pid ${pid}`);
    for (const m of this.ourMounts()) out.push(`mount ${m}`);
    if (existsSync(`/run/netns/${this.netns}`)) out.push(`network namespace ${this.netns}`);
    for (const m of this.sandboxNetns) if (existsSync(m)) out.push(`network namespace ${m}`);
    for (const h of cgroupHierarchies()) if (existsSync(path.join(h, this.cgroupRoot))) out.push(`cgroup ${path.join(h, this.cgroupRoot)}`);
    for (const p of this.createdPaths) if (existsSync(p)) out.push(`host path ${p}`);
    return out;
  }
}

/** Alive and not a zombie (killed shims are adopted by pid 1, which reaps them in its own time). */
function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every pid in a cgroup and the cgroups below it (none when it does not exist). */
function cgroupProcs(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  const walk = (d: string): void => {
    try {
      out.push(...readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    } catch {
      // removed meanwhile
    }
  };
  walk(dir);
  return out;
}

function removeCgroupTree(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // still has tasks: reported by leftovers()
  }
}

/** Cache folder for images built by the harness. */
export const imageCache = (): string => path.join(cacheRoot(), 'images');
