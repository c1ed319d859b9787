// `modelgate status`: one checkpoint's phase, conditions, gates, deployment and analysis; or,
// without a name, every checkpoint in the namespace.
import { judgedSeverity } from '../../api/conditions.js';
import type { ModelCheckpoint, ModelCheckpointStatus } from '../../api/types.js';
import { GLOBAL_HELP, integerFlag, noMorePositionals, parseCommand } from '../args.js';
import { kubeContext, requireCheckpoint } from '../kube.js';
import { age, fields, formatNumber, outputFormat, pairs, printData, shortDigest, table, write } from '../output.js';

export const summary = "show a checkpoint's phase, gates, deployment and analysis (or list them)";

export const help = `Usage: modelgate status [<name>] [-n NS] [-o text|json|yaml]

With a name: the checkpoint's phase, severity, conditions, each gate's numbers, the deployment
record and rollback point, and the last analysis measurements. -o json or yaml prints its status
object. Without a name: one line per checkpoint in the namespace.

Flags:
  --measurements <n>      analysis measurements to show (default 10)

${GLOBAL_HELP}`;

const OPTIONS = { measurements: { type: 'string' } } as const;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('status', args, OPTIONS);
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 1, 'status');
  const format = outputFormat(values.output, ['text', 'json', 'yaml'], 'text', 'status');
  const limit = integerFlag(values.measurements, '--measurements') ?? 10;
  const ctx = kubeContext(values);
  const name = positionals[0];
  if (name === undefined) return list(ctx, format);

  const cp = await requireCheckpoint(ctx, name);
  if (format !== 'text') {
    printData(format, cp.status ?? {});
    return 0;
  }
  write(renderStatus(cp, limit));
  return 0;
}

async function list(ctx: ReturnType<typeof kubeContext>, format: 'text' | 'json' | 'yaml'): Promise<number> {
  let items: ModelCheckpoint[];
  try {
    items = (await ctx.checkpoints.list(ctx.namespace)).items;
  } catch (err) {
    throw ctx.fail(err, `listing ModelCheckpoints in namespace ${ctx.namespace}`);
  }
  items.sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  if (format !== 'text') {
    printData(format, items.map((c) => ({ name: c.metadata.name, model: c.spec.model, version: c.spec.version, deployment: c.spec.target.deployment, phase: c.status?.phase, severity: c.status?.severity, created: c.metadata.creationTimestamp })));
    return 0;
  }
  if (items.length === 0) {
    write(`No ModelCheckpoints in namespace ${ctx.namespace}.`);
    return 0;
  }
  write(table(['name', 'model', 'version', 'deployment', 'phase', 'severity', 'age'], items.map((c) => [
    c.metadata.name, c.spec.model, c.spec.version, c.spec.target.deployment, c.status?.phase ?? 'Pending', judgedSeverity(c.status), age(c.metadata.creationTimestamp),
  ])));
  return 0;
}

export function renderStatus(cp: ModelCheckpoint, measurementLimit = 10): string {
  const s: ModelCheckpointStatus = cp.status ?? {};
  return [...headerSection(cp, s), ...gateSections(s), ...deploymentSections(s), ...analysisSection(s, measurementLimit)].join('\n');
}

/** Who the checkpoint is, what it serves, where it stands. */
function headerSection(cp: ModelCheckpoint, s: ModelCheckpointStatus): string[] {
  const gen = cp.metadata.generation;
  return [fields([
    ['Name', `${cp.metadata.name} (namespace ${cp.metadata.namespace})`],
    ['Model', `${cp.spec.model} ${cp.spec.version}`],
    ['Artifact', `${cp.spec.artifact.uri} ${cp.spec.artifact.digest}`],
    ['Target', `deployment/${cp.spec.target.deployment} container ${cp.spec.target.container}`],
    ['Phase', s.phase ?? 'Pending (the operator has not written a status yet)'],
    ['Severity', s.stages ? (judgedSeverity(s) ?? '- (no regression judged)') : undefined],
    ['Generation', gen === undefined ? undefined : `${gen}${s.observedGeneration !== undefined ? ` (observed ${s.observedGeneration})` : ''}`],
    ['Validated against', s.validatedAgainst?.checkpoint ? `${s.validatedAgainst.checkpoint} ${shortDigest(s.validatedAgainst.digest) ?? ''}`.trim() : undefined],
    ['Report', s.reportConfigMap ? `ConfigMap ${s.reportConfigMap}` : undefined],
    ['Rollback requested', cp.metadata.annotations?.['modelgate.io/rollback']],
  ])];
}

/** The conditions, then each gate's numbers and the messages of those that failed. */
function gateSections(s: ModelCheckpointStatus): string[] {
  const out: string[] = [];
  if (s.conditions?.length) {
    out.push('', 'Conditions:');
    out.push(table(['type', 'status', 'reason', 'age', 'message'], s.conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime), c.message])));
  }
  if (s.stages?.length) {
    out.push('', 'Gates:');
    out.push(table(['gate', 'verdict', 'reason', 'severity', 'time', 'numbers'], s.stages.map((g) => [
      g.stage, g.verdict, g.reason, g.severity, g.durationMs !== undefined ? `${formatNumber(g.durationMs)}ms` : undefined, pairs(g.summary),
    ])));
    const failed = s.stages.filter((g) => g.verdict === 'Failed' || g.verdict === 'Error');
    for (const g of failed) out.push(`  ${g.stage}: ${g.message}`);
  }
  return out;
}

/** The deployment record with its rollback point, the rollout's pods and their problems, a rolled-back generation. */
function deploymentSections(s: ModelCheckpointStatus): string[] {
  const out: string[] = [];
  const d = s.deployment;
  if (d) {
    out.push('', 'Deployment:');
    out.push(fields([
      ['  Deployed', `${d.deployedAt} to deployment/${d.deployment}`],
      ['  Revision', d.revision],
      ['  Generation', d.generation],
      ['  Rollback point', d.rollbackPoint ? `${d.rollbackPoint.checkpoint} (${d.rollbackPoint.version}, ${d.rollbackPoint.digest}${d.rollbackPoint.deploymentRevision ? `, revision ${d.rollbackPoint.deploymentRevision}` : ''})` : 'none (first checkpoint of this target)'],
    ]));
  }
  const r = s.rollout;
  if (r) {
    out.push('', 'Rollout:');
    out.push(fields([
      ['  State', `${r.state} (${r.reason})`],
      ['  Pods', `${r.available}/${r.desired} available, ${r.ready} ready, ${r.updated} updated${r.replicaSet ? ` (ReplicaSet ${r.replicaSet}${r.revision ? `, revision ${r.revision}` : ''})` : ''}`],
    ]));
    for (const p of r.problems) out.push(`  ${p.pod}${p.container ? `/${p.container}` : ''}: ${p.reason}${p.exitCode !== undefined ? ` (exit ${p.exitCode})` : ''}${p.restarts ? `, ${p.restarts} restart(s)` : ''}${p.message && p.message !== p.reason ? `: ${p.message}` : ''}`);
  }
  if (s.rolledBackGeneration !== undefined) out.push(`Rolled back generation: ${s.rolledBackGeneration} (not deployed again until the spec changes)`);
  return out;
}

/** The analysis: its templates, decision and counts, and the newest measurements (at most measurementLimit). */
function analysisSection(s: ModelCheckpointStatus, measurementLimit: number): string[] {
  const a = s.analysis;
  if (!a) return [];
  const out: string[] = ['', 'Analysis:'];
  out.push(fields([
    ['  Templates', a.resolved && a.resolved.templates.length > 0
      ? a.resolved.templates.map((t) => `${t.kind === 'ClusterModelAnalysisTemplate' ? 'cluster/' : ''}${t.name}${t.resourceVersion ? `@${t.resourceVersion}` : ''}${t.args?.length ? ` (${t.args.map((x) => `${x.name}=${x.value}`).join(', ')})` : ''}`).join('; ')
      : undefined],
    ['  Started', a.startedAt],
    ['  Last measured', a.lastMeasuredAt],
    ['  Decision', a.decision],
    ['  Baseline', a.baseline ? pairs(a.baseline) : undefined],
  ]));
  if (a.counts && Object.keys(a.counts).length > 0) {
    out.push(table(['metric', 'successful', 'failed', 'inconclusive', 'error'], Object.entries(a.counts).map(([m, c]) => [m, c.successful, c.failed, c.inconclusive, c.error])));
  }
  const ms = (a.measurements ?? []).slice(-measurementLimit).reverse();
  if (ms.length > 0) {
    out.push('', `Last measurements (newest first, ${ms.length} of ${a.measurements!.length}):`);
    out.push(table(['at', 'metric', 'phase', 'value', 'baseline', 'bound', 'severity', 'message'], ms.map((m) => [
      m.at, m.metric, m.phase, m.value !== undefined ? formatNumber(m.value) : undefined, m.baseline !== undefined ? formatNumber(m.baseline) : undefined, m.bound, m.severity, m.message,
    ])));
  }
  return out;
}
