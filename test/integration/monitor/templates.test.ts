// Analysis templates end to end: the real apiserver (CRDs from crds/), the operator in this
// process, a real Prometheus answering the queries. Two checkpoints share one template with their
// own args; a cluster-scoped template serves a namespace; a missing template or a missing arg
// stalls the checkpoint before the Deployment changes, and it resumes by itself; a template
// edited or deleted during the analysis changes nothing in it.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { ANNOTATIONS, type AnalysisSpec, type ModelCheckpoint } from '../../../src/api/types.js';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { apply, checkpoint, getJson, inferenceDeployment } from '../../harness/fixtures.js';
import { classifierModel, tempDir, writeArtifact, type WrittenFile } from '../../harness/models.js';
import { startTestOperator, waitForCheckpoint, type TestOperator } from '../../harness/operator.js';
import { startPrometheus, type PrometheusHandle } from '../../harness/prometheus.js';

// A query Prometheus answers without any scrape target: the value and a label come from the
// args, and {{checkpoint}} stays for the analyzer to fill per measurement.
const LEVEL_QUERY = 'label_replace(vector({{args.level}}), "service", "{{args.service}}-{{checkpoint}}", "__name__", ".*")';
const levelTemplate = (kind: 'ModelAnalysisTemplate' | 'ClusterModelAnalysisTemplate', name: string, query = LEVEL_QUERY, min = 0.5) => ({
  apiVersion: 'modelgate.io/v1alpha1',
  kind,
  metadata: { name },
  spec: {
    args: [{ name: 'service' }, { name: 'level', value: '1' }],
    metrics: [{ name: 'level', direction: 'HigherIsBetter', query, min }],
  },
});

/** Watches forever (durationSeconds 0), measuring every second, so a checkpoint stays in Monitoring. */
const analysis = (extra: Partial<AnalysisSpec>): AnalysisSpec => ({ intervalSeconds: 1, durationSeconds: 0, ...extra });

interface Deploy {
  metadata: { generation: number; annotations?: Record<string, string> };
  spec: { template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } };
}

const stalledWith = (reason: string) => (c: ModelCheckpoint): boolean =>
  c.status?.conditions?.some((x) => x.type === 'Stalled' && x.status === 'True' && x.reason === reason) ?? false;
const measured = (after = 0) => (c: ModelCheckpoint): boolean =>
  c.status?.phase === 'Monitoring' && (c.status.analysis?.measurements ?? []).some((m) => Date.parse(m.at) > after);
const newest = (c: ModelCheckpoint) => c.status?.analysis?.measurements?.at(-1);

describe('analysis templates (real apiserver, real Prometheus)', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let prom: PrometheusHandle;
  let op: TestOperator;
  let dir: string;
  let ns: string;
  let seed = 100;
  const clusterTemplates: string[] = [];

  before(async function () {
    this.timeout(30 * 60_000);
    [cp, prom, dir] = await Promise.all([sharedControlPlane(), startPrometheus({ scrapeInterval: 1 }), tempDir('modelgate-templates-')]);
    op = await startTestOperator(cp, { fileRoots: [dir], prometheusUrl: prom.url });
  });
  after(async function () {
    this.timeout(60_000);
    await op?.stop();
    await prom?.stop();
    for (const name of clusterTemplates) await cp?.kubectl(['delete', 'clustermodelanalysistemplate', name, '--ignore-not-found']);
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    ns = await freshNamespace(cp, 'tmpl');
  });

  const artifact = (name: string): Promise<WrittenFile> => writeArtifact(dir, `${ns}-${name}.onnx`, classifierModel({ features: 4, classes: 3, seed: seed++ }));
  const deployment = (name: string): Promise<Deploy> => getJson<Deploy>(cp, ns, 'deployment', name);
  const env = (d: Deploy): Record<string, string | undefined> => Object.fromEntries((d.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  const kubectlOk = async (args: string[], input?: string): Promise<string> => {
    const r = await cp.kubectl(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const templateRv = async (kind: string, name: string, namespace?: string): Promise<string> =>
    (await kubectlOk(['get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'jsonpath={.metadata.resourceVersion}'])).trim();

  /** The Deployment as the operator must leave it while the checkpoint is stalled: never claimed, never patched. */
  async function assertUntouched(name: string): Promise<void> {
    const d = await deployment(name);
    assert.equal(d.metadata.generation, 1, 'the Deployment spec was never changed');
    assert.equal(d.metadata.annotations?.[ANNOTATIONS.claim], undefined, 'the Deployment was never claimed');
    assert.equal(env(d).MODEL_DIGEST, undefined, 'no model was deployed');
  }

  it('two checkpoints share one ModelAnalysisTemplate with their own args, each with its resolved queries in status', async () => {
    await apply(cp, ns, levelTemplate('ModelAnalysisTemplate', 'level'), inferenceDeployment('ranker-a'), inferenceDeployment('ranker-b'));
    const rv = await templateRv('modelanalysistemplate', 'level', ns);
    const [a, b] = await Promise.all([artifact('a'), artifact('b')]);
    await apply(cp, ns,
      checkpoint('a', a, { deployment: 'ranker-a', analysis: analysis({ templates: [{ name: 'level' }], args: [{ name: 'service', value: 'alpha' }] }) }),
      checkpoint('b', b, { deployment: 'ranker-b', analysis: analysis({ templates: [{ name: 'level' }], args: [{ name: 'service', value: 'beta' }, { name: 'level', value: '2' }] }) }));
    const [ca, cb] = await Promise.all([waitForCheckpoint(cp, ns, 'a', measured(), 120_000), waitForCheckpoint(cp, ns, 'b', measured(), 120_000)]);

    for (const [c, service, level] of [[ca, 'alpha', 1], [cb, 'beta', 2]] as const) {
      const name = c.metadata.name;
      const resolved = c.status?.analysis?.resolved;
      assert.ok(resolved, `${name}: the resolved analysis is in status`);
      assert.deepEqual(resolved.metrics.map((m) => [m.name, m.query, m.min]), [
        ['level', `label_replace(vector(${level}), "service", "${service}-{{checkpoint}}", "__name__", ".*")`, 0.5],
      ]);
      assert.deepEqual(resolved.templates.map((t) => [t.kind, t.name, t.namespace, t.resourceVersion, t.metrics]), [['ModelAnalysisTemplate', 'level', ns, rv, ['level']]]);
      assert.deepEqual(resolved.templates[0]?.args, [{ name: 'level', value: String(level) }, { name: 'service', value: service }]);
      // Measured by the real Prometheus with the checkpoint's own values.
      const m = newest(c);
      assert.equal(m?.query, `label_replace(vector(${level}), "service", "${service}-${name}", "__name__", ".*")`);
      assert.equal(m?.phase, 'Successful', m?.message);
      assert.equal(m?.value, level);
      assert.match(c.status?.history?.find((h) => h.phase === 'Monitoring')?.message ?? '', /1 metric\(s\).*template level/);
    }
  });

  it('a ClusterModelAnalysisTemplate serves a namespace (clusterScope: true), merged with an inline metric', async () => {
    const name = `${ns}-level`.slice(0, 63);
    clusterTemplates.push(name);
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(levelTemplate('ClusterModelAnalysisTemplate', name)));
    const rv = await templateRv('clustermodelanalysistemplate', name);
    await apply(cp, ns, inferenceDeployment('ranker'));
    await apply(cp, ns, checkpoint('c', await artifact('c'), {
      analysis: analysis({
        templates: [{ name, clusterScope: true }],
        args: [{ name: 'service', value: 'gamma' }],
        metrics: [{ name: 'ready', direction: 'HigherIsBetter', query: 'vector(1)', min: 1 }],
      }),
    }));
    const c = await waitForCheckpoint(cp, ns, 'c', measured(), 120_000);
    const resolved = c.status?.analysis?.resolved;
    assert.deepEqual(resolved?.metrics.map((m) => m.name), ['level', 'ready']);
    assert.deepEqual(resolved?.templates.map((t) => [t.kind, t.name, t.namespace, t.resourceVersion]), [['ClusterModelAnalysisTemplate', name, undefined, rv]]);
    const queries = new Set((c.status?.analysis?.measurements ?? []).map((m) => m.query));
    assert.ok(queries.has(`label_replace(vector(1), "service", "gamma-c", "__name__", ".*")`), [...queries].join(' | '));
    assert.ok(queries.has('vector(1)'));
    // The same name as a namespaced template does not exist: the scope is part of the reference.
    assert.equal((await cp.kubectl(['get', 'modelanalysistemplate', name, '-n', ns])).code, 1);
  });

  it('a missing template stalls the checkpoint with TemplateNotFound before the deploy; creating it resumes and deploys', async () => {
    await apply(cp, ns, inferenceDeployment('ranker'));
    const art = await artifact('early');
    await apply(cp, ns, checkpoint('early', art, { analysis: analysis({ templates: [{ name: 'later' }], args: [{ name: 'service', value: 'delta' }] }) }));
    const stalled = await waitForCheckpoint(cp, ns, 'early', stalledWith('TemplateNotFound'), 90_000);
    assert.equal(stalled.status?.phase, 'Validated', 'validated, then stopped before the deploy');
    const cond = stalled.status?.conditions?.find((x) => x.type === 'Stalled');
    assert.match(cond?.message ?? '', new RegExp(`ModelAnalysisTemplate later in namespace ${ns}`));
    assert.match(cond?.message ?? '', /create it/);
    assert.equal(stalled.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'False');
    const events = await kubectlOk(['get', 'events', '-n', ns, '--field-selector', 'involvedObject.name=early', '-o', 'jsonpath={.items[*].reason}']);
    assert.match(events, /TemplateNotFound/);
    // Time for a wrong move, then the Deployment is as it was.
    await new Promise((r) => setTimeout(r, 3000));
    await assertUntouched('ranker');
    assert.equal((await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'early')).status?.phase, 'Validated');

    // The template appears: its watch event brings the checkpoint back (long before the 60 s safety net).
    const created = Date.now();
    await apply(cp, ns, levelTemplate('ModelAnalysisTemplate', 'later'));
    const resumed = await waitForCheckpoint(cp, ns, 'early', measured(), 45_000);
    assert.ok(Date.now() - created < 45_000);
    assert.equal(resumed.status?.conditions?.find((x) => x.type === 'Stalled')?.status, 'False');
    assert.equal(resumed.status?.analysis?.resolved?.templates[0]?.name, 'later');
    assert.equal(env(await deployment('ranker')).MODEL_DIGEST, art.digest, 'deployed once the template exists');
  });

  it('editing or deleting the template while a checkpoint is Monitoring changes nothing in its analysis', async () => {
    await apply(cp, ns, levelTemplate('ModelAnalysisTemplate', 'level'), inferenceDeployment('ranker'));
    await apply(cp, ns, checkpoint('steady', await artifact('steady'), { analysis: analysis({ templates: [{ name: 'level' }], args: [{ name: 'service', value: 'eps' }] }) }));
    const before = await waitForCheckpoint(cp, ns, 'steady', measured(), 120_000);
    const resolved = before.status?.analysis?.resolved;
    assert.ok(resolved);

    // An edit that would fail every measurement (value 0 against min 5) if the analysis used it.
    await apply(cp, ns, levelTemplate('ModelAnalysisTemplate', 'level', 'vector(0)', 5));
    const edited = Date.now();
    assert.notEqual(await templateRv('modelanalysistemplate', 'level', ns), resolved.templates[0]?.resourceVersion, 'the template did change');
    // Two measurements after the edit (the edit's event wakes the checkpoint too).
    await waitForCheckpoint(cp, ns, 'steady', measured(edited + 1500), 30_000);
    let now = await getJson<ModelCheckpoint>(cp, ns, 'modelcheckpoint', 'steady');
    assert.equal(now.status?.phase, 'Monitoring');
    assert.deepEqual(now.status?.analysis?.resolved, resolved, 'the recorded analysis is the one from the start');
    const after = (now.status?.analysis?.measurements ?? []).filter((m) => Date.parse(m.at) > edited);
    assert.ok(after.length > 0);
    for (const m of after) {
      assert.equal(m.query, 'label_replace(vector(1), "service", "eps-steady", "__name__", ".*")');
      assert.equal(m.phase, 'Successful', m.message);
    }
    assert.equal(now.status?.analysis?.counts?.level?.failed, 0);

    // Deleted: still measured from the recorded copy, and not stalled.
    await kubectlOk(['delete', 'modelanalysistemplate', 'level', '-n', ns]);
    const deleted = Date.now();
    now = await waitForCheckpoint(cp, ns, 'steady', measured(deleted + 1500), 30_000);
    assert.deepEqual(now.status?.analysis?.resolved, resolved);
    assert.equal(newest(now)?.phase, 'Successful');
    assert.notEqual(now.status?.conditions?.find((x) => x.type === 'Stalled')?.status, 'True');
  });

  it('a missing required arg stalls with InvalidTemplate naming the arg and the template; giving it resumes', async () => {
    await apply(cp, ns, levelTemplate('ModelAnalysisTemplate', 'level'), inferenceDeployment('ranker'));
    const art = await artifact('noarg');
    await apply(cp, ns, checkpoint('noarg', art, { analysis: analysis({ templates: [{ name: 'level' }] }) }));
    const stalled = await waitForCheckpoint(cp, ns, 'noarg', stalledWith('InvalidTemplate'), 90_000);
    const message = stalled.status?.conditions?.find((x) => x.type === 'Stalled')?.message ?? '';
    assert.match(message, new RegExp(`ModelAnalysisTemplate level in namespace ${ns} needs a value for arg service`));
    assert.match(message, /spec\.metrics\[level\]\.query/);
    assert.match(message, /spec\.analysis\.args/);
    await assertUntouched('ranker');

    await kubectlOk(['patch', 'modelcheckpoint', 'noarg', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { analysis: { args: [{ name: 'service', value: 'zeta' }] } } })]);
    const resumed = await waitForCheckpoint(cp, ns, 'noarg', measured(), 120_000);
    assert.equal(newest(resumed)?.query, 'label_replace(vector(1), "service", "zeta-noarg", "__name__", ".*")');
    assert.equal(env(await deployment('ranker')).MODEL_DIGEST, art.digest);
  });
});
