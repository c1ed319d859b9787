// Metrics the way users' clusters get them: a real Prometheus inside the pod network finds the
// inference server's pods with kubernetes_sd_configs (role pod, through the apiserver, as a
// ServiceAccount that may only read pods) and scrapes their pod IPs; the load generator runs in
// the pod network too, finding the Ready pods itself. The server is the project's image on the
// real node, its model from a ConfigMap. The host queries Prometheus only through its relay.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { freshNamespace } from '../harness/controlplane.js';
import { ensureProjectImage, projectImage } from '../harness/image.js';
import { classifierModel, sha256Digest } from '../harness/models.js';
import { sharedNodeCluster, type NodeCluster } from '../harness/nodecluster.js';
import { pauseImage } from '../harness/oci.js';
import { startPodNetworkLoad, type PodNetworkLoad } from '../harness/podnetwork.js';
import { OUTCOMES_SECRET, OUTCOMES_SECRET_KEY, outcomesSecret } from '../harness/pods.js';
import { waitFor } from '../harness/process.js';
import { startPodNetworkPrometheus, type PrometheusHandle } from '../harness/prometheus.js';

const RATE = 20;
const JOB = 'kubernetes-pods';

interface Target {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  scrapeUrl?: string;
  health?: string;
  lastError?: string;
}

interface Pod {
  name: string;
  ip: string;
}

async function targets(prom: PrometheusHandle): Promise<{ active: Target[]; dropped: Target[] }> {
  const res = await fetch(`${prom.url}/api/v1/targets`, { signal: AbortSignal.timeout(3000) });
  const body = (await res.json()) as { data: { activeTargets: Target[]; droppedTargets: Target[] } };
  return { active: body.data.activeTargets, dropped: body.data.droppedTargets };
}

/** One number from an instant query, or undefined when the result is empty. */
async function scalar(prom: PrometheusHandle, query: string): Promise<number | undefined> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(3000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Array<{ value: [number, string] }> } };
  if (body.status !== 'success') throw new Error(`${query}: ${body.error}`);
  const v = body.data?.result[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

/** Ready pods of a Deployment that are not being deleted, as the apiserver reports them. */
async function readyPods(c: NodeCluster, ns: string, app: string): Promise<Pod[]> {
  const r = await c.cp.kubectl(['-n', ns, 'get', 'pods', '-l', `app=${app}`, '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as {
    items: Array<{ metadata: { name: string; deletionTimestamp?: string }; status: { podIP?: string; conditions?: Array<{ type: string; status: string }> } }>;
  };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp && p.status.podIP && p.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
    .map((p) => ({ name: p.metadata.name, ip: p.status.podIP! }));
}

/** pids of processes whose command line mentions `needle` (a temp dir of ours): for the leftovers check only. */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle) && !/^State:\s+Z/m.test(readFileSync(`/proc/${e}/status`, 'utf8'))) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

describe('metrics in the pod network: Prometheus with kubernetes_sd and the load generator beside the pods', function () {
  this.timeout(600_000);
  let c: NodeCluster;
  let ns: string;
  let prom: PrometheusHandle | undefined;
  let load: PodNetworkLoad | undefined;
  let first: Pod;
  let quiet: Pod;

  const series = (metric: string, pod: string): string => `sum(${metric}{job="${JOB}",namespace="${ns}",pod="${pod}"})`;
  const url = (p: Pod): string => `http://${p.ip}:8080`;

  before(async function () {
    this.timeout(1_800_000);
    c = await sharedNodeCluster();
    c.node.importImage(ensureProjectImage());
    ns = await freshNamespace(c.cp, 'podmetrics');
    const model = classifierModel({ features: 4, classes: 3, seed: 11 });
    const digest = sha256Digest(model);
    const podSecurity = { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } };
    const containerSecurity = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
    const objects = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'model' }, binaryData: { 'model.onnx': Buffer.from(model).toString('base64') } },
      // The outcomes token, as the sample Deployment takes it; the load generator reads it back.
      outcomesSecret(),
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ranker' },
        spec: {
          replicas: 1, selector: { matchLabels: { app: 'ranker' } },
          template: {
            // No containerPort is declared: the scrape address comes from prometheus.io/port alone.
            metadata: { labels: { app: 'ranker' }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' } },
            spec: {
              automountServiceAccountToken: false,
              terminationGracePeriodSeconds: 5,
              securityContext: podSecurity,
              containers: [{
                name: 'server', image: projectImage, imagePullPolicy: 'Never',
                command: ['node', 'dist/src/server/main.js'],
                env: [{ name: 'MODEL_URI', value: 'file:///models/model.onnx' }, { name: 'MODEL_DIGEST', value: digest },
                  { name: 'MODEL_VERSION', value: 'v1' }, { name: 'MODEL_NAME', value: 'ranker' },
                  { name: 'OUTCOMES_TOKEN', valueFrom: { secretKeyRef: { name: OUTCOMES_SECRET, key: OUTCOMES_SECRET_KEY } } }],
                readinessProbe: { httpGet: { path: '/v2/health/ready', port: 8080 }, periodSeconds: 1 },
                securityContext: containerSecurity,
                volumeMounts: [{ name: 'model', mountPath: '/models', readOnly: true }],
              }],
              volumes: [{ name: 'model', configMap: { name: 'model' } }],
            },
          },
        },
      },
      // A pod that does not ask to be scraped: discovered, and dropped by the relabelling.
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'quiet' },
        spec: {
          replicas: 1, selector: { matchLabels: { app: 'quiet' } },
          template: {
            metadata: { labels: { app: 'quiet' }, annotations: { 'prometheus.io/port': '8080' } },
            spec: {
              automountServiceAccountToken: false, terminationGracePeriodSeconds: 1, securityContext: podSecurity,
              containers: [{ name: 'pause', image: pauseImage, imagePullPolicy: 'Never', securityContext: containerSecurity }],
            },
          },
        },
      },
    ];
    const applied = await c.cp.kubectl(['apply', '-n', ns, '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n'));
    assert.equal(applied.code, 0, applied.stderr);
    for (const d of ['ranker', 'quiet']) {
      const rollout = await c.cp.kubectl(['-n', ns, 'rollout', 'status', `deployment/${d}`, '--timeout=180s']);
      assert.equal(rollout.code, 0, `${rollout.stderr}\n${(await c.cp.kubectl(['-n', ns, 'describe', 'pods'])).stdout}`);
    }
    [first] = await readyPods(c, ns, 'ranker') as [Pod];
    [quiet] = await readyPods(c, ns, 'quiet') as [Pod];
    assert.ok(first && quiet, 'one Ready pod of each Deployment');
    prom = await startPodNetworkPrometheus(c, { scrapeInterval: 1, namespaces: [ns] });
    load = await startPodNetworkLoad(c, {
      namespace: ns, selector: 'app=ranker', port: 8080, model: 'ranker',
      rate: RATE, clickThroughRate: 0.5, conversionRate: 0.5, durationMs: 600_000,
    });
  });

  after(async () => {
    // Normally the last test stopped both already; this is for a run that failed on the way.
    await load?.stop();
    await prom?.stop();
  });

  it('runs Prometheus on the bridge address, reached from the host only through its loopback relay', () => {
    assert.equal(prom!.podNetworkUrl, 'http://10.244.0.1:9090');
    assert.match(prom!.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const listening = spawnSync(c.node.inNetns[0]!, [...c.node.inNetns.slice(1), 'ss', '-Hltn'], { encoding: 'utf8' }).stdout;
    assert.match(listening, /10\.244\.0\.1:9090\b/, `inside the pod network:\n${listening}`);
  });

  it('discovers the pod through kubernetes_sd: the target carries the pod name the apiserver reports, namespace and app', async () => {
    const t = await waitFor('the ranker pod as an up target', async () => {
      const { active } = await targets(prom!);
      const found = active.find((a) => a.labels.job === JOB && a.labels.pod === first.name);
      return found?.health === 'up' ? found : undefined;
    }, 60_000, 500).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}\n${JSON.stringify(await targets(prom!), null, 1).slice(0, 3000)}`);
    });
    assert.equal(t.labels.namespace, ns);
    assert.equal(t.labels.app, 'ranker');
    assert.equal(t.labels.instance, `${first.ip}:8080`, 'the pod IP at the annotated port');
    assert.equal(t.scrapeUrl, `http://${first.ip}:8080/metrics`);
    assert.equal(t.discoveredLabels.__meta_kubernetes_pod_name, first.name);
    // The pod that did not ask to be scraped was discovered too, and dropped.
    const { active, dropped } = await targets(prom!);
    assert.ok(dropped.some((d) => d.discoveredLabels.__meta_kubernetes_pod_name === quiet.name), `${quiet.name} among the dropped targets`);
    assert.ok(!active.some((a) => a.labels.pod === quiet.name), `${quiet.name} is not scraped`);
    assert.deepEqual(active.filter((a) => a.labels.job === JOB).map((a) => a.labels.pod), [first.name], 'one target: the ranker pod');
  });

  it('sees the inference and outcome counters reach what the load generator sent to that pod', async () => {
    await load!.waitFor(`${url(first)} served 100 inferences`, (s) => (s.perTarget[url(first)]?.inferences ?? 0) >= 100, 60_000);
    const t1 = Date.now();
    const s1 = load!.stats().perTarget[url(first)]!;
    await new Promise((r) => setTimeout(r, 10_000));
    const s2 = load!.stats().perTarget[url(first)]!;
    const sent = ((s2.inferences - s1.inferences) * 1000) / (Date.now() - t1);
    assert.ok(sent >= 0.75 * RATE, `the load generator reached ${sent.toFixed(1)}/s of ${RATE}/s`);
    const rate = await scalar(prom!, `sum(rate(modelgate_inference_requests_total{job="${JOB}",namespace="${ns}",pod="${first.name}",outcome="success"}[10s]))`);
    assert.ok(rate !== undefined, 'the pod has an inference counter series');
    assert.ok(Math.abs(rate - sent) <= 0.25 * sent, `Prometheus's rate ${rate.toFixed(1)}/s vs ${sent.toFixed(1)}/s sent`);
    // The counters' values against the generator's totals: at most a scrape and a report behind.
    const lag = 3 * RATE;
    const after = load!.stats().perTarget[url(first)]!;
    const inferences = await scalar(prom!, series('modelgate_inference_requests_total', first.name).replace('}', ',outcome="success"}'));
    const conversions = await scalar(prom!, series('modelgate_outcome_conversions_total', first.name));
    const impressions = await scalar(prom!, series('modelgate_outcome_impressions_total', first.name));
    assert.ok(inferences !== undefined && Math.abs(inferences - after.inferences) <= lag, `inferences: Prometheus ${inferences}, sent ${after.inferences}`);
    assert.ok(impressions !== undefined && Math.abs(impressions - after.impressions) <= lag, `impressions: Prometheus ${impressions}, sent ${after.impressions}`);
    assert.ok(conversions !== undefined && Math.abs(conversions - after.conversions) <= lag / 4, `conversions: Prometheus ${conversions}, sent ${after.conversions}`);
    assert.ok(after.conversions >= 0.2 * after.impressions, `a quarter of the impressions convert: ${after.conversions} of ${after.impressions}`);
    // Outcomes carry the token from the pods' Secret: none refused (401 would count nothing).
    assert.ok(after.impressions > 0, 'outcomes were accepted');
    assert.equal(load!.stats().outcomeErrors, 0, load!.stats().lastError);
  });

  it('follows a rollout restart to the new pod (new IP); the load generator keeps sending and its counts grow on the new series', async () => {
    const before = load!.stats();
    const restart = await c.cp.kubectl(['-n', ns, 'rollout', 'restart', 'deployment/ranker']);
    assert.equal(restart.code, 0, restart.stderr);
    const status = await c.cp.kubectl(['-n', ns, 'rollout', 'status', 'deployment/ranker', '--timeout=180s']);
    assert.equal(status.code, 0, status.stderr);
    const next = await waitFor('the new ranker pod alone', async () => {
      const pods = await readyPods(c, ns, 'ranker');
      return pods.length === 1 && pods[0]!.name !== first.name ? pods[0] : undefined;
    }, 60_000, 500);
    assert.notEqual(next.ip, first.ip, 'the new pod has a new IP');

    // Prometheus follows: the new pod is an up target, the old one is gone.
    await waitFor('the new pod up and the old one gone from the targets', async () => {
      const { active } = await targets(prom!);
      const ours = active.filter((a) => a.labels.job === JOB);
      return ours.length === 1 && ours[0]!.labels.pod === next.name && ours[0]!.labels.instance === `${next.ip}:8080` && ours[0]!.health === 'up' ? true : undefined;
    }, 60_000, 500);

    // The load generator moved to the new pod and keeps sending there.
    const s = await load!.waitFor(`${url(next)} served 200 inferences`, (x, pods) =>
      (x.perTarget[url(next)]?.inferences ?? 0) >= 200 && pods.length === 1 && pods[0]!.name === next.name, 60_000);
    const oldAfter = s.perTarget[url(first)]!.inferences;
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(load!.stats().perTarget[url(first)]!.inferences, oldAfter, 'nothing goes to the old pod any more');
    assert.ok(s.inferences - before.inferences >= 200, 'the generator kept sending through the rollout');
    // Requests caught by the old pod's shutdown may fail; a few seconds' worth at most.
    assert.ok(s.inferenceErrors - before.inferenceErrors <= 3 * RATE, `${s.inferenceErrors - before.inferenceErrors} errors across the rollout: ${s.lastError}`);

    const growth = await waitFor('the new pod\'s series to grow', async () => {
      const a = await scalar(prom!, series('modelgate_inference_requests_total', next.name).replace('}', ',outcome="success"}'));
      await new Promise((r) => setTimeout(r, 3000));
      const b = await scalar(prom!, series('modelgate_inference_requests_total', next.name).replace('}', ',outcome="success"}'));
      return a !== undefined && b !== undefined && b > a ? { a, b } : undefined;
    }, 30_000, 500);
    const sentThere = load!.stats().perTarget[url(next)]!.inferences;
    assert.ok(growth.b >= 150 && Math.abs(growth.b - sentThere) <= 3 * RATE, `new pod's counter ${growth.b} vs ${sentThere} sent to it`);
    const rate = await scalar(prom!, `sum(rate(modelgate_inference_requests_total{job="${JOB}",namespace="${ns}",pod="${next.name}",outcome="success"}[10s]))`);
    assert.ok(rate !== undefined && rate >= 0.75 * RATE && rate <= 1.25 * RATE, `the new pod's rate ${rate}/s vs ${RATE}/s`);
    const conversions = await scalar(prom!, series('modelgate_outcome_conversions_total', next.name));
    assert.ok(conversions !== undefined && conversions > 0, `outcomes reach the new pod's series too: ${conversions}`);
  });

  it('leaves nothing running after stop', async () => {
    const final = await load!.stop();
    assert.ok(final.inferences > 0);
    await prom!.stop();
    assert.deepEqual(load!.leftovers(), []);
    assert.deepEqual(prom!.leftovers(), []);
    assert.deepEqual(processesMentioning(prom!.dir), [], 'no process mentions the Prometheus dir');
    assert.deepEqual(processesMentioning(load!.dir), [], 'no process mentions the load generator dir');
    const listening = spawnSync(c.node.inNetns[0]!, [...c.node.inNetns.slice(1), 'ss', '-Hltn'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(listening, /:9090\b/, 'nothing listens on 9090 in the pod network');
    await assert.rejects(fetch(`${prom!.url}/-/ready`, { signal: AbortSignal.timeout(2000) }), 'the host relay is gone');
  });
});
