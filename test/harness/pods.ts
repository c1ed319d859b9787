// What the suites on the real node share about pods: the sample inference Deployment of
// deploy/samples pointed at a model in the store, kubectl port-forward to reach a pod from the
// host (never a pod address from the host's own network namespace), the in-cluster operator
// installed once per cluster from scripts/local, and a Deployment's rollout history read back
// from its ReplicaSets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ANNOTATIONS } from '../../src/api/types.js';
import { repoRoot } from './binaries.js';
import { getJson } from './fixtures.js';
import { beforeNodeClusterStop, type NodeCluster } from './nodecluster.js';
import { waitFor } from './process.js';

/** The operator's namespace in deploy/. */
export const SYSTEM = 'modelgate-system';

export interface Pod {
  metadata: {
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    ownerReferences?: Array<{ kind: string; name: string }>;
  };
  spec: { serviceAccountName?: string; containers: Array<{ name?: string; image: string; env?: Array<{ name: string; value?: string }> }> };
  status: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> };
}

export const ready = (p: Pod): boolean => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** kubectl port-forward on 127.0.0.1 (never a pod address from the host); resolves the local port. */
export function portForward(c: NodeCluster, ns: string, target: string, port: number): Promise<{ port: number; stop: () => void }> {
  const child = spawn(c.cp.binaries.kubectl, ['--kubeconfig', c.cp.kubeconfigPath, '-n', ns, 'port-forward', '--address=127.0.0.1', target, `0:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`port-forward did not start: ${out}`));
    }, 30_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => child.kill('SIGTERM') });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`port-forward exited ${code}: ${out}`));
    });
  });
}

/**
 * Waits for exactly `count` Ready pods of the sample Deployment `name` (label
 * app.kubernetes.io/name) and asks each, through port-forward, what it serves: every one must
 * report `version` and the digest of the bytes it loaded. Returns the pods.
 */
export async function expectPodsServing(c: NodeCluster, ns: string, name: string, version: string, digest: string, count = 2): Promise<Pod[]> {
  const pods = await waitFor(`only ${version} pods`, async () => {
    const items = (await getJson<{ items: Pod[] }>(c.cp, ns, 'pods', '-l', `app.kubernetes.io/name=${name}`)).items;
    return items.length === count && items.every(ready) ? items : undefined;
  }, 120_000, 500);
  for (const p of pods) {
    const pf = await portForward(c, ns, `pod/${p.metadata.name}`, 8080);
    try {
      const meta = await waitFor('model metadata', async () => {
        const r = await fetch(`http://127.0.0.1:${pf.port}/v2/models/${name}`);
        return r.ok ? ((await r.json()) as { versions?: string[]; parameters?: { digest?: string } }) : undefined;
      }, 30_000, 500);
      assert.deepEqual(meta.versions, [version], `${p.metadata.name} serves ${version}`);
      assert.equal(meta.parameters?.digest, digest, `${p.metadata.name} loaded the bytes of ${version}`);
    } finally {
      pf.stop();
    }
  }
  return pods;
}

/** The Secret the sample Deployment takes OUTCOMES_TOKEN from (deploy/samples/inference-deployment.yaml), and its key. */
export const OUTCOMES_SECRET = 'inference-outcomes';
export const OUTCOMES_SECRET_KEY = 'token';

// One token per test process: every namespace's Secret holds the same one, so applying it again
// (a second sampleDeployment in the same namespace) never changes what running pods expect.
const outcomesToken = randomBytes(24).toString('hex');

/**
 * The Secret holding the inference pods' OUTCOMES_TOKEN (the sample Deployment refers to it with
 * secretKeyRef, so apply it with or before the Deployment); the pod-network load generator reads
 * the token back from it (podnetwork.ts).
 */
export function outcomesSecret(token = outcomesToken): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: OUTCOMES_SECRET }, type: 'Opaque', stringData: { [OUTCOMES_SECRET_KEY]: token } };
}

/**
 * The sample inference Deployment of deploy/samples, as written, pointed at a model in the store
 * (the pods serve it under the name "ranker" and label their series with `version`), with the
 * prometheus.io annotations most clusters' kubernetes_sd setup keeps.
 */
export function sampleDeployment(name: string, uri: string, digest: string, version: string, opts: { replicas?: number; modelName?: string } = {}): Record<string, unknown> {
  const d = YAML.parse(readFileSync(path.join(repoRoot, 'deploy/samples/inference-deployment.yaml'), 'utf8')) as {
    metadata: { name: string; labels: Record<string, string> };
    spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ env: Array<{ name: string; value?: string; valueFrom?: unknown }> }> } } };
  };
  d.metadata.name = name;
  if (opts.replicas !== undefined) d.spec.replicas = opts.replicas;
  // Annotation-based discovery, as most clusters' Prometheus is set up (kubernetes_sd role pod).
  (d.spec.template.metadata as { annotations?: Record<string, string> }).annotations = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' };
  for (const labels of [d.metadata.labels, d.spec.selector.matchLabels, d.spec.template.metadata.labels]) labels['app.kubernetes.io/name'] = name;
  const env = d.spec.template.spec.containers[0]!.env;
  const set = (k: string, v: string): void => {
    const e = env.find((x) => x.name === k);
    if (e) e.value = v;
    else env.push({ name: k, value: v });
  };
  set('MODEL_URI', uri);
  set('MODEL_DIGEST', digest);
  set('MODEL_VERSION', version);
  set('MODEL_NAME', opts.modelName ?? 'ranker');
  set('MODEL_TRUSTED_HOSTS', new URL(uri).hostname);
  return d;
}

/** `kubectl rollout status`; throws with the pods' description when it does not complete. */
export async function rolloutStatus(c: NodeCluster, ns: string, deployment: string, timeoutS = 180): Promise<void> {
  const r = await c.cp.kubectl(['-n', ns, 'rollout', 'status', `deployment/${deployment}`, `--timeout=${timeoutS}s`]);
  if (r.code !== 0) throw new Error(`rollout of ${ns}/${deployment}: ${r.stderr.trim()}\n${(await c.cp.kubectl(['-n', ns, 'describe', 'pods'])).stdout.slice(-4000)}`);
}

const installed = new WeakMap<NodeCluster, Promise<void>>();

/**
 * The operator as a platform team runs it (deploy/ plus the scripts/local overlay: two replicas
 * of the project's image, querying Prometheus at http://10.244.0.1:9090), installed once per
 * cluster and rolled out; the suites that need it share it, whichever runs first or alone. It
 * is deleted when the cluster stops, before the node (whose drain would otherwise wait for its
 * pods), never by a suite, so a later suite never finds it gone. The image must be imported.
 */
export function ensureInClusterOperator(c: NodeCluster): Promise<void> {
  let p = installed.get(c);
  if (!p) {
    p = (async () => {
      const applied = await c.cp.kubectl(['apply', '--server-side', '--force-conflicts', '-k', path.join(repoRoot, 'scripts/local')]);
      if (applied.code !== 0) throw new Error(`kubectl apply -k scripts/local: ${applied.stderr.trim()}`);
      beforeNodeClusterStop(async () => {
        await c.cp.kubectl(['-n', SYSTEM, 'delete', 'deployment/modelgate-operator', '--ignore-not-found', '--wait=true', '--timeout=120s']);
      });
      const rollout = await c.cp.kubectl(['-n', SYSTEM, 'rollout', 'status', 'deployment/modelgate-operator', '--timeout=300s']);
      if (rollout.code !== 0) {
        const pods = (await c.cp.kubectl(['-n', SYSTEM, 'describe', 'pods'])).stdout;
        const logs = (await c.cp.kubectl(['-n', SYSTEM, 'logs', '-l', 'app.kubernetes.io/component=operator', '--tail=50'])).stdout;
        throw new Error(`the operator did not roll out: ${rollout.stderr.trim()}\n${pods}\n${logs}`);
      }
    })();
    // A failed install is tried again by the next suite.
    p.catch(() => installed.delete(c));
    installed.set(c, p);
  }
  return p;
}

/** The operator's recent log lines (both pods), for failure messages. */
export async function operatorLogs(c: NodeCluster, tail = 30): Promise<string> {
  return (await c.cp.kubectl(['-n', SYSTEM, 'logs', '-l', 'app.kubernetes.io/component=operator', `--tail=${tail}`, '--prefix'])).stdout;
}

interface ReplicaSet {
  metadata: { name: string; annotations?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string }> };
  spec: { template: { metadata?: { annotations?: Record<string, string> } } };
}

/**
 * The checkpoint versions a Deployment rolled out, oldest first: each revision of its
 * ReplicaSets (`deployment.kubernetes.io/revision`, and `revision-history` when a rollback
 * reused a ReplicaSet) with the version the operator wrote into that pod template. Revisions
 * no checkpoint wrote (the Deployment as first applied) are left out. A rollback shows as the
 * old version again; a change that rolled no pods adds nothing.
 */
export async function rolloutHistory(c: NodeCluster, ns: string, deployment: string): Promise<string[]> {
  const sets = (await getJson<{ items: ReplicaSet[] }>(c.cp, ns, 'replicasets')).items.filter((rs) => rs.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === deployment));
  const revisions: Array<[number, string]> = [];
  for (const rs of sets) {
    const version = rs.spec.template.metadata?.annotations?.[ANNOTATIONS.version];
    if (version === undefined) continue;
    const a = rs.metadata.annotations ?? {};
    for (const r of [a['deployment.kubernetes.io/revision'], ...(a['deployment.kubernetes.io/revision-history'] ?? '').split(',')]) {
      if (r !== undefined && r !== '') revisions.push([Number(r), version]);
    }
  }
  return revisions.sort((x, y) => x[0] - y[0]).map(([, v]) => v);
}
