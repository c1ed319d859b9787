// The manifests under crds/ and deploy/, checked without a server: they parse, the RBAC is least
// privilege, the operator pod is locked down, the CRD schema bounds every value (so CEL stays in
// budget and nothing unbounded reaches etcd), and the schema mirrors src/api/types.ts field by
// field (the TypeScript compiler reads the interfaces).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/operator/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

type Obj = Record<string, unknown>;
interface Doc {
  file: string;
  value: Obj;
}
interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [key: string]: unknown;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...yamlFiles(full));
    else if (/\.ya?ml$/.test(name) || name === 'Kustomization') out.push(full);
  }
  return out.sort();
}

function loadDocs(files: string[]): Doc[] {
  const docs: Doc[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
      assert.deepEqual(problems, [], `${path.relative(root, file)} parses cleanly`);
      const value = doc.toJS() as unknown;
      if (value !== null && value !== undefined) docs.push({ file: path.relative(root, file), value: value as Obj });
    }
  }
  return docs;
}

const files = [...yamlFiles(path.join(root, 'crds')), ...yamlFiles(path.join(root, 'deploy')), path.join(root, 'kind-config.yaml')];
const docs = loadDocs(files);
const ofKind = (kind: string) => docs.filter((d) => d.value.kind === kind);
const named = (kind: string, name: string): Obj => {
  const doc = ofKind(kind).find((d) => (d.value.metadata as Obj | undefined)?.name === name);
  assert.ok(doc, `${kind} ${name} exists`);
  return doc.value;
};
const crd = named('CustomResourceDefinition', 'modelcheckpoints.modelgate.io');
const version = ((crd.spec as Obj).versions as Obj[])[0] as Obj;
const schema = (version.schema as Obj).openAPIV3Schema as Schema;
const templateCrds = ['modelanalysistemplates.modelgate.io', 'clustermodelanalysistemplates.modelgate.io'].map((n) => named('CustomResourceDefinition', n));
const schemaOf = (c: Obj): Schema => ((((c.spec as Obj).versions as Obj[])[0] as Obj).schema as Obj).openAPIV3Schema as Schema;

describe('manifests', () => {
  it('parses every YAML file under crds/ and deploy/ (and kind-config.yaml)', () => {
    assert.ok(files.length >= 10, `found ${files.length} files`);
    for (const d of docs) {
      assert.equal(typeof d.value.apiVersion, 'string', `${d.file}: apiVersion`);
      assert.equal(typeof d.value.kind, 'string', `${d.file}: kind`);
    }
    // kubectl apply -f crds/ must see only the CRDs: the kustomization there has no .yaml name.
    const applied = readdirSync(path.join(root, 'crds')).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
    assert.deepEqual(applied, ['clustermodelanalysistemplates.yaml', 'modelanalysistemplates.yaml', 'modelcheckpoints.yaml']);
    const kustomization = docs.find((d) => d.file === path.join('crds', 'Kustomization'))?.value;
    assert.deepEqual([...(kustomization?.resources as string[])].sort(), applied);
  });

  describe('RBAC', () => {
    const rbac = docs.filter((d) => ['ClusterRole', 'Role'].includes(String(d.value.kind)));
    const rules = (o: Obj) => (o.rules ?? []) as { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] }[];

    it('has no wildcard anywhere', () => {
      assert.ok(rbac.length >= 2);
      for (const d of rbac) {
        for (const r of rules(d.value)) {
          for (const v of [...(r.apiGroups ?? []), ...(r.resources ?? []), ...(r.verbs ?? []), ...(r.resourceNames ?? [])]) {
            assert.ok(!v.includes('*'), `${d.file}: wildcard in ${JSON.stringify(r)}`);
          }
        }
      }
    });

    it('reads and patches Deployments only: exactly get, list, watch, patch', () => {
      const verbs = rbac.flatMap((d) => rules(d.value))
        .filter((r) => r.apiGroups?.includes('apps') && r.resources?.includes('deployments'))
        .flatMap((r) => r.verbs ?? []);
      assert.deepEqual([...verbs].sort(), ['get', 'list', 'patch', 'watch']);
    });

    it('grants what the operator uses, and no more', () => {
      const role = named('ClusterRole', 'modelgate-operator');
      const grants = new Map<string, string[]>();
      for (const r of rules(role)) {
        for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) grants.set(`${g}/${res}`, [...(r.verbs ?? [])].sort());
      }
      assert.deepEqual(Object.fromEntries(grants), {
        'modelgate.io/modelcheckpoints': ['get', 'list', 'patch', 'watch'],
        'modelgate.io/modelcheckpoints/status': ['update'],
        // Analysis templates: informers (list, watch) and a get before they sync (src/kube/templates.ts).
        'modelgate.io/modelanalysistemplates': ['get', 'list', 'watch'],
        'modelgate.io/clustermodelanalysistemplates': ['get', 'list', 'watch'],
        'apps/deployments': ['get', 'list', 'patch', 'watch'],
        'apps/replicasets': ['list'],
        // A rollout's pods: readiness, restarts and reasons (src/kube/deployments.ts rolloutFacts).
        // ... and a validation Job's pod (src/kube/jobs.ts), whose log holds its report.
        '/pods': ['list'],
        '/pods/log': ['get'],
        // Validation Jobs: created by fixed name, read by it (adoption), watched (caps, completion), deleted to retry or supersede.
        'batch/jobs': ['create', 'delete', 'get', 'list', 'watch'],
        'events.k8s.io/events': ['create'],
        '/configmaps': ['create', 'get', 'patch'],
        '/secrets': ['get'],
      });
      const leases = named('Role', 'modelgate-leader-election');
      assert.equal((leases.metadata as Obj).namespace, 'modelgate-system');
      assert.deepEqual(rules(leases), [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
      for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
        for (const d of ofKind(kind)) {
          assert.deepEqual(d.value.subjects, [{ kind: 'ServiceAccount', name: 'modelgate-operator', namespace: 'modelgate-system' }]);
        }
      }
    });
  });

  describe('operator Deployment', () => {
    const dep = named('Deployment', 'modelgate-operator');
    const pod = ((dep.spec as Obj).template as Obj).spec as Obj;
    const container = (pod.containers as Obj[])[0] as Obj;

    it('runs two replicas under restricted Pod Security', () => {
      assert.equal((dep.spec as Obj).replicas, 2);
      assert.equal(pod.terminationGracePeriodSeconds, 30);
      assert.equal(pod.serviceAccountName, 'modelgate-operator');
      const psc = pod.securityContext as Obj;
      assert.equal(psc.runAsNonRoot, true);
      assert.deepEqual(psc.seccompProfile, { type: 'RuntimeDefault' });
      const sc = container.securityContext as Obj;
      assert.equal(sc.runAsNonRoot, true);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
      assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
      const resources = container.resources as { requests?: Obj; limits?: Obj };
      for (const k of ['cpu', 'memory']) {
        assert.ok(resources.requests?.[k], `requests.${k}`);
        assert.ok(resources.limits?.[k], `limits.${k}`);
      }
    });

    it('has probes, ports, downward-API env and a size-limited download cache', () => {
      assert.deepEqual((container.livenessProbe as Obj).httpGet, { path: '/healthz', port: 'health' });
      assert.deepEqual((container.readinessProbe as Obj).httpGet, { path: '/readyz', port: 'health' });
      const ports = Object.fromEntries((container.ports as Obj[]).map((p) => [p.name, p.containerPort]));
      assert.deepEqual(ports, { metrics: 8080, health: 8081 });
      const env = Object.fromEntries((container.env as Obj[]).map((e) => [e.name, ((e.valueFrom as Obj | undefined)?.fieldRef as Obj | undefined)?.fieldPath]));
      assert.equal(env.POD_NAME, 'metadata.name');
      assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
      assert.ok((container.args as string[]).some((a) => a.startsWith('--leader-elect')));
      const mount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === '/var/cache/modelgate');
      assert.ok(mount);
      const volume = (pod.volumes as Obj[]).find((v) => v.name === mount.name);
      assert.ok((volume?.emptyDir as Obj | undefined)?.sizeLimit, 'the download emptyDir has a sizeLimit');
      assert.equal(container.image, 'modelgate');
    });

    it('prefers its two replicas on different nodes (pod anti-affinity by hostname, matching its own labels)', () => {
      const anti = ((pod.affinity as Obj | undefined)?.podAntiAffinity as Obj | undefined);
      assert.ok(anti, 'spec.template.spec.affinity.podAntiAffinity is set');
      assert.equal(anti.requiredDuringSchedulingIgnoredDuringExecution, undefined, 'preferred, not required: a one-node cluster still runs both replicas');
      const terms = anti.preferredDuringSchedulingIgnoredDuringExecution as Array<{ weight: number; podAffinityTerm: Obj }>;
      assert.equal(terms.length, 1);
      assert.ok(terms[0]!.weight > 0 && terms[0]!.weight <= 100);
      assert.equal(terms[0]!.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
      const podLabels = (((dep.spec as Obj).template as Obj).metadata as Obj).labels as Record<string, string>;
      const match = (terms[0]!.podAffinityTerm.labelSelector as Obj).matchLabels as Record<string, string>;
      assert.ok(Object.keys(match).length > 0);
      for (const [k, v] of Object.entries(match)) assert.equal(podLabels[k], v, `the anti-affinity selects the operator's own pods (${k})`);
    });

    it('passes args the operator accepts, matching its ports and cache folder', () => {
      const cfg = parseConfig(container.args as string[], { POD_NAME: 'modelgate-operator-abc', POD_NAMESPACE: 'modelgate-system' });
      assert.equal(cfg.leaderElect, true);
      assert.equal(cfg.namespace, 'modelgate-system');
      assert.equal(cfg.identity, 'modelgate-operator-abc');
      assert.equal(cfg.healthPort, 8081);
      assert.equal(cfg.metricsPort, 8080);
      assert.equal(cfg.cacheDir, '/var/cache/modelgate');
      // The memory limit covers the validation workers' caps plus the operator.
      const limit = String((container.resources as { limits: Obj }).limits.memory);
      const mib = Number(/^(\d+)Gi$/.exec(limit)?.[1] ?? NaN) * 1024 || Number(/^(\d+)Mi$/.exec(limit)?.[1]);
      assert.ok(mib >= cfg.validationWorkers * cfg.workerMemoryMiB + 512, `limits.memory ${limit}`);
      // The cache budget leaves room in the download emptyDir for one more largest download: over
      // its sizeLimit the kubelet evicts the pod.
      const mount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === cfg.cacheDir)!;
      const sizeLimit = String(((pod.volumes as Obj[]).find((v) => v.name === mount.name)?.emptyDir as Obj).sizeLimit);
      const limitBytes = Number(/^(\d+)Gi$/.exec(sizeLimit)?.[1] ?? NaN) * 1024 ** 3;
      assert.ok(cfg.cacheMaxBytes > 0, 'the download cache has a byte budget');
      assert.ok(cfg.cacheMaxBytes + cfg.maxArtifactBytes <= limitBytes, `--cache-max-bytes ${cfg.cacheMaxBytes} + --max-artifact-bytes ${cfg.maxArtifactBytes} fit the emptyDir sizeLimit ${sizeLimit}`);
    });
  });

  it('has a PodDisruptionBudget for the operator that lets a drain evict an unready replica (unhealthyPodEvictionPolicy AlwaysAllow)', () => {
    const pdb = named('PodDisruptionBudget', 'modelgate-operator').spec as Obj;
    assert.equal(pdb.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    assert.equal(pdb.minAvailable, 1);
    const dep = named('Deployment', 'modelgate-operator');
    const podLabels = (((dep.spec as Obj).template as Obj).metadata as Obj).labels as Record<string, string>;
    for (const [k, v] of Object.entries((pdb.selector as Obj).matchLabels as Record<string, string>)) assert.equal(podLabels[k], v, `the budget selects the operator's pods (${k})`);
  });

  it('keeps the ServiceMonitor out of the base, in an optional component', () => {
    const base = docs.find((d) => d.file === path.join('deploy', 'kustomization.yaml'))?.value;
    assert.ok(base);
    assert.deepEqual(base.images, [{ name: 'modelgate', newName: 'modelgate', newTag: 'dev' }]);
    assert.ok((base.resources as string[]).includes('../crds'));
    assert.ok(!(base.resources as string[]).some((r) => r.includes('monitoring')));
    const component = docs.find((d) => d.file === path.join('deploy', 'monitoring', 'kustomization.yaml'))?.value;
    assert.equal(component?.kind, 'Component');
    assert.equal(ofKind('ServiceMonitor')[0]?.file, path.join('deploy', 'monitoring', 'servicemonitor.yaml'));
  });

  it('has samples whose checkpoint targets the sample inference Deployment', () => {
    const ckpt = ofKind('ModelCheckpoint')[0]?.value;
    assert.ok(ckpt);
    const spec = ckpt.spec as { target: { deployment: string; container: string }; analysis: { metrics: { name: string }[] } };
    const dep = named('Deployment', spec.target.deployment);
    const container = (((dep.spec as Obj).template as Obj).spec as { containers: Obj[] }).containers.find((c) => c.name === spec.target.container);
    assert.ok(container, 'the target container exists');
    assert.deepEqual(container.command, ['node', 'dist/src/server/main.js']);
    assert.deepEqual((container.env as Obj[]).map((e) => e.name), ['MODEL_URI', 'MODEL_DIGEST', 'MODEL_VERSION', 'OUTCOMES_TOKEN', 'MODEL_CACHE_DIR', 'MODEL_MAX_BYTES']);
    // The outcomes token comes from a Secret, never a literal in the manifest.
    const token = (container.env as Obj[]).find((e) => e.name === 'OUTCOMES_TOKEN');
    assert.equal(token?.value, undefined);
    assert.deepEqual((token?.valueFrom as Obj).secretKeyRef, { name: 'inference-outcomes', key: 'token' });
    assert.equal(((container.readinessProbe as Obj).httpGet as Obj).path, '/v2/health/ready');
    assert.ok(spec.analysis.metrics.some((m) => m.name === 'conversion-rate'));
  });

  it('lets the sample server fetch its model with a read-only root filesystem: the cache is an emptyDir larger than MODEL_MAX_BYTES', () => {
    const dep = named('Deployment', 'ctr-model');
    const pod = ((dep.spec as Obj).template as Obj).spec as { containers: Obj[]; volumes: Obj[] };
    const container = pod.containers.find((c) => c.name === 'server');
    assert.ok(container);
    const env = Object.fromEntries((container.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
    assert.match(env.MODEL_URI ?? '', /^https:\/\//, 'the operator writes https URIs; the server fetches them');
    assert.equal((container.securityContext as Obj).readOnlyRootFilesystem, true);
    const mount = (container.volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean }>).find((m) => m.mountPath === env.MODEL_CACHE_DIR);
    assert.ok(mount, `MODEL_CACHE_DIR ${env.MODEL_CACHE_DIR} is a volume mount`);
    assert.notEqual(mount.readOnly, true);
    const volume = pod.volumes.find((v) => v.name === mount.name) as { emptyDir?: { sizeLimit?: string } } | undefined;
    assert.ok(volume?.emptyDir, 'the cache is an emptyDir');
    const units: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
    const m = /^(\d+)(Ki|Mi|Gi)$/.exec(volume.emptyDir.sizeLimit ?? '');
    assert.ok(m, `sizeLimit ${volume.emptyDir.sizeLimit}`);
    assert.ok(Number(env.MODEL_MAX_BYTES) < Number(m[1]) * units[m[2]!]!, 'a model over the limit is refused before the volume fills');
    assert.equal(container.terminationMessagePolicy, 'FallbackToLogsOnError');
  });

  it('has a sample analysis template that the sample checkpoint references, with every required arg given', () => {
    const ckpt = ofKind('ModelCheckpoint')[0]?.value as { spec: { analysis: { templates?: { name: string; clusterScope?: boolean }[]; args?: { name: string; value: string }[] } } };
    const refs = ckpt.spec.analysis.templates ?? [];
    assert.ok(refs.length > 0, 'the sample checkpoint references a template');
    const samples = docs.find((d) => d.file === path.join('deploy', 'samples', 'kustomization.yaml'))?.value;
    for (const ref of refs) {
      const t = ofKind(ref.clusterScope ? 'ClusterModelAnalysisTemplate' : 'ModelAnalysisTemplate').find((d) => (d.value.metadata as Obj).name === ref.name);
      assert.ok(t, `template ${ref.name} is among the samples`);
      assert.ok((samples?.resources as string[]).includes(path.basename(t.file)), `${t.file} is in deploy/samples/kustomization.yaml`);
      const args = ((t.value.spec as Obj).args ?? []) as { name: string; value?: string }[];
      for (const a of args.filter((x) => x.value === undefined)) {
        assert.ok(ckpt.spec.analysis.args?.some((g) => g.name === a.name), `required arg ${a.name} of ${ref.name} is given`);
      }
    }
  });

  describe('analysis template CRDs', () => {
    it('a namespaced and a cluster-scoped kind, with short names, an Age column and the same schema', () => {
      const [ns, cluster] = templateCrds.map((c) => c.spec as Obj & { names: Obj; versions: Obj[] });
      assert.equal(ns?.scope, 'Namespaced');
      assert.equal(cluster?.scope, 'Cluster');
      assert.equal(ns?.names.kind, 'ModelAnalysisTemplate');
      assert.equal(cluster?.names.kind, 'ClusterModelAnalysisTemplate');
      assert.deepEqual(ns?.names.shortNames, ['mat']);
      assert.deepEqual(cluster?.names.shortNames, ['cmat']);
      for (const c of [ns, cluster]) {
        assert.equal(c?.group, 'modelgate.io');
        assert.deepEqual(c?.names.categories, ['modelgate']);
        const v = c?.versions[0] as Obj;
        assert.equal(v.name, 'v1alpha1');
        assert.equal(v.subresources, undefined, 'no status: the operator never writes a template');
        const cols = (v.additionalPrinterColumns as Obj[]).map((x) => `${String(x.name)}=${String(x.jsonPath)}`);
        assert.deepEqual(cols, ['Age=.metadata.creationTimestamp']);
      }
      const [a, b] = templateCrds.map(schemaOf);
      const { description: _da, ...restA } = a as Schema;
      const { description: _db, ...restB } = b as Schema;
      assert.deepEqual(restA, restB);
    });

    it('metrics are those of spec.analysis.metrics, plus the args', () => {
      const t = schemaOf(templateCrds[0] as Obj).properties?.spec;
      const inline = schema.properties?.spec?.properties?.analysis?.properties?.metrics;
      const strip = (s: Schema | undefined): unknown => JSON.parse(JSON.stringify(s, (k, v: unknown) => (k === 'description' || k === 'message' ? undefined : v)));
      assert.deepEqual(strip(t?.properties?.metrics), strip(inline));
      assert.deepEqual(t?.required, ['metrics']);
      assert.deepEqual([t?.properties?.args?.['x-kubernetes-list-type'], t?.properties?.args?.['x-kubernetes-list-map-keys']], ['map', ['name']]);
      assert.deepEqual(t?.properties?.args?.items?.required, ['name'], 'an arg without a value is required from the checkpoint');
    });

    it('mirror AnalysisTemplateSpec in src/api/types.ts', () => {
      for (const c of templateCrds) {
        const diffs = compareWithTypes(schemaOf(c), ['AnalysisTemplateSpec', 'spec']);
        assert.deepEqual(diffs, [], `schema and types.ts differ:\n${diffs.join('\n')}`);
      }
    });
  });

  describe('CRD', () => {
    it('is namespaced, with short names, the status subresource and the printer columns', () => {
      const spec = crd.spec as Obj;
      assert.equal(spec.scope, 'Namespaced');
      assert.deepEqual((spec.names as Obj).shortNames, ['mckpt', 'ckpt']);
      assert.deepEqual((spec.names as Obj).categories, ['modelgate']);
      assert.equal((spec.versions as Obj[]).length, 1);
      assert.equal(version.served, true);
      assert.equal(version.storage, true);
      assert.deepEqual(version.subresources, { status: {} });
      const cols = (version.additionalPrinterColumns as Obj[]).map((c) => `${String(c.name)}=${String(c.jsonPath)}`);
      assert.deepEqual(cols, [
        'Model=.spec.model', 'Version=.spec.version', 'Phase=.status.phase', 'Severity=.status.severity',
        'Deployment=.spec.target.deployment', 'Ready=.status.conditions[?(@.type=="Ready")].status',
        'Age=.metadata.creationTimestamp',
      ]);
    });

    it('bounds every string, number, array and map in the schema', () => {
      const missing: string[] = [];
      const walk = (s: Schema, at: string, parent?: Schema): void => {
        assert.equal(s.$ref, undefined, `${at}: no $ref in a structural schema`);
        if (s.type === undefined) {
          // Only a free-form scalar value (number | string | boolean in types.ts) in a bounded map.
          // Or a Kubernetes quantity (x-kubernetes-int-or-string), likewise in a bounded map.
          const ok = (s['x-kubernetes-preserve-unknown-fields'] === true || s['x-kubernetes-int-or-string'] === true) && parent?.maxProperties !== undefined;
          if (!ok) missing.push(`${at}: type`);
          return;
        }
        if (s.type === 'string' && s.maxLength === undefined && s.enum === undefined) missing.push(`${at}: maxLength`);
        if ((s.type === 'number' || s.type === 'integer') && (s.minimum === undefined || s.maximum === undefined)) missing.push(`${at}: minimum/maximum`);
        if (s.type === 'array') {
          if (s.maxItems === undefined) missing.push(`${at}: maxItems`);
          if (s.items) walk(s.items, `${at}[]`, s);
        }
        if (s.type === 'object') {
          const open = typeof s.additionalProperties === 'object' || s['x-kubernetes-preserve-unknown-fields'] === true;
          if (open && s.maxProperties === undefined) missing.push(`${at}: maxProperties`);
          for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${at}.${k}`, s);
          if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${at}.*`, s);
        }
      };
      for (const [i, s] of [schema, ...templateCrds.map(schemaOf)].entries()) {
        const { metadata: _metadata, ...rest } = s.properties ?? {};
        for (const [k, v] of Object.entries(rest)) walk(v, i === 0 ? k : `template ${k}`);
      }
      assert.deepEqual(missing, [], `schema nodes without bounds:\n${missing.join('\n')}`);
    });

    it('has the validation rules that refuse bad manifests, with messages naming the field', () => {
      const rules: { at: string; rule: string; message?: string }[] = [];
      const walk = (s: Schema, at: string): void => {
        for (const r of s['x-kubernetes-validations'] ?? []) rules.push({ at, ...r });
        for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${at}.${k}`);
        if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${at}.*`);
        if (s.items) walk(s.items, `${at}[]`);
      };
      walk(schema, '');
      for (const t of templateCrds) walk(schemaOf(t), '');
      const find = (at: string) => rules.filter((r) => r.at === at);
      assert.ok(find('.spec.analysis').some((r) => /has\(self\.metrics\).*has\(self\.templates\)/.test(r.rule)), 'an analysis needs metrics or templates');
      assert.match(find('.spec.artifact')[0]?.rule ?? '', /self == oldSelf/);
      assert.match(find('.spec.artifact')[0]?.message ?? '', /create a new ModelCheckpoint/);
      assert.match(find('.spec.model')[0]?.rule ?? '', /self == oldSelf/);
      assert.match(find('.spec.target.deployment')[0]?.rule ?? '', /self == oldSelf/);
      assert.match(find('.spec.artifact.digest')[0]?.rule ?? '', /sha256/);
      assert.match(find('.spec.artifact.uri')[0]?.rule ?? '', /https\|http\|file/);
      for (const at of ['.spec.validation.regression.bands', '.spec.analysis.bands']) {
        assert.match(find(at)[0]?.rule ?? '', /self\.minor < self\.moderate && self\.moderate < self\.severe/, at);
      }
      for (const r of rules) {
        assert.ok(r.message, `${r.at}: rule ${r.rule} has a message`);
        assert.ok(r.message.includes(r.at.slice(1)), `${r.at}: the message names the field: ${r.message}`);
      }
      const lists = (s: Schema | undefined) => [s?.['x-kubernetes-list-type'], s?.['x-kubernetes-list-map-keys']];
      const spec = schema.properties?.spec;
      assert.deepEqual(lists(spec?.properties?.analysis?.properties?.metrics), ['map', ['name']]);
      assert.deepEqual(lists(spec?.properties?.validation?.properties?.holdout?.properties?.thresholds), ['map', ['metric']]);
      assert.deepEqual(lists(schema.properties?.status?.properties?.conditions), ['map', ['type']]);
      assert.equal(spec?.properties?.training?.properties?.config?.['x-kubernetes-preserve-unknown-fields'], true);
    });

    it('documents the defaults that src/api/types.ts states', () => {
      const spec = schema.properties?.spec?.properties ?? {};
      const at = (...p: string[]) => p.reduce<Schema | undefined>((s, k) => s?.properties?.[k], { properties: spec })?.default;
      assert.equal(at('rollout', 'autoDeploy'), true);
      assert.equal(at('rollout', 'paused'), false);
      assert.equal(at('target', 'modelEnv'), 'MODEL_URI');
      assert.equal(at('validation', 'timeoutSeconds'), 600);
      assert.equal(at('validation', 'architecture', 'policy'), 'Strict');
      assert.equal(at('validation', 'architecture', 'maxParameterChangeRatio'), 0.5);
      assert.equal(at('validation', 'holdout', 'minSuccessRate'), 0.95);
      assert.equal(at('validation', 'holdout', 'maxLatencyP95Ms'), 100);
      assert.equal(at('validation', 'holdout', 'labelField'), 'label');
      assert.deepEqual(at('validation', 'benchmark', 'batchSizes'), [1, 8]);
      assert.equal(at('validation', 'regression', 'blockAt'), 'SEVERE');
      assert.equal(at('validation', 'regression', 'bootstrapResamples'), 1000);
      assert.equal(at('validation', 'regression', 'confidence'), 0.95);
      assert.equal(at('validation', 'regression', 'insufficientEvidence'), 'Block');
      assert.equal(at('validation', 'benchmark', 'symbolicDimSize'), 256);
      assert.deepEqual([at('validation', 'regression', 'bands', 'minor'), at('validation', 'regression', 'bands', 'moderate'),
        at('validation', 'regression', 'bands', 'severe')], [0.05, 0.15, 0.3]);
      assert.equal(at('analysis', 'intervalSeconds'), 30);
      assert.equal(at('analysis', 'durationSeconds'), 600);
      assert.equal(at('analysis', 'onInconclusive'), 'Hold');
    });

    it('mirrors src/api/types.ts field by field (names, required, enums, kinds)', () => {
      const diffs = compareWithTypes(schema);
      assert.deepEqual(diffs, [], `schema and types.ts differ:\n${diffs.join('\n')}`);
    });
  });
});

/** Walks the TypeScript types of ModelCheckpointSpec/Status (or `only`: one interface and the schema's property) beside the schema; returns differences. */
function compareWithTypes(crdSchema: Schema, only?: [string, string]): string[] {
  const file = path.join(root, 'src/api/types.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022 });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source);
  const declared = (name: string): ts.Type => {
    const decl = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
    assert.ok(decl, `interface ${name}`);
    return checker.getTypeAtLocation(decl.name);
  };
  const diffs: string[] = [];

  const literalValues = (t: ts.Type): unknown[] | undefined => {
    const parts = t.isUnion() ? t.types : [t];
    if (!parts.every((p) => p.isStringLiteral())) return undefined;
    return parts.map((p) => (p as ts.StringLiteralType).value).sort();
  };

  const compare = (t: ts.Type, s: Schema, at: string): void => {
    t = checker.getNonNullableType(t);
    const flags = t.getFlags();
    const literals = literalValues(t);
    if (literals) {
      if (s.type !== 'string') diffs.push(`${at}: types.ts has a string union, schema has ${s.type}`);
      else if (JSON.stringify([...(s.enum ?? [])].sort()) !== JSON.stringify(literals)) {
        diffs.push(`${at}: enum ${JSON.stringify(s.enum)} vs types.ts ${JSON.stringify(literals)}`);
      }
      return;
    }
    if (flags & ts.TypeFlags.String) {
      if (s.type !== 'string' || s.enum) diffs.push(`${at}: string in types.ts, schema ${s.type}${s.enum ? ' enum' : ''}`);
      return;
    }
    if (flags & ts.TypeFlags.Number) {
      if (s.type !== 'number' && s.type !== 'integer') diffs.push(`${at}: number in types.ts, schema ${s.type}`);
      return;
    }
    if (flags & ts.TypeFlags.Boolean || flags & ts.TypeFlags.BooleanLiteral) {
      if (s.type !== 'boolean') diffs.push(`${at}: boolean in types.ts, schema ${s.type}`);
      return;
    }
    if (flags & ts.TypeFlags.Unknown) {
      if (s['x-kubernetes-preserve-unknown-fields'] !== true) diffs.push(`${at}: unknown in types.ts, schema not free-form`);
      return;
    }
    if (t.isUnion()) {
      // A scalar union (number | string | boolean): a free-form value the schema leaves untyped.
      // (A Kubernetes quantity, number | string, is x-kubernetes-int-or-string.)
      if (s.type !== undefined || (s['x-kubernetes-preserve-unknown-fields'] !== true && s['x-kubernetes-int-or-string'] !== true)) diffs.push(`${at}: union in types.ts, schema ${s.type}`);
      return;
    }
    if (checker.isArrayType(t)) {
      if (s.type !== 'array' || !s.items) diffs.push(`${at}: array in types.ts, schema ${s.type}`);
      else compare(checker.getTypeArguments(t as ts.TypeReference)[0]!, s.items, `${at}[]`);
      return;
    }
    const index = checker.getIndexInfosOfType(t).find((i) => i.keyType.getFlags() & ts.TypeFlags.String);
    if (index) {
      if (s.type !== 'object') diffs.push(`${at}: map in types.ts, schema ${s.type}`);
      else if (index.type.getFlags() & ts.TypeFlags.Unknown) {
        if (s['x-kubernetes-preserve-unknown-fields'] !== true) diffs.push(`${at}: Record<string, unknown> but schema not free-form`);
      } else if (typeof s.additionalProperties !== 'object') diffs.push(`${at}: map in types.ts, schema has no additionalProperties`);
      else compare(index.type, s.additionalProperties, `${at}.*`);
      return;
    }
    if (s.type !== 'object') {
      diffs.push(`${at}: object in types.ts, schema ${s.type}`);
      return;
    }
    const props = checker.getPropertiesOfType(t);
    const tsNames = props.map((p) => p.name).sort();
    const schemaNames = Object.keys(s.properties ?? {}).sort();
    for (const n of tsNames) if (!schemaNames.includes(n)) diffs.push(`${at}.${n}: in types.ts, not in the schema`);
    for (const n of schemaNames) if (!tsNames.includes(n)) diffs.push(`${at}.${n}: in the schema, not in types.ts`);
    for (const p of props) {
      const sub = s.properties?.[p.name];
      if (!sub) continue;
      const optional = (p.getFlags() & ts.SymbolFlags.Optional) !== 0;
      const required = (s.required ?? []).includes(p.name);
      if (optional === required) diffs.push(`${at}.${p.name}: ${optional ? 'optional' : 'required'} in types.ts, ${required ? 'required' : 'optional'} in the schema`);
      compare(checker.getTypeOfSymbol(p), sub, `${at}.${p.name}`);
    }
  };

  if (only) {
    compare(declared(only[0]), crdSchema.properties?.[only[1]] ?? {}, only[1]);
    return diffs;
  }
  compare(declared('ModelCheckpointSpec'), crdSchema.properties?.spec ?? {}, 'spec');
  compare(declared('ModelCheckpointStatus'), crdSchema.properties?.status ?? {}, 'status');
  return diffs;
}
