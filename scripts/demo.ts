// `npm run demo`: the whole product on this machine, in a few minutes. A local Kubernetes cluster
// (control plane and a real node: kubelet, containerd, runc, a pod network of its own), the
// project's image built from the Dockerfile, the operator installed from deploy/ with kustomize
// as two pods (one the leader), the reference inference server as real Pods that fetch their
// model from a store in the pod network, Prometheus finding those pods through the apiserver, a
// load generator in the pod network, and ONNX models and a holdout set generated on the spot and
// published to an S3 bucket (SeaweedFS, which checks every signature) behind a Secret.
// Then five steps:
//   1. v1 deploys (the first checkpoint: nothing to compare with);
//   2. v2 renames an input: the architecture gate rejects it, the Deployment is not touched;
//   3. v3 is 25% worse on holdout accuracy: the regression gate rejects it as SEVERE;
//   4. v4 passes every gate and deploys, its live conversion rate drops, the operator rolls back;
//   5. v5 deploys and turns Healthy, a person rolls it back with the CLI; the history.
// A summary table ends the run; the exit code is 0 only if every step did what it should.
// Everything started is stopped at the end, on failure and on Ctrl-C.
//
//   npm run demo                 # or: npx tsx scripts/demo.ts
//   npm run demo -- --keep       # leave it all running afterwards to explore, until Ctrl-C
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ANNOTATIONS, type AnalysisSpec, type Measurement, type ModelCheckpoint, type StageResult } from '../src/api/types.js';
import { KubeClient, loadKubeConfig, paths } from '../src/kube/client.js';
import { factsOf, type DeploymentFacts } from '../src/kube/deployments.js';
import { renderQuery } from '../src/monitor/analysis.js';
import { repoRoot } from '../test/harness/binaries.js';
import { apply } from '../test/harness/fixtures.js';
import { startPodNetworkLoad } from '../test/harness/podnetwork.js';
import { outcomesSecret, sampleDeployment } from '../test/harness/pods.js';
import { waitFor } from '../test/harness/process.js';
import { makeArtifacts, type DemoArtifacts } from './demo/artifacts.js';
import { PodWatcher } from './demo/pods.js';
import { startReceiver } from './demo/receiver.js';
import { OPERATOR_NAMESPACE, Stack } from './demo/stack.js';
import { c, num, pct, seconds, table, ui } from './demo/ui.js';
import { CheckpointWatcher } from './demo/watch.js';

const HELP = `Usage: npm run demo [-- --keep]

Runs modelgate end to end on this machine: a local cluster with a real node, the project's
image, the operator as two pods, inference pods, Prometheus and a load generator in the pod
network; five checkpoints (v1..v5) through the gates, an automatic rollback and a manual one; a
summary table. Exit code 0 when every step did what it should.

  --keep    after the summary, leave everything running (cluster, node, operator, pods,
            Prometheus, load) and print the kubeconfig and kubectl commands; Ctrl-C stops it all
  --help    this help

The first run builds what is missing into ~/.cache/modelgate (control plane, kubelet, the image,
Prometheus with Kubernetes discovery: Go and buildah, tens of minutes once) and installs Debian's
containerd, runc, CNI plugins, socat, mmdebstrap and buildah when missing (as root).`;

const NS = 'demo';
const DEPLOYMENT = 'ranker';
const MODEL = 'ranker';
/** Conversions per click the load generator reports for every server, and for v4's. */
const CVR = 0.3;
const CVR_V4 = 0.18;

const cvrQuery = (window: string): string =>
  `sum(rate(modelgate_outcome_conversions_total{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[${window}]))` +
  ` / sum(rate(modelgate_outcome_clicks_total{namespace="{{namespace}}",model="{{model}}",version="{{version}}"}[${window}]))`;

/** v1 has nothing to compare with: an absolute floor only. */
const firstAnalysis: AnalysisSpec = {
  intervalSeconds: 2,
  durationSeconds: 10,
  metrics: [{ name: 'conversion-rate', query: cvrQuery('10s'), direction: 'HigherIsBetter', min: 0.1, inconclusiveLimit: 30 }],
};
/**
 * Later checkpoints: at most 10% worse than the checkpoint they replaced, just before the rollout.
 * The first measurement waits until the new pod's series fill the 10 s window: on a real pod just
 * started, a window holding a few seconds of clicks measured 12% below the baseline by chance.
 */
const guardedAnalysis: AnalysisSpec = {
  intervalSeconds: 2,
  initialDelaySeconds: 12,
  durationSeconds: 20,
  metrics: [{ name: 'conversion-rate', query: cvrQuery('10s'), direction: 'HigherIsBetter', maxRelativeDegradation: 0.1, inconclusiveLimit: 30 }],
};

interface Outcome {
  observed: string;
  ok: boolean;
}
interface StepRow extends Outcome {
  step: string;
  expected: string;
  ms: number;
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const unknown = args.filter((a) => a !== '--keep');
if (unknown.length > 0) {
  process.stderr.write(`demo: unknown argument ${unknown[0]}: run with --help\n`);
  process.exit(2);
}
const keep = args.includes('--keep');

const stack = new Stack(mkdtempSync(path.join(os.tmpdir(), 'modelgate-demo-')));
const rows: StepRow[] = [];
let interrupted = false;

// --- Ctrl-C -----------------------------------------------------------------------------------
// The harness (test/harness/process.ts) kills its children and exits at once on a signal; the
// demo takes the signals over to stop everything in order (operator before apiserver, temp dirs
// removed). A second Ctrl-C exits at once (the harness still SIGKILLs its children on exit).
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let exitCode: number | undefined;
let firstSignalAt = 0;
function onSignal(sig: NodeJS.Signals): void {
  // Ctrl-C under `npm run` arrives twice at once (the terminal's and npm's forwarded copy): only a
  // second Ctrl-C a moment later means "quit at once" (which leaves the node's network namespace,
  // mounts and cgroups behind).
  if (interrupted && Date.now() - firstSignalAt < 2000) return;
  if (interrupted) {
    process.stderr.write('demo: stopping now\n');
    process.exit(130);
  }
  interrupted = true;
  firstSignalAt = Date.now();
  process.stdout.write('\n');
  ui.warn(`${sig}: stopping everything the demo started (Ctrl-C again to quit at once)`);
  void stack.stop().finally(() => process.exit(exitCode ?? 130));
}
function takeOverSignals(): void {
  for (const sig of SIGNALS) {
    process.removeAllListeners(sig);
    process.on(sig, onSignal);
  }
}
takeOverSignals();

// --- helpers ----------------------------------------------------------------------------------
let kube: KubeClient;
/** The load generator's conversion rate for the versions the Ready pods serve. */
let currentCvr = CVR;

async function deployment(): Promise<DeploymentFacts> {
  return factsOf(await kube.get(paths.deployment(NS, DEPLOYMENT)));
}

/**
 * Whether anyone changed what the Deployment runs between two reads: its generation (spec), its
 * annotations (the operator's claim and rollback point) and its containers' env. The
 * resourceVersion is no test of that: the Deployment controller moves it with every status
 * update (a pod of the last rollout finishing its termination, a readiness flip).
 */
const untouched = (before: DeploymentFacts, after: DeploymentFacts): boolean =>
  after.generation === before.generation &&
  JSON.stringify(after.annotations) === JSON.stringify(before.annotations) &&
  JSON.stringify(after.containers) === JSON.stringify(before.containers);

const envOf = (d: DeploymentFacts): Record<string, string> => d.containers.find((x) => x.name === 'server')?.env ?? {};
const stageOf = (cp: ModelCheckpoint | undefined, s: string): StageResult | undefined => cp?.status?.stages?.find((x) => x.stage === s);
const phaseIn = (...phases: string[]) => (cp: ModelCheckpoint): boolean => phases.includes(cp.status?.phase ?? '');

/** What the Deployment runs, in one line. */
function running(d: DeploymentFacts): string {
  const env = envOf(d);
  return `deployment/${d.name} runs ${env.MODEL_VERSION ?? '(no model)'} (checkpoint ${d.annotations[ANNOTATIONS.checkpoint] ?? '-'}), revision ${d.revision ?? '-'}, generation ${d.generation}, resourceVersion ${d.resourceVersion}`;
}

/** Waits until the Deployment controller has stamped a revision for the current generation. */
async function rolledOut(): Promise<DeploymentFacts> {
  return waitFor('the Deployment controller to roll out', async () => {
    const d = await deployment();
    return d.observedGeneration >= d.generation && d.revision !== undefined ? d : undefined;
  }, 30_000, 200);
}

/** Where the checkpoints' files are published: s3:// URIs, and how they are read (the Secret, the endpoint). */
interface Published {
  models: Record<keyof DemoArtifacts['models'], string>;
  holdout: string;
  access: { secretRef: { name: string }; s3: { endpoint: string; region: string; forcePathStyle: boolean } };
}
let published: Published;

function checkpointObject(name: keyof DemoArtifacts['models'], a: DemoArtifacts, analysis: AnalysisSpec | undefined, step: number): ModelCheckpoint {
  const m = a.models[name];
  return {
    apiVersion: 'modelgate.io/v1alpha1',
    kind: 'ModelCheckpoint',
    metadata: { name, namespace: NS, labels: { 'app.kubernetes.io/part-of': 'modelgate-demo' } },
    spec: {
      model: MODEL,
      version: name,
      artifact: { uri: published.models[name], digest: m.file.digest, sizeBytes: m.file.sizeBytes, ...published.access },
      training: { runId: `demo-${name}`, step, config: { note: m.note } },
      target: { deployment: DEPLOYMENT, container: 'server' },
      validation: {
        timeoutSeconds: 120,
        architecture: { policy: 'Strict' },
        holdout: {
          dataset: { uri: published.holdout, digest: a.holdout.digest, format: 'jsonl', ...published.access },
          task: 'classification',
          thresholds: [{ metric: 'accuracy', min: 0.5 }],
        },
        benchmark: { batchSizes: [1, 8], warmupRuns: 2, runs: 10 },
        regression: { criticalMetrics: ['accuracy'], blockAt: 'SEVERE', bootstrapResamples: 1000 },
      },
      ...(analysis ? { analysis } : {}),
    },
  };
}

/** `modelgate <args>` as a separate process, as a person would run it. */
function cli(cliArgs: string[], kubeconfig: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(repoRoot, 'src', 'cli', 'main.ts'), ...cliArgs, '-n', NS, '--kubeconfig', kubeconfig], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: err.message }));
  });
}

/** One instant query; undefined for no data. */
async function promValue(url: string, query: string): Promise<number | undefined> {
  const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query })}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { data?: { result?: Array<{ value?: [number, string] }> } };
  const v = body.data?.result?.[0]?.value?.[1];
  return v === undefined ? undefined : Number(v);
}

/** The measurement that decided a rollback: the newest Failed one. */
function decisive(cp: ModelCheckpoint): Measurement | undefined {
  return [...(cp.status?.analysis?.measurements ?? [])].reverse().find((m) => m.phase === 'Failed');
}

let halted: string | undefined;
async function step(n: number, title: string, expected: string, fn: () => Promise<Outcome>): Promise<void> {
  const started = Date.now();
  if (halted || interrupted) {
    rows.push({ step: `${n}. ${title}`, expected, observed: `not run (${halted ?? 'interrupted'})`, ok: false, ms: 0 });
    return;
  }
  ui.step(n, title);
  let outcome: Outcome;
  try {
    outcome = await fn();
  } catch (err) {
    outcome = { ok: false, observed: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
    halted = `step ${n} did not finish`;
  }
  if (interrupted) return;
  const ms = Date.now() - started;
  (outcome.ok ? ui.good : ui.bad)(`step ${n} ${outcome.ok ? 'did what it should' : 'FAILED'} in ${seconds(ms)}: ${outcome.observed}`);
  rows.push({ step: `${n}. ${title}`, expected, observed: outcome.observed, ok: outcome.ok, ms });
}

// --- the run ----------------------------------------------------------------------------------
async function main(): Promise<number> {
  const t0 = Date.now();
  ui.section('Setting up: cluster and node, image, operator pods, model stores, Prometheus, inference pods, load');
  const { cp, node } = await stack.startCluster((l) => ui.info(c.dim(`cluster: ${l}`)));
  takeOverSignals(); // the harness hooked the signals when it started etcd
  kube = new KubeClient(loadKubeConfig(cp.kubeconfigPath), { qps: 50, burst: 100, userAgent: 'modelgate-demo' });
  ui.good(`cluster up: Kubernetes ${cp.versions.kubernetes}, apiserver ${cp.server}, node Ready with a pod network in namespace ${node.netns} (${seconds(Date.now() - t0)})`);

  const tImage = Date.now();
  const archive = stack.importImage();
  ui.good(`image modelgate:dev from the Dockerfile imported into the node's containerd (${seconds(Date.now() - tImage)}; ${path.basename(archive)})`);

  const store = await stack.startStore();
  const artifactDir = path.join(stack.workDir, 'artifacts');
  mkdirSync(artifactDir);
  const a = await makeArtifacts(artifactDir);
  // The Deployment made by hand reads v1 from the plain store; the checkpoints are published to an
  // S3 bucket with the AWS SDK's client, as a training pipeline would, and read back with a Secret's keys.
  a.models.v1.file.uri = store.put(a.models.v1.file.path);
  const { s3, podEndpoint } = await stack.startS3();
  await s3.createBucket('models');
  const key = (file: string): string => `ranker/${path.basename(file)}`;
  for (const f of [a.holdout, ...Object.values(a.models).map((m) => m.file)]) await s3.put('models', key(f.path), readFileSync(f.path));
  published = {
    models: Object.fromEntries(Object.entries(a.models).map(([n, m]) => [n, `s3://models/${key(m.file.path)}`])) as Published['models'],
    holdout: `s3://models/${key(a.holdout.path)}`,
    access: { secretRef: { name: 'model-store' }, s3: { endpoint: podEndpoint, region: s3.region, forcePathStyle: true } },
  };
  ui.good(`generated 5 ONNX checkpoints and a ${a.samples}-sample holdout set in ${artifactDir}; published to s3://models/ranker/ (SeaweedFS, checking every SigV4 signature, at ${podEndpoint} in the pod network), read with the keys in Secret model-store`);
  for (const [name, m] of Object.entries(a.models)) {
    ui.detail(`${name}: ${m.note}${m.accuracy !== undefined ? `, holdout accuracy ${num(m.accuracy)}` : ''}  ${c.dim(m.file.digest.slice(0, 19))}`);
  }

  const ns = await cp.kubectl(['create', 'namespace', NS]);
  if (ns.code !== 0) throw new Error(`kubectl create namespace ${NS}: ${ns.stderr.trim()}`);
  stack.namespaces.push(NS);
  const prom = await stack.startPrometheus([NS]);
  ui.good(`Prometheus in the pod network at ${prom.podNetworkUrl} (kubernetes_sd, role pod; from this machine: ${prom.url})`);

  const tOp = Date.now();
  ui.info(`$ ${c.bold('kubectl apply -k scripts/local')}   ${c.dim('(deploy/ as shipped, plus the local cluster\'s apiserver address and trusted store)')}`);
  await stack.installOperator();
  const opPods = await cp.kubectl(['get', 'pods', '-n', OPERATOR_NAMESPACE, '-o', 'wide']);
  ui.info(`$ ${c.bold(`kubectl get pods -n ${OPERATOR_NAMESPACE} -o wide`)}`);
  ui.verbatim(opPods.stdout.trimEnd());
  const leader = await waitFor('a leader', async () => {
    const r = await cp.kubectl(['-n', OPERATOR_NAMESPACE, 'get', 'lease', 'modelgate-operator', '-o', 'jsonpath={.spec.holderIdentity}']);
    return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  }, 60_000, 500);
  ui.good(`the operator runs as two pods as its ServiceAccount; the leader (Lease modelgate-operator) is ${c.bold(leader)} (${seconds(Date.now() - tOp)})`);

  // The Deployment starts on v1's bytes, deployed by hand before anyone used modelgate. Its
  // Secret holds the outcomes token the load generator reads back and sends with every click.
  await apply(cp, NS, outcomesSecret(), sampleDeployment(DEPLOYMENT, a.models.v1.file.uri, a.models.v1.file.digest, 'by-hand', { replicas: 1, modelName: MODEL }),
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'model-store' }, type: 'Opaque', stringData: { AWS_ACCESS_KEY_ID: s3.reader.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.reader.secretAccessKey } });
  const started = await cp.kubectl(['-n', NS, 'rollout', 'status', `deployment/${DEPLOYMENT}`, '--timeout=180s']);
  if (started.code !== 0) throw new Error(`deployment/${DEPLOYMENT} did not roll out: ${started.stderr.trim()}`);
  const d0 = await rolledOut();
  ui.good(`namespace ${NS}, ${running(d0)}`);

  // Notifications: the namespace's ConfigMap names a Secret holding the webhook URL; the receiver
  // runs here and is reached from the operator's pods through a relay on the pod network.
  stack.receiver = await startReceiver();
  const hookUrl = `${node.relayToHost('webhook', 8098, stack.receiver.port)}/modelgate`;
  await apply(cp, NS,
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'demo-webhook' }, stringData: { url: hookUrl } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'modelgate-notifications' }, data: { secret: 'demo-webhook', events: 'Rejected,RolledBack' } });
  ui.good(`webhook receiver at ${hookUrl} (pod network); ConfigMap modelgate-notifications sends it Rejected and RolledBack`);

  const load = await startPodNetworkLoad({ cp, node }, { namespace: NS, selector: `app.kubernetes.io/name=${DEPLOYMENT}`, port: 8080, model: MODEL, rate: 40, durationMs: 3600_000, clickThroughRate: 0.25, conversionRate: CVR });
  stack.load = load;
  ui.info(`${c.cyan('load')}  40 inferences/s from the pod network to the Ready pods of deployment/${DEPLOYMENT}; CTR 0.25, conversion rate ${CVR}`);
  stack.pods = new PodWatcher(cp, NS, `app.kubernetes.io/name=${DEPLOYMENT}`, 'server', (pod) => {
    if (interrupted) return;
    ui.info(`${c.cyan('pods')}  ${pod.name} (${pod.ip}) is Ready serving ${pod.version}`);
    const cvr = pod.version === 'v4' ? CVR_V4 : CVR;
    if (cvr !== currentCvr) {
      currentCvr = cvr;
      load.setConversionRate(cvr);
      ui.info(`${c.cyan('load')}  conversion rate reported for ${pod.version}'s pods: ${cvr}${pod.version === 'v4' ? c.yellow(` (${pct(CVR_V4 / CVR - 1)}: v4 converts worse in production)`) : ''}`);
    }
  });
  stack.pods.start();

  const watcher = new CheckpointWatcher(cp.kubeconfigPath, NS);
  stack.watcher = watcher;
  watcher.start();
  ui.info(c.dim(`setup took ${seconds(Date.now() - t0)}`));

  const applyCheckpoint = async (name: keyof DemoArtifacts['models'], analysis: AnalysisSpec | undefined, n: number): Promise<void> => {
    await apply(cp, NS, checkpointObject(name, a, analysis, n * 1000));
    ui.info(`kubectl apply modelcheckpoint/${c.bold(name)} (${a.models[name].note})`);
  };

  // 1 ----------------------------------------------------------------------------------------
  await step(1, 'v1, the first checkpoint, deploys', 'Healthy; architecture Passed (NoBaseline); Deployment patched, new revision', async () => {
    const before = await deployment();
    await applyCheckpoint('v1', firstAnalysis, 1);
    const v1 = await watcher.waitFor('v1', 'Healthy', phaseIn('Healthy', 'Rejected', 'Failed', 'RolledBack'), 120_000);
    const after = await rolledOut();
    const pod = await stack.pods!.waitForVersion('v1', 120_000);
    const arch = stageOf(v1, 'architecture');
    ui.info(`Deployment: revision ${before.revision} → ${after.revision}; MODEL_URI=${envOf(after).MODEL_URI}`);
    ui.info(`$ ${c.bold(`kubectl get pods -n ${NS} -o wide`)}`);
    ui.verbatim((await cp.kubectl(['get', 'pods', '-n', NS, '-o', 'wide'])).stdout.trimEnd());
    ui.info(`pod ${pod.name} fetched v1 from the store and serves it (from S3, with Secret ${envOf(after).MODEL_CREDENTIALS_SECRET ?? '(none)'} mounted); Prometheus found it through the apiserver`);
    const ok = v1.status?.phase === 'Healthy' && arch?.verdict === 'Passed' && arch.reason === 'NoBaseline' &&
      envOf(after).MODEL_VERSION === 'v1' && envOf(after).MODEL_URI === published.models.v1 && envOf(after).MODEL_CREDENTIALS_SECRET === 'model-store' && after.revision !== before.revision;
    return { ok, observed: `${v1.status?.phase}; architecture ${arch?.verdict} (${arch?.reason}); revision ${before.revision} → ${after.revision}` };
  });

  // 2 ----------------------------------------------------------------------------------------
  await step(2, 'v2 renames an input', 'Rejected by the architecture gate naming the input; Deployment untouched', async () => {
    const before = await deployment();
    ui.info(`before: ${running(before)}`);
    await applyCheckpoint('v2', guardedAnalysis, 2);
    const v2 = await watcher.waitFor('v2', 'Rejected', phaseIn('Rejected', 'Failed', 'Validated', 'Deployed', 'Monitoring', 'Healthy'), 90_000);
    const arch = stageOf(v2, 'architecture');
    ui.info(`architecture gate: ${c.red(arch?.message ?? '(no message)')}`);
    const after = await deployment();
    ui.info(`after:  ${running(after)}`);
    const same = untouched(before, after);
    ui.info(`the Deployment's spec, annotations and env are ${same ? c.green('unchanged') : c.red('CHANGED')}: generation ${before.generation} → ${after.generation}`);
    const ok = v2.status?.phase === 'Rejected' && arch?.verdict === 'Failed' && /'x'/.test(arch.message) && same;
    return { ok, observed: `${v2.status?.phase} by architecture (${arch?.reason}); generation ${before.generation} → ${after.generation}${same ? ', untouched' : ', CHANGED'}` };
  });

  // 3 ----------------------------------------------------------------------------------------
  await step(3, 'v3 is 25% worse on holdout accuracy', 'Rejected by the regression gate as SEVERE', async () => {
    const before = await deployment();
    await applyCheckpoint('v3', guardedAnalysis, 3);
    const v3 = await watcher.waitFor('v3', 'Rejected', phaseIn('Rejected', 'Failed', 'Validated', 'Deployed', 'Monitoring', 'Healthy'), 90_000);
    const reg = stageOf(v3, 'regression');
    const s = reg?.summary ?? {};
    ui.info(`regression vs ${v3.status?.validatedAgainst?.checkpoint ?? '?'} on the same ${a.samples} holdout samples:`);
    ui.detail([
      `${s.metric ?? 'accuracy'}: baseline ${num(s.baseline)} → candidate ${num(s.candidate)}, ${pct(s.degradation)} worse`,
      `95% one-sided bounds of the degradation (paired bootstrap): [${pct(s.lowerBound)}, ${pct(s.upperBound)}]: decision ${s.decision}`,
      `severity ${c.red(String(v3.status?.severity))} (blocks at ${s.blockAt})`,
    ].join('\n'));
    const after = await deployment();
    const same = untouched(before, after);
    const ok = v3.status?.phase === 'Rejected' && v3.status.severity === 'SEVERE' && reg?.verdict === 'Failed' && same;
    return {
      ok,
      observed: `${v3.status?.phase}, ${v3.status?.severity}: accuracy ${num(s.baseline)} → ${num(s.candidate)} (${pct(s.degradation)} worse, bounds [${pct(s.lowerBound)}, ${pct(s.upperBound)}]); Deployment ${same ? 'untouched' : 'CHANGED'}`,
    };
  });

  // 4 ----------------------------------------------------------------------------------------
  await step(4, 'v4 passes every gate, then converts worse live', 'deployed; the live guard rolls back to v1 on the conversion rate', async () => {
    await applyCheckpoint('v4', guardedAnalysis, 4);
    const deployed = await watcher.waitFor('v4', 'deployed', phaseIn('Deployed', 'Monitoring', 'Healthy', 'RolledBack', 'Rejected', 'Failed'), 90_000);
    const gates = (deployed.status?.stages ?? []).map((x) => `${x.stage}:${x.verdict}`);
    const allPassed = (deployed.status?.stages ?? []).length === 5 && (deployed.status?.stages ?? []).every((x) => x.verdict === 'Passed');
    if (['Rejected', 'Failed'].includes(deployed.status?.phase ?? '')) return { ok: false, observed: `v4 ${deployed.status?.phase}: ${gates.join(' ')}` };
    const deployedAt = Date.now();
    await stack.pods!.waitForVersion('v4', 120_000).catch(() => undefined);
    const v4 = await watcher.waitFor('v4', 'RolledBack', phaseIn('RolledBack', 'Healthy'), 120_000);
    const m = decisive(v4);
    ui.info(`rolled back ${seconds(Date.now() - deployedAt)} after the deploy; the measurement that decided it:`);
    ui.detail([
      `metric    ${m?.metric}: ${c.red(String(m?.phase))}${m?.severity ? ` (${m.severity})` : ''}`,
      `value     ${num(m?.value)}  (v4's conversion rate)`,
      `baseline  ${num(m?.baseline)}  (v1's, just before the rollout)`,
      `bound     ${m?.bound}`,
      `query     ${m?.query}`,
      `message   ${m?.message}`,
      `decision  ${v4.status?.analysis?.decision}`,
    ].join('\n'));
    const pod = await stack.pods!.waitForVersion('v1', 120_000);
    const after = await deployment();
    ui.info(`${running(after)}; pod ${pod.name} serves v1 again`);
    const note = await stack.receiver!.waitFor((n) => n.event === 'RolledBack' && n.checkpoint.name === 'v4', 20_000);
    if (note) {
      ui.info(`the webhook receiver got the operator's notification (${note.event}, ${note.reason}):`);
      ui.verbatim(JSON.stringify(note, null, 2));
    } else ui.bad('no RolledBack notification reached the webhook receiver within 20 s');
    const ok = allPassed && v4.status?.phase === 'RolledBack' && m !== undefined && envOf(after).MODEL_VERSION === 'v1' &&
      after.annotations[ANNOTATIONS.checkpoint] === 'v1' && note?.decision?.metric === m.metric;
    return {
      ok,
      observed: `gates ${allPassed ? 'all Passed' : gates.join(' ')}; ${v4.status?.phase} to ${envOf(after).MODEL_VERSION} on ${m?.metric} ${num(m?.value)} vs baseline ${num(m?.baseline)} (${m?.bound}); webhook ${note ? `got ${note.event}` : 'got nothing'}`,
    };
  });

  // 5 ----------------------------------------------------------------------------------------
  await step(5, 'v5 deploys, a person rolls it back (CLI)', 'v5 Healthy; `modelgate rollback v5` → RolledBack, back on v1; history', async () => {
    // The baseline of v5's guard is v1's conversion rate at the moment of v5's rollout (one
    // instant query, never retried later): wait until Prometheus has scraped v1's new pod a few times.
    await watcher.waitFor('v1', 'Healthy again', phaseIn('Healthy'), 90_000);
    const v1Pod = await stack.pods!.waitForVersion('v1', 120_000);
    await waitFor(`Prometheus to scrape v1's pod ${v1Pod.name}`, async () => {
      const clicks = await promValue(prom.url, `sum(rate(modelgate_outcome_clicks_total{pod="${v1Pod.name}"}[10s]))`);
      return clicks !== undefined && clicks > 0 && Date.now() - v1Pod.servingAt > 4000 ? true : undefined;
    }, 60_000, 500);
    const v1Rate = await promValue(prom.url, renderQuery(cvrQuery('10s'), { namespace: NS, model: MODEL, version: 'v1' }));
    ui.info(`Prometheus: v1's conversion rate over the last 10 s is ${num(v1Rate)} (v5's guard compares with it)`);
    await applyCheckpoint('v5', guardedAnalysis, 5);
    const v5 = await watcher.waitFor('v5', 'Healthy', phaseIn('Healthy', 'RolledBack', 'Rejected', 'Failed'), 150_000);
    if (v5.status?.phase !== 'Healthy') return { ok: false, observed: `v5 ended ${v5.status?.phase} before the manual rollback` };
    await stack.pods!.waitForVersion('v5', 120_000);
    ui.info(`${running(await deployment())}`);
    // The operator trusts its own last write to a checkpoint for 10 s (read-your-writes cache in
    // src/controller/controller.ts); an annotation that lands in that window while the watch event
    // of the write raced ahead of the write's response can go unseen until the next resync (see the
    // bug report). Roll back once v5 has been Healthy and quiet for a little over 10 s.
    const healthySince = Date.parse([...(v5.status?.history ?? [])].sort((x, y) => x.time.localeCompare(y.time)).at(-1)?.time ?? '') || Date.now();
    const quiet = healthySince + 11_000 - Date.now();
    if (quiet > 0) {
      ui.info(c.dim(`v5 serves production; a person decides to take it out ${seconds(quiet)} from now`));
      await new Promise((r) => setTimeout(r, quiet));
    }
    ui.info(`$ ${c.bold('modelgate rollback v5 --wait')} -n ${NS}`);
    const rb = await cli(['rollback', 'v5', '--wait', '--timeout', '60'], cp.kubeconfigPath);
    ui.verbatim(`${rb.stdout}${rb.stderr}`);
    const after5 = await watcher.waitFor('v5', 'RolledBack', phaseIn('RolledBack'), 30_000);
    const pod = await stack.pods!.waitForVersion('v1', 120_000);
    const after = await deployment();
    ui.info(`${running(after)}; pod ${pod.name} serves v1`);
    ui.info(`$ ${c.bold(`modelgate history --deployment ${DEPLOYMENT}`)} -n ${NS}`);
    const hist = await cli(['history', '--deployment', DEPLOYMENT], cp.kubeconfigPath);
    ui.verbatim(`${hist.stdout}${hist.stderr}`);
    const served = stack.pods!.history().filter((v) => v !== 'by-hand');
    ui.info(`versions that took traffic, in order: ${served.join(' → ')}`);
    const ok = rb.code === 0 && after5.status?.phase === 'RolledBack' && envOf(after).MODEL_VERSION === 'v1' && hist.code === 0 &&
      /rollback/.test(hist.stdout) && served.join(',') === 'v1,v4,v1,v5,v1';
    return { ok, observed: `v5 Healthy → CLI rollback exit ${rb.code} → ${after5.status?.phase}, Deployment on ${envOf(after).MODEL_VERSION}; traffic ${served.join('→')}` };
  });

  return summary(t0);
}

function summary(t0: number): number {
  ui.section('Summary');
  const body = rows.map((r) => [r.step, r.expected, r.observed, r.ok ? 'ok' : 'NOT OK', r.ms > 0 ? seconds(r.ms) : '-']);
  process.stdout.write(`${table(['step', 'expected', 'observed', 'ok?', 'time'], body, (_row, col, cell) => (col === 3 ? (cell.trim() === 'ok' ? c.green(cell) : c.red(cell)) : cell))}\n`);
  const all = rows.length === 5 && rows.every((r) => r.ok);
  const load = stack.load?.stats();
  if (load) ui.info(c.dim(`load: ${load.inferences} inferences (${load.inferenceErrors} errors), ${load.clicks} clicks, ${load.conversions} conversions`));
  ui.info(`${all ? c.green(c.bold('every step did what it should')) : c.red(c.bold(`${rows.filter((r) => !r.ok).length} step(s) did not`))} (total ${seconds(Date.now() - t0)})`);
  return all ? 0 : 1;
}

function explore(): void {
  const cp = stack.cp!;
  const kubectl = cp.binaries.kubectl;
  ui.section('Still running (--keep): explore in another terminal, Ctrl-C here stops everything');
  process.stdout.write([
    `  export KUBECONFIG=${cp.kubeconfigPath}`,
    `  alias kubectl=${kubectl}     # the control plane's own kubectl`,
    `  kubectl get pods -n ${OPERATOR_NAMESPACE}   # the operator's two pods`,
    `  kubectl get mckpt -n ${NS}`,
    `  kubectl describe mckpt v4 -n ${NS}`,
    `  kubectl get events -n ${NS} --sort-by=.eventTime`,
    `  kubectl get configmap modelgate-audit-${DEPLOYMENT} -n ${NS} -o yaml`,
    `  kubectl get deployment ${DEPLOYMENT} -n ${NS} -o yaml`,
    `  npm run cli -- history --deployment ${DEPLOYMENT} -n ${NS} --kubeconfig ${cp.kubeconfigPath}`,
    `  kubectl get pods -A -o wide`,
    `  kubectl logs -n ${OPERATOR_NAMESPACE} -l app.kubernetes.io/component=operator --tail=50`,
    `  kubectl port-forward -n ${NS} deployment/${DEPLOYMENT} 8080   # then curl 127.0.0.1:8080/v2/models/${MODEL}`,
    `  Prometheus: ${stack.prom?.url}/graph`,
    '',
  ].join('\n'));
}

main().then(
  async (code) => {
    exitCode = code;
    if (interrupted) return;
    if (keep && stack.cp) {
      explore();
      return; // the signal handler stops everything and exits with the summary's code
    }
    const keepLogs = code !== 0 || process.env.MODELGATE_DEMO_LOG_LEVEL !== undefined;
    await stack.stop({ keepWorkDir: keepLogs });
    if (keepLogs) ui.info(`model files are kept in ${stack.workDir}`);
    process.exit(code);
  },
  async (err: unknown) => {
    if (interrupted) return;
    ui.bad(`the demo could not run: ${err instanceof Error ? err.message : String(err)}`);
    if (rows.length > 0) summary(Date.now());
    await stack.stop({ keepWorkDir: true });
    ui.info(`model files are kept in ${stack.workDir}`);
    process.exit(1);
  },
);
