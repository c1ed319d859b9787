// The entry point of a validation Job's pod (spec.validation.runner: Job): the same pipeline as
// the operator's worker pool and `modelgate validate`, on the request the Job carries in its env.
// It prints its result as the last line of its log (job-spec.ts RESULT_MARKER) and exits 0 when
// a result was printed, whatever the verdict; a crash or an OOM kill leaves no result line, and
// the operator reads the pod's status instead. No API access: the pod has no ServiceAccount token.
import { REASON, REASONS } from '../api/reasons.js';
import { readMountedSecret, type MountedSecret } from '../fetch/secret-files.js';
import { OnnxValidator } from './pipeline.js';
import { StageError, type RequestCredentials, type ValidationRequest } from './contract.js';
import { REQUEST_ENV, SECRETS_DIR, WORK_DIR, requestSecrets, resultLine, type JobPayload } from './job-spec.js';

/** The credentials of the Secrets the operator mounted for this request, read as the operator reads a Secret object. */
async function mountedCredentials(request: ValidationRequest): Promise<RequestCredentials> {
  const out: RequestCredentials = {};
  // The candidate and the baseline often name the same Secret: read each folder once.
  const read = new Map<string, Promise<MountedSecret>>();
  for (const [use, name] of Object.entries(requestSecrets(request)) as Array<[keyof RequestCredentials, string]>) {
    const dir = `${SECRETS_DIR}/${name}`;
    if (!read.has(name)) read.set(name, readMountedSecret(name, dir));
    const secret = await read.get(name)!;
    if (secret.ok) {
      out[use] = secret.credentials;
      continue;
    }
    // Not terminal: the operator checked the Secret exists before it made the Job; it may have been deleted since.
    if (secret.reason === REASON.SecretNotFound) throw new StageError(secret.reason, `Secret '${name}' is not mounted at ${dir} in the validation pod (${secret.detail}): it was deleted after the Job was created; create it again`, false, 'fetch');
    throw new StageError(secret.reason, `${secret.detail}; fix the Secret`, true, 'fetch');
  }
  return out;
}

async function main(): Promise<number> {
  const raw = process.env[REQUEST_ENV];
  if (!raw) {
    process.stderr.write(`${REQUEST_ENV} is empty: this entry point runs inside a validation Job the operator creates\n`);
    return 2;
  }
  const p = JSON.parse(raw) as JobPayload;
  const who = { uid: p.uid, generation: p.generation, digest: p.digest };
  const validator = new OnnxValidator({ cacheDir: `${process.env.TMPDIR || WORK_DIR}/cache`, trustedHosts: p.trustedHosts, maxArtifactBytes: p.maxArtifactBytes, workers: 1, fileRoots: [] });
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort(new Error('the pod is being stopped')));
  try {
    await validator.start();
    p.request.credentials = await mountedCredentials(p.request);
    const fetched = await validator.fetch({ ...p.request.candidate, credentials: p.request.credentials.candidate }, controller.signal);
    const report = await validator.validate(p.request, fetched, controller.signal);
    process.stdout.write(`\n${resultLine({ ...who, kind: 'report', report })}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof StageError)) throw err;
    // A worker that died (often the kernel's OOM kill inside the pod's limit): the pod's status
    // says it best (OOMKilled, an exit code), so no result line and a failed exit.
    if (err.reason === REASONS.ValidatorCrashed || err.reason === REASONS.ValidatorMemoryExceeded) {
      process.stderr.write(`${err.reason}: ${err.message}\n`);
      return 137;
    }
    process.stdout.write(`\n${resultLine({ ...who, kind: 'error', error: { reason: err.reason, message: err.message, terminal: err.terminal, stage: err.stage } })}\n`);
    return 0;
  } finally {
    await validator.close().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`validation failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
