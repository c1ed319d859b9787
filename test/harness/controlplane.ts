// A real local Kubernetes control plane: etcd, kube-apiserver (secure serving, RBAC on,
// per-run certificates and service-account key) and kube-controller-manager (so Deployments
// get ReplicaSets and revisions), on free loopback ports in a temp dir, always torn down.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';
import { ensureBinaries, repoRoot, type Binaries } from './binaries.js';
import { kubeconfigYaml, makePki, type Pki } from './pki.js';
import { freePort, GiveUp, startProcess, stopProcess, waitFor, type Managed } from './process.js';

export interface ControlPlaneOptions {
  /** Install the CRDs from crds/ (default true). */
  installCrds?: boolean;
  /** Start kube-controller-manager (default true). */
  controllerManager?: boolean;
  /** Also run the controllers a node needs (node lifecycle, jobs, pod GC, root CA, TTL). */
  nodeControllers?: boolean;
  /** Keep the temp dir after stop (for `cluster up`). */
  dir?: string;
  log?: (line: string) => void;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

const baseControllers = ['deployment-controller', 'replicaset-controller', 'garbage-collector-controller', 'namespace-controller',
  'serviceaccount-controller', 'serviceaccount-token-controller'];
// A node's taints, the ServiceAccount volume's kube-root-ca.crt, Jobs and finished pods need these.
const nodeControllers = ['node-lifecycle-controller', 'job-controller', 'pod-garbage-collector-controller',
  'root-ca-certificate-publisher-controller', 'ttl-after-finished-controller'];

export class ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  server = '';
  etcdUrl = '';
  pki!: Pki;
  private bins!: Binaries;
  private etcd?: Managed;
  private apiserver?: Managed;
  private kcm?: Managed;
  private apiserverArgs: string[] = [];
  private stopped = false;

  constructor(private readonly opts: ControlPlaneOptions = {}) {
    this.dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'modelgate-cp-'));
    mkdirSync(this.dir, { recursive: true });
    this.kubeconfigPath = path.join(this.dir, 'admin.kubeconfig');
  }

  get binaries(): Binaries {
    return this.bins;
  }

  get versions(): Binaries['versions'] {
    return this.bins.versions;
  }

  async start(): Promise<this> {
    const log = this.opts.log ?? (() => undefined);
    this.bins = ensureBinaries(this.opts.log);
    const pkiDir = path.join(this.dir, 'pki');
    mkdirSync(pkiDir, { recursive: true });
    this.pki = makePki(pkiDir, {
      admin: ['modelgate-admin', 'system:masters'],
      kcm: ['system:kube-controller-manager'],
      kubeletClient: ['kube-apiserver-kubelet-client', 'system:masters'],
    });
    const [etcdClient, etcdPeer, securePort, kcmPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    this.etcdUrl = `http://127.0.0.1:${etcdClient}`;
    this.server = `https://127.0.0.1:${securePort}`;

    log(`etcd on ${this.etcdUrl}`);
    this.etcd = startProcess('etcd', this.bins.etcd, [
      '--name', 'modelgate-local',
      '--data-dir', path.join(this.dir, 'etcd'),
      '--listen-client-urls', this.etcdUrl,
      '--advertise-client-urls', this.etcdUrl,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster', `modelgate-local=http://127.0.0.1:${etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level', 'warn',
    ], path.join(this.dir, 'etcd.log'));
    await waitFor('etcd health', async () => {
      const r = await fetch(`${this.etcdUrl}/health`);
      return r.ok ? true : undefined;
    }, 20_000, 100);

    this.apiserverArgs = [
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // No kubernetes Service endpoints: they may not point at loopback (envtest does the same).
      '--endpoint-reconciler-type=none',
      `--secure-port=${securePort}`,
      `--cert-dir=${path.join(this.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${this.pki.serverCert}`,
      `--tls-private-key-file=${this.pki.serverKey}`,
      `--client-ca-file=${this.pki.caCert}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${this.pki.saPub}`,
      `--service-account-signing-key-file=${this.pki.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      // Logs, exec and port-forward reach a node by its name (localhost, a relay), never by a
      // pod-network address, which from the host's namespace would leave the machine.
      '--kubelet-preferred-address-types=Hostname',
      `--kubelet-client-certificate=${this.pki.clients.kubeletClient!.cert}`,
      `--kubelet-client-key=${this.pki.clients.kubeletClient!.key}`,
      '--v=0',
    ];
    await this.startApiserver();

    const admin = this.pki.clients.admin!;
    writeFileSync(this.kubeconfigPath, kubeconfigYaml(this.server, this.pki.caCert, admin.cert, admin.key, 'modelgate-admin'), { mode: 0o600 });

    if (this.opts.controllerManager !== false && this.bins.kubeControllerManager) {
      const kcmCfg = path.join(this.dir, 'kcm.kubeconfig');
      const kcm = this.pki.clients.kcm!;
      writeFileSync(kcmCfg, kubeconfigYaml(this.server, this.pki.caCert, kcm.cert, kcm.key, 'kcm'), { mode: 0o600 });
      this.kcm = startProcess('kube-controller-manager', this.bins.kubeControllerManager, [
        `--kubeconfig=${kcmCfg}`,
        `--authentication-kubeconfig=${kcmCfg}`,
        `--authorization-kubeconfig=${kcmCfg}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${path.join(this.dir, 'kcm-certs')}`,
        '--leader-elect=false',
        // Each controller acts as its own service account with the bootstrap RBAC roles, as in kubeadm.
        '--use-service-account-credentials=true',
        // Only what a checkpoint operator meets: Deployments, their ReplicaSets, owner
        // references (report ConfigMaps) and namespace clean-up.
        `--controllers=${[...baseControllers, ...(this.opts.nodeControllers ? nodeControllers : [])].join(',')}`,
        `--service-account-private-key-file=${this.pki.saKey}`,
        `--root-ca-file=${this.pki.caCert}`,
        '--v=0',
      ], path.join(this.dir, 'kube-controller-manager.log'));
    }

    if (this.opts.installCrds !== false) await this.installCrds();
    return this;
  }

  private async startApiserver(): Promise<void> {
    this.apiserver = startProcess('kube-apiserver', this.bins.kubeApiserver, this.apiserverArgs, path.join(this.dir, 'kube-apiserver.log'));
    const early = this.apiserver.exited.then((code) => {
      throw new GiveUp(`kube-apiserver exited with ${code} while starting: see ${path.join(this.dir, 'kube-apiserver.log')}`);
    });
    early.catch(() => undefined);
    await Promise.race([early, waitFor('kube-apiserver /readyz', async () => ((await this.readyz()) ? true : undefined), 60_000, 200)]);
  }

  /** GET /readyz with the admin certificate; true when the apiserver says ok. */
  async readyz(): Promise<boolean> {
    const admin = this.pki.clients.admin!;
    return new Promise((resolve) => {
      const req = https.get(`${this.server}/readyz`, {
        ca: readFileSync(this.pki.caCert),
        cert: readFileSync(admin.cert),
        key: readFileSync(admin.key),
        timeout: 2000,
      }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  }

  async installCrds(): Promise<void> {
    const crdDir = path.join(repoRoot, 'crds');
    const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml'));
    if (files.length === 0) return;
    const apply = await this.kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdDir]);
    if (apply.code !== 0) throw new Error(`installing the CRDs from crds/ failed: ${apply.stderr.trim()}`);
    const wait = await this.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', crdDir]);
    if (wait.code !== 0) throw new Error(`the CRDs in crds/ did not become Established: ${wait.stderr.trim()}`);
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  kubectl(args: string[], input?: string): Promise<KubectlResult> {
    return new Promise((resolve) => {
      const child = execFile(this.bins.kubectl, ['--kubeconfig', this.kubeconfigPath, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Fault injection: stop the apiserver, wait, start it again on the same port. */
  async restartApiserver(downMs = 0): Promise<void> {
    if (this.apiserver) await stopProcess(this.apiserver, 10_000);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startApiserver();
  }

  /**
   * Fault injection: stop the apiserver (etcd keeps running) until startApiserverAgain().
   * SIGKILL is a crash (and quick); SIGTERM a graceful stop (up to 10 s with open watches).
   */
  async stopApiserver(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.apiserver) await stopProcess(this.apiserver, 10_000, signal);
  }

  /** Starts the apiserver stopped by stopApiserver() on the same port; resolves once /readyz is ok. */
  async startApiserverAgain(): Promise<void> {
    await this.startApiserver();
  }

  /** Fault injection: compact etcd to its current revision, so older watches get 410 Gone. */
  async compactEtcd(): Promise<number> {
    const range = await fetch(`${this.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const body = (await range.json()) as { header?: { revision?: string } };
    const revision = Number(body.header?.revision ?? 0);
    const r = await fetch(`${this.etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
    if (!r.ok) throw new Error(`etcd compaction failed: ${r.status} ${await r.text()}`);
    return revision;
  }

  async stop(keepDir = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const m of [this.kcm, this.apiserver, this.etcd]) if (m) await stopProcess(m, 5000);
    if (!keepDir && !this.opts.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

let shared: Promise<ControlPlane> | undefined;

/** One control plane per test process, stopped when the process exits. */
export function sharedControlPlane(): Promise<ControlPlane> {
  if (!shared) {
    const cp = new ControlPlane({ log: (l) => process.stderr.write(`[controlplane] ${l}\n`) });
    shared = cp.start().catch(async (err: unknown) => {
      await cp.stop();
      throw err;
    });
    stopAtExit.push(() => cp.stop());
  }
  return shared;
}

const stopAtExit: Array<() => Promise<void>> = [];
export async function stopSharedControlPlane(): Promise<void> {
  for (const stop of stopAtExit.splice(0)) await stop();
  shared = undefined;
}

let nsCounter = 0;
/** A new namespace for one test. */
export async function freshNamespace(cp: ControlPlane, prefix = 't'): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${(nsCounter++).toString(36)}`.slice(0, 63);
  const core = cp.kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export function execOk(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}
