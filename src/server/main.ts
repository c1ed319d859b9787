// Entry point of the reference inference server (also the sample Deployment's container).
// Configuration from the environment the operator writes into the container:
//   MODEL_URI      https://host/path/model.onnx, http:// (trusted hosts only), s3://bucket/key,
//                  oci://registry/repo:tag|@sha256:…, file:///path or a plain path (required). A
//                  remote model is fetched by the operator's own guarded fetcher (src/fetch) into
//                  MODEL_CACHE_DIR before it is loaded.
//   MODEL_DIGEST   sha256:<64 hex>; required for a remote MODEL_URI (checked on the download).
//                  For a local file the server never becomes ready if the file does not match.
//   MODEL_VERSION  reported in metadata and metric labels (default "unknown")
//   MODEL_NAME     the name in /v2/models/{name} (default "model")
//   PORT           default 8080;  HOST  default 0.0.0.0
//   OUTCOMES_TOKEN the bearer token POST .../outcomes requires (from a Secret, secretKeyRef; at
//                  least 16 characters). Unset: the outcomes endpoint answers 403 and a warning
//                  is logged, since whoever posts outcomes steers the metrics the live guard reads.
// Request limits (docs/inference-server.md, "Limits"):
//   MAX_BODY_BYTES             largest body, 413 above it (default 16 MiB)
//   MAX_JSON_DEPTH             deepest [ / { nesting, 400 above it (default 64)
//   MAX_TENSOR_ELEMENTS        most elements in one input tensor, 413 above it (default 1048576)
//   MAX_CONCURRENT_INFERENCES  inferences in progress, 429 with Retry-After above it (default 16)
// Remote models only:
//   MODEL_CACHE_DIR       where downloads land, content-addressed (default <tmpdir>/modelgate-models);
//                         an emptyDir in a pod, so a container restart reuses the verified file
//   MODEL_TRUSTED_HOSTS   comma list, the operator's --trusted-hosts syntax (host, host:port,
//                         *.domain, [IPv6]:port): hosts allowed over http:// and on private or
//                         loopback addresses, e.g. an in-cluster file server (default none)
//   MODEL_MAX_BYTES       largest model to download (default 2 GiB)
//   MODEL_FETCH_TIMEOUT_SECONDS  deadline of one download attempt, redirects and body (default 300)
//   MODEL_FETCH_RETRIES   retries of transient failures (5xx, 429, reset, timeout) with backoff (default 3)
// How the store is reached, written by the operator from spec.artifact (docs/security.md):
//   MODEL_S3_REGION, MODEL_S3_ENDPOINT, MODEL_S3_FORCE_PATH_STYLE   spec.artifact.s3
//   MODEL_OCI_PLAIN_HTTP       spec.artifact.oci.plainHttp (trusted hosts only)
//   MODEL_CREDENTIALS_SECRET   spec.artifact.secretRef.name, for messages
//   MODEL_CREDENTIALS_DIR      where that Secret is mounted (the operator adds the volume)
//   MODEL_ALLOW_AMBIENT_CREDENTIALS  true: an s3:// model without a Secret is read with the pod's
//                              own AWS credentials (env, web identity token file); default false
// While a remote model is fetched the server is live and not ready. A fetch that fails (after
// the retries) logs one error line naming MODEL_URI, the reason and the fix, and the process
// exits with code 3, so the kubelet restarts it with backoff (CrashLoopBackOff), as KServe's
// storage-initializer does. Exit codes: 2 bad configuration, 3 model fetch failed.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REASON } from '../api/reasons.js';
import { DEFAULT_MODEL_ENV, STORE_ENV } from '../api/types.js';
import { ambientCredentials } from '../fetch/ambient.js';
import { readMountedSecret } from '../fetch/secret-files.js';
import type { StoreCredentials } from '../fetch/types.js';
import { createLogger, isLogLevel } from '../observability/logger.js';
import { StageError } from '../validation/contract.js';
import { ArtifactFetcher } from '../validation/fetch.js';
import { startInferenceServer, type InferenceServer, type ModelFetch } from './app.js';
import { CACHE_DIR_ENV, configFromEnv, EXIT_BAD_CONFIG, EXIT_FETCH_FAILED, redactUri, type RemoteModel, type ServerConfig } from './config.js';

/**
 * The fetch step for the server: sweep partial files a killed container left, then download and
 * verify into the cache (a verified cached copy is reused). Each failure becomes one sentence
 * naming MODEL_URI, the reason and the fix; `failed` records that it happened.
 */
export function remoteFetch(remote: RemoteModel): ModelFetch & { failed(): boolean } {
  const fetcher = new ArtifactFetcher({ ...remote.fetcher, ...(remote.allowAmbient ? { ambient: ambientCredentials() } : {}) });
  const from = redactUri(remote.uri);
  let failed = false;
  const explain = (reason: string, detail: string): Error =>
    Object.assign(new Error(`${DEFAULT_MODEL_ENV} ${from} was not loaded (${reason}): ${detail.replace(/\.$/, '')}; the server exits with code ${EXIT_FETCH_FAILED} and the kubelet restarts it with backoff`), { reason });
  return {
    from,
    failed: () => failed,
    run: async (signal) => {
      try {
        try {
          await fetcher.sweepPartials();
        } catch (err) {
          throw explain('CacheUnwritable', `${CACHE_DIR_ENV} ${remote.fetcher.cacheDir} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); mount a writable volume (an emptyDir) there`);
        }
        const credentials = await storeCredentials(remote, explain);
        const got = await fetcher.fetch({ uri: remote.uri, digest: remote.digest, ...remote.access, ...(credentials ? { credentials } : {}) }, signal, { label: 'model' });
        return got.path;
      } catch (err) {
        if (signal.aborted) throw new Error(`the fetch of ${from} was stopped: ${(signal.reason as Error | undefined)?.message ?? 'aborted'}`);
        failed = true;
        if (err instanceof StageError) throw explain(err.reason, err.message);
        if ((err as { reason?: unknown }).reason !== undefined) throw err;
        throw explain('FetchFailed', (err as Error).message);
      }
    },
  };
}

/**
 * The credentials of the Secret the operator mounted (MODEL_CREDENTIALS_DIR), read with the same
 * rules as the operator reads the Secret object; undefined when the model names no Secret.
 */
async function storeCredentials(remote: RemoteModel, explain: (reason: string, detail: string) => Error): Promise<StoreCredentials | undefined> {
  const name = remote.access.secretRef?.name;
  if (!name || !remote.credentialsDir) return undefined;
  const secret = await readMountedSecret(name, remote.credentialsDir);
  if (secret.ok) return secret.credentials;
  if (secret.reason === REASON.SecretNotFound) {
    throw explain(secret.reason, `${STORE_ENV.credentialsDir} ${remote.credentialsDir} (Secret '${name}') cannot be read (${secret.detail}); mount the Secret there`);
  }
  throw explain(secret.reason, secret.detail);
}

async function main(): Promise<void> {
  const level = process.env.LOG_LEVEL ?? 'info';
  const logger = createLogger({ level: isLogLevel(level) ? level : 'info', fields: { component: 'inference-server' } });
  let config: ServerConfig;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    logger.error((err as Error).message);
    process.exitCode = EXIT_BAD_CONFIG;
    return;
  }
  // Signals are handled from the start: a SIGTERM during a long download stops it (the fetcher
  // removes its partial file) instead of killing the process mid-write.
  const starting = new AbortController();
  let server: InferenceServer | undefined = undefined;
  let closing = false;
  const close = (code: number): void => {
    (server?.close() ?? Promise.resolve()).then(
      () => process.exit(code),
      (err: unknown) => {
        logger.error(`Close failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info(`Received ${signal}; closing.`);
    if (server) return close(0);
    starting.abort(new Error(`${signal} received`));
    // A start-up step that does not honour the abort must not outlive the pod's grace period.
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const fetch = config.remote ? remoteFetch(config.remote) : undefined;
  server = await startInferenceServer({
    ...config.options,
    ...(fetch ? { fetchModel: fetch } : {}),
    signal: starting.signal,
    log: (level, message, fields) => logger.log(level, message, fields ?? {}),
  });
  if (closing) close(0);
  else if (fetch?.failed()) close(EXIT_FETCH_FAILED);
}

const entry = process.argv[1];
if (entry && resolve(entry) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(JSON.stringify({ level: 'error', message: `Inference server failed to start: ${(err as Error).message}` }));
    process.exit(1);
  });
}
