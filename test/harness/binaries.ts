// Finds the control-plane binaries: KUBEBUILDER_ASSETS when set (envtest's convention), else a
// cache outside the repository, built once from the Go module proxy at the pinned versions.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Binaries {
  dir: string;
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
  /** Missing in some envtest bundles: then Deployments get no ReplicaSets. */
  kubeControllerManager?: string;
  versions: { kubernetes: string; etcd: string };
}

function pinned(): { kubernetes: string; etcd: string } {
  const read = (file: string, mod: string): string => {
    const text = readFileSync(path.join(repoRoot, 'tools', 'controlplane', file, 'go.mod'), 'utf8');
    const m = new RegExp(`require\\s+${mod.replace(/[./]/g, '\\$&')}\\s+(v\\S+)`).exec(text);
    if (!m?.[1]) throw new Error(`tools/controlplane/${file}/go.mod does not pin ${mod}`);
    return m[1];
  };
  return { kubernetes: read('kube', 'k8s.io/kubernetes'), etcd: read('etcd', 'go.etcd.io/etcd/server/v3') };
}

export function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'modelgate');
}

function fromDir(dir: string, versions: Binaries['versions']): Binaries | undefined {
  const f = (n: string): string => path.join(dir, n);
  if (!existsSync(f('kube-apiserver')) || !existsSync(f('etcd'))) return undefined;
  return {
    dir,
    kubeApiserver: f('kube-apiserver'),
    etcd: f('etcd'),
    kubectl: existsSync(f('kubectl')) ? f('kubectl') : 'kubectl',
    kubeControllerManager: existsSync(f('kube-controller-manager')) ? f('kube-controller-manager') : undefined,
    versions,
  };
}

/** Resolves the binaries, building them on first use (minutes, once per machine). */
export function ensureBinaries(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Binaries {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const b = fromDir(assets, { kubernetes: 'from KUBEBUILDER_ASSETS', etcd: 'from KUBEBUILDER_ASSETS' });
    if (!b) throw new Error(`KUBEBUILDER_ASSETS=${assets} holds no kube-apiserver and etcd: point it at envtest's binary folder or unset it.`);
    return b;
  }
  const versions = pinned();
  const dir = path.join(cacheRoot(), 'controlplane', `k8s-${versions.kubernetes}-etcd-${versions.etcd}`);
  const found = fromDir(dir, versions);
  if (found?.kubeControllerManager) return found;
  log(`building the local control plane (Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}) into ${dir}: first run only, about 10-20 minutes on 2 cores`);
  const started = Date.now();
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'build-control-plane.sh'), dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status === 3) throw new Error('Go 1.26 or newer is needed to build the local control plane: install it, or set KUBEBUILDER_ASSETS to a folder with kube-apiserver, etcd and kubectl.');
  if (r.status !== 0) throw new Error(`building the control plane failed (exit ${r.status}): see the Go output above; set KUBEBUILDER_ASSETS to use prebuilt binaries instead.`);
  log(`built the control plane in ${Math.round((Date.now() - started) / 1000)} s`);
  const built = fromDir(dir, versions);
  if (!built) throw new Error(`the build finished but ${dir} holds no kube-apiserver: remove the folder and run again.`);
  return built;
}

/** Whether `p` is a file this process may execute. */
export function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
