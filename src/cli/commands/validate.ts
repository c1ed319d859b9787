// `modelgate validate`: the operator's validation pipeline (OnnxValidator: fetch, then the four
// gates) run locally, e.g. in CI before a checkpoint is published. Exit 0 when it passes, 1 when
// a gate blocks it, 2 for usage or input errors.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArchitecturePolicy, DatasetRef, HoldoutTask, ModelCheckpointSpec, StageResult, TrainingSpec, ValidationSpec } from '../../api/types.js';
import type { ArtifactRef, BaselineRef, ValidationReport, ValidationRequest } from '../../validation/contract.js';
import { StageError } from '../../validation/contract.js';
import { OnnxValidator } from '../../validation/pipeline.js';
import { INPUT_ERROR_REASONS } from '../../api/reasons.js';
import { GLOBAL_HELP, noMorePositionals, parseCommand, positiveNumberFlag } from '../args.js';
import { UsageError } from '../errors.js';
import { DIGEST_RE, digestFile, existingFile, fileUri, isUri, localPathOf, readCheckpointManifest } from '../files.js';
import { formatNumber, outputFormat, pairs, printData, table, write } from '../output.js';
import { progress, type Progress } from '../progress.js';

export const summary = 'run the validation gates locally on a candidate model';

export const help = `Usage: modelgate validate --candidate <path|uri> [--baseline <path|uri>] [--holdout <path|uri>] [flags]

Runs the operator's validation pipeline on this machine: fetch (digest checked), then the
architecture, holdout, benchmark and regression gates. Paths become file:// URIs (their folders
become the allowed file roots) and their digests are computed here; remote URIs need a digest
from a flag or from --checkpoint. Exit code 0: passed; 1: blocked; 2: usage or input error (a missing field,
an output or label that does not fit, a task that does not fit the model).

Flags:
  --candidate <path|uri>      the model to validate (default: spec.artifact of --checkpoint)
  --baseline <path|uri>       the model now in production, to compare against
  --holdout <path|uri>        holdout dataset (.jsonl or .npz) (default: the manifest's)
  --task <task>               classification (default), regression or conversion
  --label-field <name>        label field in the holdout records (default "label")
  --output-name <name>        model output holding the prediction (default: the only
                              floating-point output, e.g. probabilities over a label)
  --checkpoint <file>         a ModelCheckpoint manifest: its spec.validation, spec.training and
                              spec.artifact are used (flags override them)
  --candidate-digest <sha256:...>, --baseline-digest <...>, --holdout-digest <...>
                              digests for remote URIs (or to check local files against)
  --policy <policy>           architecture policy: Strict (default), Compatible or Skip
  --skip-benchmark            do not run the benchmark gate
  --critical-metric <name>    a metric that blocks (repeatable; default: the task's primary one:
                              accuracy, auc or rmse; training.<name> for a training metric)
  --confidence <0.5-0.999>    one-sided confidence of the regression bounds (default 0.95)
  --insufficient-evidence <Block|Warn>
                              when the holdout is too small to tell (default Block)
  --trust-host <host[:port]>  allow http:// and private addresses for this host (repeatable)
  --timeout <seconds>         overall deadline (default: the spec's, else 600)
  --cache-dir <dir>           keep fetched files here (default: a temporary folder, removed)
  -o, --output <format>       text (default) or json

${GLOBAL_HELP}`;

const OPTIONS = {
  candidate: { type: 'string' },
  baseline: { type: 'string' },
  holdout: { type: 'string' },
  task: { type: 'string' },
  'label-field': { type: 'string' },
  'output-name': { type: 'string' },
  checkpoint: { type: 'string' },
  'candidate-digest': { type: 'string' },
  'baseline-digest': { type: 'string' },
  'holdout-digest': { type: 'string' },
  policy: { type: 'string' },
  'skip-benchmark': { type: 'boolean' },
  'critical-metric': { type: 'string', multiple: true },
  confidence: { type: 'string' },
  'insufficient-evidence': { type: 'string' },
  'trust-host': { type: 'string', multiple: true },
  timeout: { type: 'string' },
  'cache-dir': { type: 'string' },
} as const;

const TASKS: readonly HoldoutTask[] = ['classification', 'regression', 'conversion'];
const POLICIES: readonly ArchitecturePolicy[] = ['Strict', 'Compatible', 'Skip'];

interface Input {
  ref: ArtifactRef;
  /** Folder to allow as a file root (file:// inputs). */
  root?: string;
}

/**
 * A path or URI as an ArtifactRef. The digest: the flag's, else the manifest's when the manifest
 * names the same URI, else computed here for local files; remote URIs without one are an error.
 */
async function resolveInput(value: string, what: string, digestFlag: string, flagDigest: string | undefined, manifest: { uri: string; digest?: string } | undefined, p: Progress): Promise<Input> {
  if (flagDigest !== undefined && !DIGEST_RE.test(flagDigest)) {
    throw new UsageError(`${digestFlag} ${flagDigest} is not 'sha256:' followed by 64 lowercase hex digits: fix the digest.`);
  }
  let uri: string;
  let local: string | undefined;
  if (isUri(value)) {
    uri = value;
    local = localPathOf(value);
    if (!local && !/^https?:\/\//.test(value)) throw new UsageError(`the ${what} URI ${value} has an unsupported scheme: use a path, file://, https:// or http://.`);
  } else {
    local = path.resolve(value);
    uri = fileUri(local);
  }
  if (local !== undefined) {
    const file = await existingFile(local, `${what} file`);
    local = file.path;
  }
  const manifestDigest = manifest && manifest.digest && (manifest.uri === uri || manifest.uri === value) ? manifest.digest : undefined;
  let digest = flagDigest ?? manifestDigest;
  if (digest === undefined) {
    if (local === undefined) {
      throw new UsageError(`the ${what} ${value} is remote and has no digest: pass ${digestFlag} sha256:<hex> or a --checkpoint manifest that declares it.`);
    }
    p.start(`hashing the ${what} ${path.basename(local)}`);
    digest = (await digestFile(local)).digest;
    p.done(digest);
  }
  return { ref: { uri, digest }, ...(local !== undefined ? { root: path.dirname(local) } : {}) };
}

type Values = ReturnType<typeof parseCommand<typeof OPTIONS>>['values'];

/** The flags that need no file: task, policy, timeout and trusted hosts checked. */
function checkFlags(values: Values): { task?: HoldoutTask; policy?: ArchitecturePolicy; timeoutS?: number } {
  const task = values.task;
  if (task !== undefined && !(TASKS as readonly string[]).includes(task)) throw new UsageError(`--task ${task} is not one of ${TASKS.join(', ')}: pick one.`);
  const policy = values.policy;
  if (policy !== undefined && !(POLICIES as readonly string[]).includes(policy)) throw new UsageError(`--policy ${policy} is not one of ${POLICIES.join(', ')}: pick one.`);
  const timeoutS = positiveNumberFlag(values.timeout, '--timeout');
  for (const h of values['trust-host'] ?? []) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(h)) throw new UsageError(`--trust-host ${h} is not a host or host:port: pass e.g. --trust-host models.internal:8080.`);
  }
  return { ...(task !== undefined ? { task: task as HoldoutTask } : {}), ...(policy !== undefined ? { policy: policy as ArchitecturePolicy } : {}), ...(timeoutS !== undefined ? { timeoutS } : {}) };
}

/** The holdout dataset: --holdout, else the manifest's (which must exist here when it is a local file). */
async function resolveHoldout(values: Values, mHoldout: ValidationSpec['holdout'], p: Progress): Promise<Input | undefined> {
  if (values.holdout) {
    return resolveInput(values.holdout, 'holdout dataset', '--holdout-digest', values['holdout-digest'], mHoldout?.dataset, p);
  }
  if (mHoldout?.dataset?.uri) {
    const local = localPathOf(mHoldout.dataset.uri);
    if (local !== undefined) await existingFile(local, 'holdout dataset file (from the --checkpoint manifest)').catch(() => {
      throw new UsageError(`the manifest's holdout dataset ${mHoldout.dataset.uri} does not exist on this machine: pass --holdout with a local copy.`);
    });
    return resolveInput(mHoldout.dataset.uri, 'holdout dataset', '--holdout-digest', values['holdout-digest'], mHoldout.dataset, p);
  }
  if (values['holdout-digest']) throw new UsageError('--holdout-digest needs --holdout: add the dataset or drop the digest.');
  return undefined;
}

/** spec.holdout for the resolved dataset, with --task, --label-field and --output-name on the manifest's. */
function layerHoldout(spec: ValidationSpec, mHoldout: ValidationSpec['holdout'], holdout: Input | undefined, values: Values, task: HoldoutTask | undefined): void {
  if (holdout) {
    const dataset: DatasetRef = { uri: holdout.ref.uri, digest: holdout.ref.digest };
    if (mHoldout?.dataset?.format && mHoldout.dataset.uri === holdout.ref.uri) dataset.format = mHoldout.dataset.format;
    spec.holdout = { ...(mHoldout ?? {}), dataset, task: task ?? mHoldout?.task ?? 'classification' };
    if (values['label-field']) spec.holdout.labelField = values['label-field'];
    if (values['output-name']) spec.holdout.outputName = values['output-name'];
  } else if (task !== undefined || values['label-field'] || values['output-name']) {
    throw new UsageError('--task, --label-field and --output-name describe the holdout dataset: add --holdout <path|uri>.');
  }
}

/** The gate flags (policy, benchmark, regression, timeout) layered on the spec. */
function layerGateFlags(spec: ValidationSpec, values: Values, policy: ArchitecturePolicy | undefined, timeoutS: number | undefined): void {
  if (policy) spec.architecture = { ...(spec.architecture ?? {}), policy };
  if (values['skip-benchmark']) spec.benchmark = { ...(spec.benchmark ?? {}), enabled: false };
  if (values['critical-metric']) spec.regression = { ...(spec.regression ?? {}), criticalMetrics: values['critical-metric'] };
  if (values.confidence !== undefined) {
    const c = Number(values.confidence);
    if (!(c > 0.5 && c <= 0.999)) throw new UsageError(`--confidence ${values.confidence} is not a number in (0.5, 0.999]: pass e.g. --confidence 0.95.`);
    spec.regression = { ...(spec.regression ?? {}), confidence: c };
  }
  const ie = values['insufficient-evidence'];
  if (ie !== undefined) {
    if (ie !== 'Block' && ie !== 'Warn') throw new UsageError(`--insufficient-evidence ${ie} is not Block or Warn: pick one.`);
    spec.regression = { ...(spec.regression ?? {}), insufficientEvidence: ie };
  }
  if (timeoutS !== undefined) spec.timeoutSeconds = timeoutS;
}

/** What validate runs: the request, its name, and the inputs (whose folders become file roots). */
interface LocalValidation {
  request: ValidationRequest;
  name: string;
  inputs: Array<Input | undefined>;
}

/** The request from the flags and the --checkpoint manifest, every input resolved and its digest known. */
async function buildRequest(values: Values, p: Progress): Promise<LocalValidation> {
  const { task, policy, timeoutS } = checkFlags(values);
  const manifest = values.checkpoint ? await readCheckpointManifest(values.checkpoint, '--checkpoint') : undefined;
  const mspec: Partial<ModelCheckpointSpec> = manifest?.spec ?? {};

  const candidateValue = values.candidate ?? mspec.artifact?.uri;
  if (!candidateValue) throw new UsageError('`modelgate validate` needs --candidate <path|uri> (or a --checkpoint manifest with spec.artifact): run `modelgate validate --help`.');
  const candidate = await resolveInput(candidateValue, 'candidate', '--candidate-digest', values['candidate-digest'], mspec.artifact, p);
  const baseline = values.baseline ? await resolveInput(values.baseline, 'baseline', '--baseline-digest', values['baseline-digest'], undefined, p) : undefined;
  if (!values.baseline && values['baseline-digest']) throw new UsageError('--baseline-digest needs --baseline: add the baseline model or drop the digest.');

  // Validation spec: the manifest's, with flags layered on.
  const spec: ValidationSpec = structuredClone(mspec.validation ?? {});
  const mHoldout = spec.holdout;
  const holdout = await resolveHoldout(values, mHoldout, p);
  layerHoldout(spec, mHoldout, holdout, values, task);
  layerGateFlags(spec, values, policy, timeoutS);

  const training: TrainingSpec | undefined = mspec.training;
  const baselineRef: BaselineRef | undefined = baseline ? { checkpoint: 'baseline', version: path.basename(values.baseline!), artifact: baseline.ref } : undefined;
  const name = manifest?.metadata?.name ?? path.basename(candidateValue);
  const request: ValidationRequest = {
    key: `local/${name}`,
    generation: manifest?.metadata?.generation ?? 1,
    candidate: { ...candidate.ref, ...(mspec.artifact?.allowExternalData && mspec.artifact.uri === candidate.ref.uri ? { allowExternalData: true } : {}) },
    spec,
    ...(training ? { training } : {}),
    ...(baselineRef ? { baseline: baselineRef } : {}),
  };
  return { request, name, inputs: [candidate, baseline, holdout] };
}

/** Fetch and validate with a local OnnxValidator (interruptible; its cache removed unless --cache-dir). */
async function validateLocally(values: Values, local: LocalValidation, p: Progress): Promise<ValidationReport> {
  const { request, name } = local;
  const roots = [...new Set(local.inputs.flatMap((i) => (i?.root ? [i.root] : [])))];
  const cacheDir = values['cache-dir'] ? path.resolve(values['cache-dir']) : await mkdtemp(path.join(os.tmpdir(), 'modelgate-validate-'));
  const validator = new OnnxValidator({ cacheDir, fileRoots: roots, trustedHosts: values['trust-host'] ?? [], fetchRetries: 1, fetchBackoffMs: 200 });
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    p.start(`fetching the candidate ${request.candidate.uri}`);
    const fetched = await validator.fetch(request.candidate, controller.signal);
    p.done();
    p.start(`validating ${name}: ${[request.baseline ? 'baseline' : undefined, request.spec.holdout ? 'holdout dataset' : undefined].filter(Boolean).join(' and ') || 'no baseline, no holdout'}`);
    const report = await validator.validate(request, fetched, controller.signal);
    p.done(report.passed ? 'passed' : `blocked (${report.reason})`);
    return report;
  } catch (err) {
    p.fail();
    if (controller.signal.aborted) throw new UsageError('validation was interrupted: nothing was decided.');
    if (!(err instanceof StageError)) throw err;
    return errorReport(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await validator.close().catch(() => undefined);
    if (!values['cache-dir']) await rm(cacheDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('validate', args, OPTIONS);
  if (values.help) {
    write(help);
    return 0;
  }
  noMorePositionals(positionals, 0, 'validate');
  const format = outputFormat(values.output, ['text', 'json'], 'text', 'validate');
  const p = progress({ quiet: values.quiet === true });
  const report = await validateLocally(values, await buildRequest(values, p), p);
  if (format === 'json') printData('json', { passed: report.passed, reason: report.reason, message: report.message, severity: report.severity, stages: report.stages, full: report.full });
  else write(renderReport(report));
  // A wrong field or file is the user's to fix, not a verdict on the model: exit 2, not "blocked".
  return report.passed ? 0 : INPUT_ERROR_REASONS.has(report.reason) ? 2 : 1;
}

/** A StageError (digest mismatch, invalid model, crash, timeout) as a blocked report. */
function errorReport(err: StageError): ValidationReport {
  const stage: StageResult = { stage: err.stage, verdict: err.terminal ? 'Failed' : 'Error', reason: err.reason, message: err.message };
  return { passed: false, reason: err.reason, message: `${err.stage}: ${err.message}`, stages: [stage], full: { error: { reason: err.reason, message: err.message, terminal: err.terminal, stage: err.stage } } };
}

export function renderReport(report: ValidationReport): string {
  const lines = table(['gate', 'verdict', 'reason', 'time', 'numbers'], report.stages.map((s) => [
    s.stage, s.verdict, s.reason, s.durationMs !== undefined ? `${formatNumber(s.durationMs)}ms` : undefined, pairs(s.summary),
  ]));
  const verdict = report.passed ? 'PASSED' : 'BLOCKED';
  return `${lines}\n${verdict} ${report.reason} severity ${report.severity ?? '-'}: ${report.message}`;
}
