// The CRD on a real kube-apiserver: what the schema promises is enforced by the apiserver itself,
// before the operator ever sees a checkpoint (bad manifests refused naming the field, artifact
// immutable, status a subresource, printer columns), and the deploy/ manifests apply as written.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { freshNamespace, sharedControlPlane, type ControlPlane } from '../harness/controlplane.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const samplePath = path.join(root, 'deploy/samples/modelcheckpoint.yaml');

type Obj = Record<string, unknown>;
interface Checkpoint {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number; [k: string]: unknown };
  spec: Obj & {
    model: string;
    version: string;
    artifact: Obj & { uri: string; digest?: string };
    target: Obj & { deployment: string };
    validation: Obj & { holdout: Obj & { thresholds: Obj[]; minSuccessRate?: number }; regression: Obj & { bands: Obj } };
    analysis: Obj & { metrics: Obj[] };
  };
  status?: Obj;
}

const sample = (): Checkpoint => parse(readFileSync(samplePath, 'utf8')) as Checkpoint;
const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('ModelCheckpoint CRD on a real apiserver', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let ns: string;
  let seq = 0;

  before(async function () {
    // The first run on a machine may build the control plane from source.
    this.timeout(30 * 60_000);
    cp = await sharedControlPlane();
    ns = await freshNamespace(cp, 'crd');
  });

  /** A copy of the sample with a fresh name, changed by `edit`. */
  function variant(edit: (c: Checkpoint) => void = () => undefined): Checkpoint {
    const c = sample();
    c.metadata = { name: `ckpt-${seq++}` };
    edit(c);
    return c;
  }

  async function kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return cp.kubectl(args, input);
  }

  async function create(c: Checkpoint): Promise<{ code: number; stdout: string; stderr: string }> {
    return kubectl(['create', '-n', ns, '-f', '-'], JSON.stringify(c));
  }

  async function get(name: string): Promise<Checkpoint> {
    const r = await kubectl(['get', 'modelcheckpoints.modelgate.io', name, '-n', ns, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Checkpoint;
  }

  /** Asserts the apiserver refused `c`, and that its message names each of `fields`. */
  async function refused(c: Checkpoint, ...fields: (string | RegExp)[]): Promise<string> {
    const r = await create(c);
    assert.notEqual(r.code, 0, `the apiserver accepted ${JSON.stringify(c.spec)}`);
    assert.match(r.stderr, /is invalid|invalid|Invalid value|Required value|Unsupported value|unknown field/i, r.stderr);
    for (const f of fields) {
      if (typeof f === 'string') assert.ok(r.stderr.includes(f), `the error names ${f}: ${r.stderr}`);
      else assert.match(r.stderr, f);
    }
    return r.stderr;
  }

  describe('accepts', () => {
    it('the sample from deploy/samples, as written, with kubectl apply', async () => {
      const r = await kubectl(['apply', '-n', ns, '-f', samplePath]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /modelcheckpoint\.modelgate\.io\/ctr-model-1\.1\.0 created/);
      const got = await get('ctr-model-1.1.0');
      assert.equal(got.spec.version, '1.1.0');
      // Free-form training config is kept, not pruned.
      assert.deepEqual((got.spec.training as Obj).config, (sample().spec.training as Obj).config);
      // Defaults the apiserver fills in inside the objects the sample gives.
      const metric = got.spec.analysis.metrics[0] as Obj;
      assert.equal(metric.inconclusiveLimit, 3);
      assert.equal(metric.errorLimit, 3);
      assert.equal((got.spec.validation.benchmark as Obj).warmupRuns, 3);
    });

    it('an analysis from templates alone (no inline metrics), with clusterScope defaulting to false', async () => {
      const c = variant((x) => {
        delete (x.spec.analysis as Obj).metrics;
      });
      const r = await create(c);
      assert.equal(r.code, 0, r.stderr);
      const got = (await get(c.metadata.name)).spec.analysis as unknown as Obj & { templates: Obj[] };
      assert.deepEqual(got.templates, [{ name: 'inference-latency', clusterScope: false }]);
      assert.equal(got.metrics, undefined);
    });

    it('a minimal checkpoint, filling in the documented defaults', async () => {
      const c: Checkpoint = {
        apiVersion: 'modelgate.io/v1alpha1',
        kind: 'ModelCheckpoint',
        metadata: { name: 'minimal' },
        spec: {
          model: 'm', version: '1', artifact: { uri: 'file:///models/m/1/model.onnx', digest: DIGEST },
          target: { deployment: 'm', container: 'server' },
        } as unknown as Checkpoint['spec'],
      };
      const r = await create(c);
      assert.equal(r.code, 0, r.stderr);
      const spec = (await get('minimal')).spec as unknown as Obj & { target: Obj; rollout: Obj; validation: Obj & Record<string, Obj> };
      assert.equal(spec.target.modelEnv, 'MODEL_URI');
      assert.deepEqual(spec.rollout, { autoDeploy: true, paused: false, onFailure: 'Rollback' });
      assert.equal(spec.validation.timeoutSeconds, 600);
      assert.deepEqual(spec.validation.architecture, { policy: 'Strict', maxParameterChangeRatio: 0.5, blockOnParameterChange: false });
      assert.deepEqual(spec.validation.benchmark, { enabled: true, batchSizes: [1, 8], warmupRuns: 3, runs: 20, symbolicDimSize: 256 });
      assert.deepEqual(spec.validation.regression, { blockAt: 'SEVERE', bootstrapResamples: 1000, confidence: 0.95, insufficientEvidence: 'Block', bands: { minor: 0.05, moderate: 0.15, severe: 0.3 } });
      assert.equal(spec.analysis, undefined, 'no analysis unless asked for');
    });
  });

  describe('refuses, naming the field', () => {
    it('a checkpoint without a digest', async () => {
      await refused(variant((c) => delete c.spec.artifact.digest), 'spec.artifact.digest', /Required value/);
    });

    it('a digest in the wrong format', async () => {
      for (const digest of ['md5:abc', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `${'a'.repeat(64)}`]) {
        await refused(variant((c) => (c.spec.artifact.digest = digest)), 'spec.artifact.digest', /sha256/);
      }
      await refused(variant((c) => (c.spec.artifact.digest = `sha256:${'a'.repeat(80)}`)), 'spec.artifact.digest', /Too long|may not be more than/);
    });

    it('an artifact URI with an ftp:// (or no) scheme', async () => {
      await refused(variant((c) => (c.spec.artifact.uri = 'ftp://models.example.com/m.onnx')), 'spec.artifact.uri', /https:\/\/, http:\/\/, s3:\/\/, oci:\/\/ or file:\/\//);
      await refused(variant((c) => (c.spec.artifact.uri = 'models.example.com/m.onnx')), 'spec.artifact.uri');
      await refused(variant((c) => ((c.spec.validation.holdout.dataset as Obj).uri = 'ftp://d.example.com/h.jsonl')), 'spec.validation.holdout.dataset.uri');
    });

    it('thresholds and bands out of range or out of order', async () => {
      await refused(variant((c) => (c.spec.validation.holdout.thresholds = [{ metric: 'auc', min: 0.9, max: 0.8 }])),
        'spec.validation.holdout.thresholds[0]', /min must be <= max/);
      await refused(variant((c) => (c.spec.validation.holdout.thresholds = [{ metric: 'auc' }])),
        'spec.validation.holdout.thresholds[0]', /needs min or max/);
      await refused(variant((c) => (c.spec.validation.holdout.minSuccessRate = 1.5)), 'spec.validation.holdout.minSuccessRate');
      await refused(variant((c) => (c.spec.validation.regression.bands = { minor: 0.2, moderate: 0.1, severe: 0.3 })),
        'spec.validation.regression.bands', /minor < moderate < severe/);
      await refused(variant((c) => (c.spec.validation.regression.bands = { minor: 0.2 })),
        'spec.validation.regression.bands', /minor < moderate < severe/);
      await refused(variant((c) => (c.spec.validation.regression.bands = { minor: 0.1, moderate: 0.2, severe: 20 })),
        'spec.validation.regression.bands.severe');
      await refused(variant((c) => (c.spec.analysis.bands = { minor: -0.1, moderate: 0.2, severe: 0.3 })), 'spec.analysis.bands.minor');
      await refused(variant((c) => ((c.spec.analysis.metrics[0] as Obj).max = -1)), 'spec.analysis.metrics[0]', /min must be <= max/);
      await refused(variant((c) => ((c.spec.analysis.metrics[0] as Obj).maxRelativeDegradation = 1e9)), 'spec.analysis.metrics[0].maxRelativeDegradation');
      await refused(variant((c) => (c.spec.analysis.intervalSeconds = 0)), 'spec.analysis.intervalSeconds');
    });

    it('an analysis with neither metrics nor templates, and bad template references', async () => {
      await refused(variant((c) => {
        delete (c.spec.analysis as Obj).metrics;
        delete (c.spec.analysis as Obj).templates;
      }), 'spec.analysis', /needs metrics, templates or both/);
      await refused(variant((c) => ((c.spec.analysis as Obj).templates = [{ name: 'Not_A_Name' }])), 'spec.analysis.templates[0].name');
      await refused(variant((c) => ((c.spec.analysis as Obj).args = [{ name: 'window' }])), 'spec.analysis.args[0].value', /Required value/);
      await refused(variant((c) => ((c.spec.analysis as Obj).args = [{ name: 'w', value: '1' }, { name: 'w', value: '2' }])), 'spec.analysis.args[1]', /Duplicate value/);
    });

    it('a version string that is too long, and bad names', async () => {
      await refused(variant((c) => (c.spec.version = '1'.repeat(65))), 'spec.version', /Too long|may not be more than 64/);
      await refused(variant((c) => (c.spec.model = 'ctr"} or vector(1)')), 'spec.model');
      await refused(variant((c) => (c.spec.target.deployment = 'Not_A_Name')), 'spec.target.deployment');
      await refused(variant((c) => (c.spec.target.modelEnv = 'MODEL_DIGEST')), 'spec.target.modelEnv');
    });

    it('enums, lists and unknown fields', async () => {
      await refused(variant((c) => ((c.spec.validation.holdout as Obj).task = 'ranking')), 'spec.validation.holdout.task', /Unsupported value/);
      await refused(variant((c) => ((c.spec.analysis.metrics[0] as Obj).direction = 'Up')), 'spec.analysis.metrics[0].direction');
      await refused(variant((c) => (c.spec.analysis.metrics = [])), 'spec.analysis.metrics');
      await refused(variant((c) => c.spec.analysis.metrics.push({ ...c.spec.analysis.metrics[0] })), 'spec.analysis.metrics[1]', /Duplicate value/);
      await refused(variant((c) => (c.spec.analysis.metrics = Array.from({ length: 17 }, (_, i) => ({ name: `m${i}`, query: 'up', direction: 'HigherIsBetter' })))),
        'spec.analysis.metrics', /Too many|must have at most 16/);
      await refused(variant((c) => ((c.spec.artifact as Obj).checksum = DIGEST)), /unknown field "spec\.artifact\.checksum"/);
      await refused(variant((c) => ((c.spec.training as Obj).metrics = { auc: 'high' })), 'spec.training.metrics.auc');
      await refused(variant((c) => {
        (c.spec.training as Obj).config = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i]));
      }), 'spec.training.config', /Too many|must have at most 64/);
    });

    it('a change of spec.artifact (digest), spec.model or spec.target.deployment after create', async () => {
      const c = variant();
      assert.equal((await create(c)).code, 0);
      const name = c.metadata.name;
      const patch = (p: Obj) => kubectl(['patch', 'mckpt', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: p })]);

      let r = await patch({ artifact: { digest: DIGEST } });
      assert.notEqual(r.code, 0, 'digest change accepted');
      assert.match(r.stderr, /spec\.artifact/);
      assert.match(r.stderr, /immutable; create a new ModelCheckpoint/);
      r = await patch({ artifact: { uri: 'https://models.example.com/other.onnx' } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /spec\.artifact is immutable/);
      r = await patch({ model: 'other-model' });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /spec\.model is immutable/);
      r = await patch({ target: { deployment: 'other-deployment' } });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /spec\.target\.deployment is immutable/);

      // Other fields stay editable: a person may pause the rollout or retune the analysis.
      r = await patch({ rollout: { paused: true }, analysis: { intervalSeconds: 120 } });
      assert.equal(r.code, 0, r.stderr);
      const got = await get(name);
      assert.equal(got.spec.artifact.digest, c.spec.artifact.digest);
      assert.equal((got.spec.rollout as Obj).paused, true);
    });
  });

  describe('analysis templates', () => {
    const template = (kind: string, name: string, spec: Obj): string => JSON.stringify({ apiVersion: 'modelgate.io/v1alpha1', kind, metadata: { name }, spec });
    const metric = { name: 'p95', direction: 'LowerIsBetter', query: 'histogram_quantile({{args.q}}, x{job="{{args.job}}"})', max: 1 };

    it('a namespaced and a cluster-scoped template, with defaults, short names and the category', async () => {
      const clusterName = `${ns}-shared`;
      let r = await kubectl(['create', '-n', ns, '-f', '-'], template('ModelAnalysisTemplate', 'latency', { args: [{ name: 'job' }, { name: 'q', value: '0.95' }], metrics: [metric] }));
      assert.equal(r.code, 0, r.stderr);
      r = await kubectl(['create', '-f', '-'], template('ClusterModelAnalysisTemplate', clusterName, { metrics: [{ ...metric, query: 'up' }] }));
      assert.equal(r.code, 0, r.stderr);
      try {
        r = await kubectl(['get', 'mat', 'latency', '-n', ns, '-o', 'json']);
        assert.equal(r.code, 0, r.stderr);
        const got = JSON.parse(r.stdout) as { spec: { metrics: Obj[] } };
        assert.equal(got.spec.metrics[0]?.failureLimit, 0);
        assert.equal(got.spec.metrics[0]?.inconclusiveLimit, 3);
        r = await kubectl(['get', 'mat', '-n', ns]);
        assert.deepEqual(r.stdout.split('\n')[0]?.trim().split(/\s+/), ['NAME', 'AGE']);
        assert.match(r.stdout, /^latency\s/m);
        r = await kubectl(['get', 'cmat', clusterName, '-o', 'name']);
        assert.equal(r.stdout.trim(), `clustermodelanalysistemplate.modelgate.io/${clusterName}`);
        const category = await kubectl(['get', 'modelgate', '-n', ns, '-o', 'name']);
        assert.match(category.stdout, /modelanalysistemplate\.modelgate\.io\/latency/);
      } finally {
        await kubectl(['delete', 'cmat', clusterName, '--wait=false']);
      }
    });

    it('refuses a template without metrics, with a bad arg name, or a bad bound, naming the field', async () => {
      const bad = async (name: string, spec: Obj, ...fields: (string | RegExp)[]) => {
        const r = await kubectl(['create', '-n', ns, '-f', '-'], template('ModelAnalysisTemplate', name, spec));
        assert.notEqual(r.code, 0, `accepted ${JSON.stringify(spec)}`);
        for (const f of fields) assert.ok(typeof f === 'string' ? r.stderr.includes(f) : f.test(r.stderr), `${String(f)} in ${r.stderr}`);
      };
      await bad('no-metrics', { args: [{ name: 'job' }] }, 'spec.metrics', /Required value/);
      await bad('empty-metrics', { metrics: [] }, 'spec.metrics');
      await bad('bad-arg', { args: [{ name: 'a b' }], metrics: [metric] }, 'spec.args[0].name');
      await bad('bad-bound', { metrics: [{ ...metric, min: 2, max: 1 }] }, 'spec.metrics[0]', /min must be <= max/);
      await bad('bad-direction', { metrics: [{ ...metric, direction: 'Up' }] }, 'spec.metrics[0].direction');
    });
  });

  describe('kubectl get', () => {
    it('shows the printer columns, by short name and category', async () => {
      const r = await kubectl(['get', 'mckpt', '-n', ns]);
      assert.equal(r.code, 0, r.stderr);
      const header = r.stdout.split('\n')[0]?.trim().split(/\s+/);
      assert.deepEqual(header, ['NAME', 'MODEL', 'VERSION', 'PHASE', 'SEVERITY', 'READY', 'AGE']);
      const row = r.stdout.split('\n').find((l) => l.startsWith('ctr-model-1.1.0'))?.trim().split(/\s+/);
      assert.deepEqual(row?.slice(0, 3), ['ctr-model-1.1.0', 'ctr-model', '1.1.0']);

      const wide = await kubectl(['get', 'ckpt', '-n', ns, '-o', 'wide']);
      assert.equal(wide.code, 0, wide.stderr);
      assert.deepEqual(wide.stdout.split('\n')[0]?.trim().split(/\s+/), ['NAME', 'MODEL', 'VERSION', 'PHASE', 'SEVERITY', 'DEPLOYMENT', 'READY', 'AGE']);
      assert.match(wide.stdout, /ctr-model-1\.1\.0\s+ctr-model\s+1\.1\.0\s+.*ctr-model/);

      const category = await kubectl(['get', 'modelgate', '-n', ns, '-o', 'name']);
      assert.equal(category.code, 0, category.stderr);
      assert.match(category.stdout, /modelcheckpoint\.modelgate\.io\/ctr-model-1\.1\.0/);
    });
  });

  describe('status subresource', () => {
    const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = (phase: string): Obj => ({
      phase,
      observedGeneration: 1,
      severity: 'MINOR',
      conditions: [{ type: 'Ready', status: 'False', reason: 'Validating', message: 'gates running', lastTransitionTime: now() }],
      stages: [{ stage: 'holdout', verdict: 'Passed', reason: 'WithinThresholds', message: 'auc 0.81 >= 0.75', summary: { auc: 0.81, samples: 5000, passed: true, metric: 'auc' }, durationMs: 1234.5 }],
      validatedAgainst: { checkpoint: 'ctr-model-1.0.0', digest: DIGEST },
    });

    it('a status patch does not change spec, and a spec update does not change status', async () => {
      const c = variant();
      assert.equal((await create(c)).code, 0);
      const name = c.metadata.name;
      const before = await get(name);

      let r = await kubectl(['patch', 'mckpt', name, '-n', ns, '--subresource=status', '--type=merge', '-p',
        JSON.stringify({ spec: { version: '9.9.9' }, status: status('Validating') })]);
      assert.equal(r.code, 0, r.stderr);
      let got = await get(name);
      assert.equal(got.status?.phase, 'Validating');
      assert.deepEqual(got.spec, before.spec, 'the status endpoint ignores spec');
      assert.equal(got.metadata.generation, before.metadata.generation, 'a status write does not bump the generation');

      r = await kubectl(['get', 'mckpt', name, '-n', ns]);
      assert.match(r.stdout, new RegExp(`${name.replace(/\./g, '\\.')}\\s+ctr-model\\s+1\\.1\\.0\\s+Validating\\s+MINOR\\s+False`));

      r = await kubectl(['patch', 'mckpt', name, '-n', ns, '--type=merge', '-p',
        JSON.stringify({ spec: { version: '1.1.1' }, status: { phase: 'Healthy' } })]);
      assert.equal(r.code, 0, r.stderr);
      got = await get(name);
      assert.equal(got.spec.version, '1.1.1');
      assert.equal(got.status?.phase, 'Validating', 'the main endpoint ignores status');
      assert.equal(got.metadata.generation, (before.metadata.generation ?? 0) + 1);
    });

    it('refuses a status that breaks the schema', async () => {
      const c = variant();
      assert.equal((await create(c)).code, 0);
      const patchStatus = (s: Obj) => kubectl(['patch', 'mckpt', c.metadata.name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: s })]);
      let r = await patchStatus({ phase: 'Bogus' });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /status\.phase/);
      const many = status('Validating');
      (many.stages as Obj[])[0]!.summary = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
      r = await patchStatus(many);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /status\.stages\[0\]\.summary/);
      r = await patchStatus({ conditions: [{ type: 'Ready', status: 'Maybe', reason: 'X', message: '', lastTransitionTime: now() }] });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /status\.conditions\[0\]\.status/);
    });
  });

  describe('deploy/ manifests', () => {
    /**
     * The Deployment's pod template, created as a Pod (server-side dry run: the PodSecurity
     * admission runs, nothing is stored) in a namespace that enforces restricted, is admitted;
     * and the same Pod running as root is refused, so the check is not vacuous.
     */
    async function assertRestrictedPod(namespace: string, deployment: string): Promise<void> {
      const d = await kubectl(['get', 'deployment', deployment, '-n', namespace, '-o', 'json']);
      assert.equal(d.code, 0, d.stderr);
      const template = (JSON.parse(d.stdout) as { spec: { template: { spec: Obj & { containers: Obj[] } } } }).spec.template;
      const pod = (spec: Obj) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${deployment}-psa-check` }, spec });
      const ok = await kubectl(['create', '--dry-run=server', '-n', namespace, '-f', '-'], pod(template.spec));
      assert.equal(ok.code, 0, ok.stderr);
      assert.doesNotMatch(ok.stderr, /PodSecurity/);
      const root = structuredClone(template.spec);
      root.securityContext = { ...(root.securityContext as Obj), runAsNonRoot: false, runAsUser: 0 };
      root.containers = root.containers.map((c) => ({ ...c, securityContext: { ...(c.securityContext as Obj), runAsNonRoot: false, runAsUser: 0 } }));
      const bad = await kubectl(['create', '--dry-run=server', '-n', namespace, '-f', '-'], pod(root));
      assert.notEqual(bad.code, 0, 'a root pod must be refused: the namespace does not enforce restricted');
      assert.match(bad.stderr, /violates PodSecurity "restricted/);
    }

    it('apply as a kustomize base, and the operator pods pass restricted Pod Security', async () => {
      const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-k', path.join(root, 'deploy')]);
      assert.equal(r.code, 0, r.stderr);
      for (const want of ['namespace/modelgate-system', 'clusterrole.rbac.authorization.k8s.io/modelgate-operator',
        'role.rbac.authorization.k8s.io/modelgate-leader-election', 'deployment.apps/modelgate-operator', 'service/modelgate-operator-metrics']) {
        assert.ok(r.stdout.includes(want), `${want} in ${r.stdout}`);
      }
      assert.doesNotMatch(r.stderr, /would violate PodSecurity/, r.stderr);
      await assertRestrictedPod('modelgate-system', 'modelgate-operator');
      // The operator's service account may do what the code needs, and no more.
      // kubectl reads `resource/x` as a resource name, so a subresource goes in --subresource.
      const can = async (verb: string, resource: string, namespace = ns) => {
        const [res, sub] = resource.split('/');
        const a = await kubectl(['auth', 'can-i', verb, res!, ...(sub ? [`--subresource=${sub}`] : []), '-n', namespace, '--as', 'system:serviceaccount:modelgate-system:modelgate-operator']);
        return a.stdout.trim() === 'yes';
      };
      assert.equal(await can('patch', 'deployments.apps'), true);
      assert.equal(await can('create', 'deployments.apps'), false);
      assert.equal(await can('delete', 'deployments.apps'), false);
      assert.equal(await can('update', 'modelcheckpoints.modelgate.io/status'), true);
      assert.equal(await can('update', 'modelcheckpoints.modelgate.io'), false);
      // Analysis templates are only read.
      for (const t of ['modelanalysistemplates.modelgate.io', 'clustermodelanalysistemplates.modelgate.io']) {
        assert.equal(await can('watch', t), true, `watch ${t}`);
        assert.equal(await can('get', t), true, `get ${t}`);
        assert.equal(await can('update', t), false, `update ${t}`);
        assert.equal(await can('delete', t), false, `delete ${t}`);
      }
      assert.equal(await can('delete', 'configmaps'), false);
      // Notifications read the webhook Secret a namespace's ConfigMap names: get by name, never list or watch.
      assert.equal(await can('get', 'secrets'), true);
      assert.equal(await can('list', 'secrets'), false);
      assert.equal(await can('watch', 'secrets'), false);
      assert.equal(await can('update', 'secrets'), false);
      assert.equal(await can('update', 'leases.coordination.k8s.io', 'modelgate-system'), true);
      assert.equal(await can('update', 'leases.coordination.k8s.io'), false);
    });

    it('apply the samples into a namespace under restricted Pod Security', async () => {
      const sampleNs = await freshNamespace(cp, 'sample');
      const label = await kubectl(['label', 'namespace', sampleNs, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted']);
      assert.equal(label.code, 0, label.stderr);
      const r = await kubectl(['apply', '-n', sampleNs, '-k', path.join(root, 'deploy/samples')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /deployment\.apps\/ctr-model created/);
      assert.match(r.stdout, /modelcheckpoint\.modelgate\.io\/ctr-model-1\.1\.0 created/);
      assert.match(r.stdout, /modelanalysistemplate\.modelgate\.io\/inference-latency created/);
      assert.doesNotMatch(r.stderr, /would violate PodSecurity/, r.stderr);
      await assertRestrictedPod(sampleNs, 'ctr-model');
    });
  });
});
