// Validation as a Kubernetes Job (spec.validation.runner: Job). Pure: no I/O. It builds the
// batch/v1 Job for one checkpoint generation from the operator's template and the checkpoint's
// overrides, reads the result line the Job's pod prints, and turns a failed Job's pod status into
// a StageError (terminal: the same spec would fail the same way; transient: worth another try).
import type { ValidationJobOverrides, ValidationRunner } from '../api/types.js';
import { REASONS } from '../api/reasons.js';
import { StageError, type ValidationReport, type ValidationRequest } from './contract.js';

/** The pod prints its result on one line that starts with this, as the last line of its log. */
export const RESULT_MARKER = 'MODELGATE-RESULT ';
/** The env var that carries the request into the pod. */
export const REQUEST_ENV = 'MODELGATE_VALIDATION_REQUEST';
export const CONTAINER = 'validate';
export const LABELS = {
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  uid: 'modelgate.io/checkpoint-uid',
  generation: 'modelgate.io/checkpoint-generation',
} as const;
/** The stage a Job-level failure (OOM, deadline, image, crash) is filed under: the pod's whole run is the Validating phase, whose first gate this is. */
export const JOB_STAGE = 'architecture' as const;
/** The folder of the pod's emptyDir: downloads and the worker's temp files. */
export const WORK_DIR = '/work';
/** Each Secret the request names is mounted read-only at `<SECRETS_DIR>/<name>` (its keys are files). */
export const SECRETS_DIR = '/var/run/modelgate/secrets';

/** The Secret each fetch of the request reads (the candidate, the holdout dataset, the baseline), by name. */
export function requestSecrets(request: ValidationRequest): { candidate?: string; dataset?: string; baseline?: string } {
  const out: { candidate?: string; dataset?: string; baseline?: string } = {};
  if (request.candidate.secretRef?.name) out.candidate = request.candidate.secretRef.name;
  if (request.spec.holdout?.dataset.secretRef?.name) out.dataset = request.spec.holdout.dataset.secretRef.name;
  if (request.baseline?.artifact.secretRef?.name) out.baseline = request.baseline.artifact.secretRef.name;
  return out;
}

/** The operator's pod template for validation Jobs (flags; see src/operator/config.ts). */
export interface JobTemplate {
  image: string;
  requests: Record<string, string>;
  limits: Record<string, string>;
  ttlSecondsAfterFinished: number;
  /** sizeLimit of the download emptyDir, e.g. "4Gi". */
  workDirSize: string;
  /** The fetcher's policy, the same as the operator's own. */
  trustedHosts: string[];
  maxArtifactBytes: number;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

/** What the Job carries into the pod: the request and whose it is. */
export interface JobPayload {
  uid: string;
  generation: number;
  digest: string;
  request: ValidationRequest;
  trustedHosts: string[];
  maxArtifactBytes: number;
}

export interface CheckpointRef {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
}

export function runnerOf(spec: { runner?: ValidationRunner } | undefined, operatorDefault: ValidationRunner): ValidationRunner {
  return spec?.runner ?? operatorDefault;
}

/** One Job per checkpoint uid and generation: `mgv-<uid>-<generation>` (at most 63 characters, a valid label value). */
export function jobName(uid: string, generation: number): string {
  return `mgv-${uid.toLowerCase().replace(/[^a-z0-9-]/g, '')}-${generation}`.slice(0, 63).replace(/-+$/, '');
}

/** The batch/v1 Job manifest for this checkpoint generation. */
export function buildValidationJob(cp: CheckpointRef, request: ValidationRequest, template: JobTemplate, overrides: ValidationJobOverrides = {}): Record<string, unknown> {
  // The payload never carries credentials: a Secret is a volume, read by the kubelet with the
  // pod's own access, and its values never pass through the operator into the Job.
  const { credentials: _never, ...clean } = request;
  const payload: JobPayload = { uid: cp.uid, generation: cp.generation, digest: request.candidate.digest, request: clean, trustedHosts: template.trustedHosts, maxArtifactBytes: template.maxArtifactBytes };
  const secrets = [...new Set(Object.values(requestSecrets(request)))].sort();
  const labels = { [LABELS.component]: 'validation', [LABELS.managedBy]: 'modelgate', [LABELS.uid]: cp.uid, [LABELS.generation]: String(cp.generation) };
  const timeout = request.spec.timeoutSeconds ?? 600;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(cp.uid, cp.generation),
      namespace: cp.namespace,
      labels,
      annotations: { 'modelgate.io/checkpoint': cp.name, 'modelgate.io/digest': request.candidate.digest },
      ownerReferences: [{ apiVersion: 'modelgate.io/v1alpha1', kind: 'ModelCheckpoint', name: cp.name, uid: cp.uid, controller: true, blockOwnerDeletion: false }],
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: timeout,
      ttlSecondsAfterFinished: template.ttlSecondsAfterFinished,
      template: { metadata: { labels }, spec: podSpec(payload, secrets, template, overrides) },
    },
  };
}

/** The pod: non-root, no service account token, the checkpoint's scheduling overrides, one container, the work dir and the Secrets as volumes. */
function podSpec(payload: JobPayload, secrets: string[], template: JobTemplate, overrides: ValidationJobOverrides): Record<string, unknown> {
  return {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    ...(overrides.runtimeClassName ? { runtimeClassName: overrides.runtimeClassName } : {}),
    ...(overrides.nodeSelector && Object.keys(overrides.nodeSelector).length > 0 ? { nodeSelector: overrides.nodeSelector } : {}),
    ...(overrides.tolerations && overrides.tolerations.length > 0 ? { tolerations: overrides.tolerations } : {}),
    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [validationContainer(payload, secrets, template, overrides)],
    volumes: [
      { name: 'work', emptyDir: { sizeLimit: template.workDirSize } },
      ...secrets.map((name, i) => ({ name: `secret-${i}`, secret: { secretName: name } })),
    ],
  };
}

/** The container that runs job-main: the request in its env, a read-only root, every capability dropped. */
function validationContainer(payload: JobPayload, secrets: string[], template: JobTemplate, overrides: ValidationJobOverrides): Record<string, unknown> {
  return {
    name: CONTAINER,
    image: overrides.image ?? template.image,
    ...(template.imagePullPolicy ? { imagePullPolicy: template.imagePullPolicy } : {}),
    command: ['node', 'dist/src/validation/job-main.js'],
    // Only what the pod needs; nothing of the operator's own environment.
    env: [
      { name: REQUEST_ENV, value: JSON.stringify(payload) },
      { name: 'HOME', value: WORK_DIR },
      { name: 'TMPDIR', value: WORK_DIR },
      { name: 'NODE_ENV', value: 'production' },
    ],
    resources: mergeResources({ requests: template.requests, limits: template.limits }, overrides.resources),
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [
      { name: 'work', mountPath: WORK_DIR },
      ...secrets.map((name, i) => ({ name: `secret-${i}`, mountPath: `${SECRETS_DIR}/${name}`, readOnly: true })),
    ],
  };
}

function mergeResources(base: { requests: Record<string, string>; limits: Record<string, string> }, o: ValidationJobOverrides['resources']): Record<string, unknown> {
  const str = (m: Record<string, string | number> | undefined): Record<string, string> => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, String(v)]));
  const requests = { ...base.requests, ...str(o?.requests) };
  const limits = { ...base.limits, ...str(o?.limits) };
  // A limit below the template's request would make the pod invalid: the request follows the limit down.
  for (const [k, v] of Object.entries(limits)) if (o?.limits?.[k] !== undefined && o?.requests?.[k] === undefined && requests[k] !== undefined) requests[k] = v;
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

/** What the pod prints: a report, or the StageError the pipeline ended with. */
export type JobResult =
  | { uid: string; generation: number; digest: string; kind: 'report'; report: ValidationReport }
  | { uid: string; generation: number; digest: string; kind: 'error'; error: { reason: string; message: string; terminal: boolean; stage: StageErrorStage } };
type StageErrorStage = StageError['stage'];

export function resultLine(result: JobResult): string {
  return RESULT_MARKER + JSON.stringify(result);
}

/**
 * The report in a finished pod's log, checked against the checkpoint it was made for. The last
 * marker line wins. No line, a line that does not parse, or one for another uid, generation or
 * digest is a terminal StageError (ReportInvalid): the pod did not say what was asked of it.
 */
export function parseJobResult(log: string, expect: { uid: string; generation: number; digest: string }): ValidationReport {
  const lines = log.split('\n').filter((l) => l.startsWith(RESULT_MARKER));
  const last = lines.at(-1);
  if (!last) throw new StageError(REASONS.ReportInvalid, 'the validation Job\'s pod finished without printing a result line: check its log', true, JOB_STAGE);
  let r: JobResult;
  try {
    r = JSON.parse(last.slice(RESULT_MARKER.length)) as JobResult;
  } catch (err) {
    throw new StageError(REASONS.ReportInvalid, `the validation Job's result line is not JSON (${err instanceof Error ? err.message : String(err)})`, true, JOB_STAGE);
  }
  for (const k of ['uid', 'generation', 'digest'] as const) {
    if (r?.[k] !== expect[k]) throw new StageError(REASONS.ReportInvalid, `the validation Job's result is for ${k} ${JSON.stringify(r?.[k])}, not this checkpoint's ${JSON.stringify(expect[k])}: it is ignored`, true, JOB_STAGE);
  }
  if (r.kind === 'error') {
    const e = r.error;
    if (typeof e?.reason !== 'string' || typeof e.message !== 'string') throw new StageError(REASONS.ReportInvalid, 'the validation Job\'s error result has no reason or message', true, JOB_STAGE);
    throw new StageError(e.reason, e.message, e.terminal === true, e.stage ?? 'validate');
  }
  const rep = r.report;
  if (r.kind !== 'report' || typeof rep?.passed !== 'boolean' || typeof rep.reason !== 'string' || typeof rep.message !== 'string' || !Array.isArray(rep.stages)) {
    throw new StageError(REASONS.ReportInvalid, 'the validation Job\'s result has no report with passed, reason, message and stages', true, JOB_STAGE);
  }
  return { passed: rep.passed, reason: rep.reason, message: rep.message, ...(rep.severity ? { severity: rep.severity } : {}), stages: rep.stages, full: rep.full ?? {} };
}

/** The parts of a Job's and its pod's status the decision reads. */
export interface JobFacts {
  /** Job conditions (Complete, Failed with reason DeadlineExceeded or BackoffLimitExceeded). */
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>;
  pod?: {
    name: string;
    phase?: string;
    reason?: string;
    message?: string;
    waiting?: { reason?: string; message?: string };
    terminated?: { reason?: string; message?: string; exitCode?: number };
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

/** Waiting reasons of a container that will not start without a change to the spec. */
const IMAGE_ERRORS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

export type JobState =
  | { state: 'running' }
  | { state: 'succeeded'; pod: string }
  | { state: 'failed'; error: StageError };

/** Where a validation Job stands, and for a failure, why, in the pod's own words. */
export function jobState(f: JobFacts): JobState {
  const cond = (t: string): JobFacts['conditions'][number] | undefined => f.conditions.find((c) => c.type === t && c.status === 'True');
  const pod = f.pod;
  const term = pod?.terminated;
  const complete = cond('Complete') ?? cond('SuccessCriteriaMet');
  if (complete && pod) return { state: 'succeeded', pod: pod.name };
  if (term?.reason === 'OOMKilled') {
    return fail('OOMKilled', `the validation pod ${pod!.name} was killed for going over its memory limit (exit code ${term.exitCode ?? 137}): raise spec.validation.job.resources.limits.memory`, true);
  }
  const failed = cond('Failed') ?? cond('FailureTarget');
  if (failed?.reason === 'DeadlineExceeded') {
    return fail('DeadlineExceeded', `the validation Job ran past its activeDeadlineSeconds (spec.validation.timeoutSeconds)${failed.message ? `: ${failed.message}` : ''}`, true);
  }
  const waiting = pod?.waiting;
  if (waiting?.reason && IMAGE_ERRORS.has(waiting.reason)) {
    return fail(waiting.reason, `the validation pod ${pod!.name} cannot start its container (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}): check the image (spec.validation.job.image or --validation-job-image)`, true);
  }
  if (pod?.reason === 'Evicted' || pod?.reason === 'NodeLost' || pod?.reason === 'Preempting') {
    return fail(pod.reason, `the validation pod ${pod.name} was stopped by the node (${pod.reason}${pod.message ? `: ${pod.message}` : ''}); it is retried`, false);
  }
  if (term && term.exitCode !== undefined && term.exitCode !== 0) {
    // A result line may still be there (the entry point prints errors, then exits 0); a crash has none.
    return fail('ValidatorCrashed', `the validation pod ${pod!.name} exited with code ${term.exitCode}${term.reason ? ` (${term.reason})` : ''}${term.message ? `: ${term.message.trim().split('\n').slice(-3).join(' | ')}` : ''}`, false);
  }
  if (failed) return fail(failed.reason ?? 'JobFailed', `the validation Job failed${failed.message ? `: ${failed.message}` : ''}`, false);
  if (complete) return fail('ReportInvalid', 'the validation Job completed but its pod is gone, so its result cannot be read: it is run again', false);
  return { state: 'running' };
}

function fail(reason: string, message: string, terminal: boolean): JobState {
  return { state: 'failed', error: new StageError(reason, message, terminal, JOB_STAGE) };
}

/**
 * Whether one more validation Job may start: at most `total` across the cluster and
 * `perNamespace` in one namespace (0: no cap), counting the Jobs already running.
 */
export function mayStart(running: { total: number; inNamespace: number }, cap: { total: number; perNamespace: number }): boolean {
  return (cap.total === 0 || running.total < cap.total) && (cap.perNamespace === 0 || running.inNamespace < cap.perNamespace);
}

/**
 * Why a Job's pod could not read what this request names, or undefined when it can: a file://
 * URI is a path on the operator's disk, which the pod does not have.
 */
export function unreachableFromPod(request: ValidationRequest): string | undefined {
  const named: Array<[string, string | undefined]> = [
    ['spec.artifact.uri', request.candidate.uri],
    ['spec.validation.holdout.dataset.uri', request.spec.holdout?.dataset.uri],
    [`the production checkpoint ${request.baseline?.checkpoint ?? ''}'s spec.artifact.uri`, request.baseline?.artifact.uri],
  ];
  const local = named.find(([, uri]) => uri?.startsWith('file:'));
  if (!local) return undefined;
  return `${local[0]} is ${local[1]}, a path on the operator's disk that a validation Job's pod cannot read: serve it over https (or a store the pod can reach), or set spec.validation.runner: InProcess`;
}
