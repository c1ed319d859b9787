// Analysis templates resolved into the one list of metrics an analysis measures: each
// template's metrics with its {{args.<name>}} filled in, merged with the inline metrics (an
// inline metric replaces a template's metric of the same name). Pure: the caller reads the
// templates (src/kube/templates.ts) and records the result in status when analysis starts.
import { REASON } from '../api/reasons.js';
import {
  CLUSTER_TEMPLATE_KIND, TEMPLATE_KIND,
  type AnalysisArg, type AnalysisMetricSpec, type AnalysisSpec, type AnalysisTemplate, type AnalysisTemplateRef, type ResolvedAnalysis, type ResolvedTemplate,
} from '../api/types.js';
import { fillPlaceholders, QUERY_PLACEHOLDERS, templatePlaceholders } from './promql.js';

/** The status keeps counters for at most this many metrics (the CRD's bound). */
export const MAX_RESOLVED_METRICS = 16;
const ARG = 'args.';

/** One reference and what was read for it (undefined: no such template). */
export interface FetchedTemplate {
  ref: AnalysisTemplateRef;
  template?: AnalysisTemplate;
}

export type Resolution =
  | { ok: true; analysis: ResolvedAnalysis }
  | { ok: false; reason: typeof REASON.TemplateNotFound | typeof REASON.InvalidTemplate | typeof REASON.PrometheusUrlNotAllowed; message: string };

export const kindOf = (ref: AnalysisTemplateRef): ResolvedTemplate['kind'] => (ref.clusterScope ? CLUSTER_TEMPLATE_KIND : TEMPLATE_KIND);

/** The templates an analysis references, in order. */
export function templateRefs(spec: AnalysisSpec | undefined): AnalysisTemplateRef[] {
  return spec?.templates ?? [];
}

/** Whether there is anything to analyse: inline metrics or templates. */
export function hasAnalysis(spec: AnalysisSpec | undefined): boolean {
  return (spec?.metrics?.length ?? 0) > 0 || templateRefs(spec).length > 0;
}

/** A key per template object, the same for a reference and for the object the watch delivers. */
export function templateKey(kind: ResolvedTemplate['kind'], name: string, namespace?: string): string {
  return kind === CLUSTER_TEMPLATE_KIND ? `${kind}/${name}` : `${kind}/${namespace ?? ''}/${name}`;
}

export function refKey(ref: AnalysisTemplateRef, namespace: string): string {
  return templateKey(kindOf(ref), ref.name, namespace);
}

/** "ModelAnalysisTemplate latency in namespace ads" / "ClusterModelAnalysisTemplate latency". */
export function describeTemplate(kind: ResolvedTemplate['kind'], name: string, namespace?: string): string {
  return kind === CLUSTER_TEMPLATE_KIND ? `${kind} ${name}` : `${kind} ${name} in namespace ${namespace}`;
}

class TemplateError extends Error {}

/**
 * The metrics the analysis measures, or why they cannot be had:
 * - TemplateNotFound: a referenced template does not exist (the message lists every missing one);
 * - InvalidTemplate: a required arg without a value, a placeholder that is neither a declared
 *   arg nor one of {{model}}, {{version}}, ..., an arg value that cannot go where it is used, a
 *   checkpoint arg no template declares, two templates with the same metric, too many metrics.
 * Built-in placeholders stay in the queries: the analyzer fills them per measurement (the
 * baseline query fills {{version}} with the previous checkpoint's).
 */
export function resolveAnalysis(spec: AnalysisSpec, namespace: string, fetched: readonly FetchedTemplate[], now: string): Resolution {
  const missing = fetched.filter((f) => !f.template);
  if (missing.length > 0) {
    const what = missing.map((f) => `${describeTemplate(kindOf(f.ref), f.ref.name, namespace)} (spec.analysis.templates[${fetched.indexOf(f)}])`);
    const hint = missing.some((f) => f.ref.clusterScope)
      ? 'create it, or fix the name (clusterScope: true looks for a cluster-scoped ClusterModelAnalysisTemplate, false for a ModelAnalysisTemplate in this namespace)'
      : 'create it in this namespace, or fix the name (set clusterScope: true for a ClusterModelAnalysisTemplate)';
    return {
      ok: false,
      reason: REASON.TemplateNotFound,
      message: `${what.join(', ')} not found: ${hint}; the checkpoint waits, without changing the Deployment, and resumes by itself once ${missing.length === 1 ? 'it exists' : 'they exist'}`,
    };
  }
  try {
    return { ok: true, analysis: resolve(spec, namespace, fetched, now) };
  } catch (err) {
    if (err instanceof TemplateError) return { ok: false, reason: REASON.InvalidTemplate, message: err.message };
    throw err;
  }
}

/** What resolve gathers over the referenced templates, in order. */
interface Gathered {
  /** The checkpoint's arg values (spec.analysis.args). */
  given: Map<string, string>;
  /** The templates seen so far (refKey), to refuse one listed twice. */
  seen: Set<string>;
  /** The args some template declares. */
  declaredBy: Set<string>;
  /** The templates' metrics by name, with the template each comes from. */
  fromTemplates: Map<string, { metric: AnalysisMetricSpec; from: string }>;
  templates: ResolvedTemplate[];
}

function resolve(spec: AnalysisSpec, namespace: string, fetched: readonly FetchedTemplate[], now: string): ResolvedAnalysis {
  const g: Gathered = { given: new Map((spec.args ?? []).map((a) => [a.name, a.value])), seen: new Set(), declaredBy: new Set(), fromTemplates: new Map(), templates: [] };
  for (const [i, f] of fetched.entries()) addTemplate(g, i, f, namespace);

  const unused = [...g.given.keys()].filter((a) => !g.declaredBy.has(a));
  if (unused.length > 0) {
    const refs = fetched.map((f) => f.ref.name);
    throw new TemplateError(`spec.analysis.args ${unused.join(', ')} ${unused.length === 1 ? 'is' : 'are'} declared by ${refs.length === 0 ? 'no template (spec.analysis.templates is empty)' : `none of the templates (${refs.join(', ')})`}: remove ${unused.length === 1 ? 'it' : 'them'} or fix the name`);
  }

  // Inline metrics replace the templates' metrics of the same name, in the template's place.
  const inline = new Map((spec.metrics ?? []).map((m) => [m.name, m]));
  const metrics: AnalysisMetricSpec[] = [];
  for (const [name, { metric }] of g.fromTemplates) metrics.push(inline.get(name) ?? metric);
  for (const m of spec.metrics ?? []) if (!g.fromTemplates.has(m.name)) metrics.push(m);
  for (const t of g.templates) t.metrics = t.metrics.filter((n) => !inline.has(n));
  if (metrics.length > MAX_RESOLVED_METRICS) {
    throw new TemplateError(`the analysis resolves to ${metrics.length} metrics (${metrics.map((m) => m.name).join(', ')}), more than the ${MAX_RESOLVED_METRICS} one analysis can keep: reference fewer templates or drop inline metrics`);
  }
  return { resolvedAt: now, templates: g.templates, metrics };
}

/** One referenced template (the i-th) into `g`: its metrics with the args filled in, and its record. */
function addTemplate(g: Gathered, i: number, { ref, template }: FetchedTemplate, namespace: string): void {
  const t = template as AnalysisTemplate;
  const kind = kindOf(ref);
  const ns = kind === TEMPLATE_KIND ? namespace : undefined;
  const where = describeTemplate(kind, ref.name, ns);
  const key = refKey(ref, namespace);
  if (g.seen.has(key)) throw new TemplateError(`spec.analysis.templates[${i}] references ${where} a second time: list each template once`);
  g.seen.add(key);

  // The template's defaults, then the checkpoint's values.
  const values = new Map<string, string | undefined>();
  for (const a of t.spec.args ?? []) {
    g.declaredBy.add(a.name);
    values.set(a.name, g.given.get(a.name) ?? a.value);
  }
  const used: AnalysisArg[] = [];
  const metrics = (t.spec.metrics ?? []).map((m) => fillMetric(m, where, values, used));
  for (const m of metrics) {
    const other = g.fromTemplates.get(m.name);
    if (other) throw new TemplateError(`metric ${m.name} is defined by both ${other.from} and ${where}: rename one, or give the metric inline in spec.analysis.metrics, which replaces both`);
    g.fromTemplates.set(m.name, { metric: m, from: where });
  }
  g.templates.push({
    kind,
    name: ref.name,
    ...(ns !== undefined ? { namespace: ns } : {}),
    ...(t.metadata.uid ? { uid: t.metadata.uid } : {}),
    ...(t.metadata.resourceVersion ? { resourceVersion: t.metadata.resourceVersion } : {}),
    ...(t.metadata.generation !== undefined ? { generation: t.metadata.generation } : {}),
    ...(used.length > 0 ? { args: used } : {}),
    metrics: metrics.map((m) => m.name),
  });
}

/** A template's metric with its {{args.<name>}} filled into query and baselineQuery; each arg used is added to `used`. */
function fillMetric(m: AnalysisMetricSpec, where: string, values: ReadonlyMap<string, string | undefined>, used: AnalysisArg[]): AnalysisMetricSpec {
  const out: AnalysisMetricSpec = { ...m };
  for (const field of ['query', 'baselineQuery'] as const) {
    const text = m[field];
    if (text === undefined) continue;
    const at = `spec.metrics[${m.name}].${field}`;
    for (const p of templatePlaceholders(text)) checkPlaceholder(p, where, at, values, used);
    try {
      out[field] = fillPlaceholders(text, (name) => (name.startsWith(ARG) ? values.get(name.slice(ARG.length)) : undefined), { numbersOutsideQuotes: true });
    } catch (err) {
      throw new TemplateError(`${where}: ${at}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** A placeholder of a template's query must be an arg the template declares, with a usable value (added to `used`), or a built-in one. */
function checkPlaceholder(p: string, where: string, at: string, values: ReadonlyMap<string, string | undefined>, used: AnalysisArg[]): void {
  if (!p.startsWith(ARG)) {
    if (!(QUERY_PLACEHOLDERS as readonly string[]).includes(p)) {
      throw new TemplateError(`${where}: ${at} uses unknown placeholder {{${p}}} (known: ${QUERY_PLACEHOLDERS.map((n) => `{{${n}}}`).join(', ')} and {{args.<name>}} for the template's args): fix the template`);
    }
    return;
  }
  const arg = p.slice(ARG.length);
  if (!values.has(arg)) {
    const declared = [...values.keys()];
    throw new TemplateError(`${where}: ${at} uses {{${p}}}, but the template declares no arg named ${arg}${declared.length > 0 ? ` (it declares ${declared.join(', ')})` : ''}: add {name: ${arg}} to the template's spec.args, or fix the placeholder`);
  }
  const value = values.get(arg);
  if (value === undefined) {
    throw new TemplateError(`${where} needs a value for arg ${arg} (used in ${at}), and it has no default: add {name: ${arg}, value: ...} to the checkpoint's spec.analysis.args, or give the arg a value in the template`);
  }
  if (/\{\{|\}\}/.test(value)) {
    throw new TemplateError(`${where}: the value of arg ${arg} contains {{ or }}, which a query value may not: remove them from spec.analysis.args[${arg}]`);
  }
  if (!used.some((u) => u.name === arg)) used.push({ name: arg, value });
}
