// The inference server's configuration parsed from an environment (documented in main.ts and
// docs/inference-server.md). Pure: the temporary folder and the working directory are passed
// in (config.ts reads them), so every setting and refusal is unit-tested on its own.
import { isAbsolute, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storeAccessFromEnv } from '../api/store-env.js';
import { DEFAULT_MODEL_ENV, DIGEST_ENV, STORE_ENV, VERSION_ENV, type StoreAccess } from '../api/types.js';
import { redact, trustedHostProblem } from '../fetch/policy.js';
import type { FetcherOptions } from '../fetch/types.js';
import { splitList } from '../operator/flags.js';
import type { InferenceServerOptions } from './app.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_INFERENCES } from './limits.js';

export const CACHE_DIR_ENV = 'MODEL_CACHE_DIR';
export const TRUSTED_HOSTS_ENV = 'MODEL_TRUSTED_HOSTS';
export const MAX_BYTES_ENV = 'MODEL_MAX_BYTES';
export const FETCH_TIMEOUT_ENV = 'MODEL_FETCH_TIMEOUT_SECONDS';
export const FETCH_RETRIES_ENV = 'MODEL_FETCH_RETRIES';
export const OUTCOMES_TOKEN_ENV = 'OUTCOMES_TOKEN';
export const MAX_BODY_BYTES_ENV = 'MAX_BODY_BYTES';
export const MAX_JSON_DEPTH_ENV = 'MAX_JSON_DEPTH';
export const MAX_TENSOR_ELEMENTS_ENV = 'MAX_TENSOR_ELEMENTS';
export const MAX_CONCURRENT_ENV = 'MAX_CONCURRENT_INFERENCES';
export const AMBIENT_CREDENTIALS_ENV = 'MODEL_ALLOW_AMBIENT_CREDENTIALS';
/** Shortest OUTCOMES_TOKEN accepted: a guessable token would let anyone steer the live guard. */
export const MIN_OUTCOMES_TOKEN_LENGTH = 16;

/** Exit code of a process whose remote model could not be fetched. */
export const EXIT_FETCH_FAILED = 3;
/** Exit code of a process with bad configuration. */
export const EXIT_BAD_CONFIG = 2;

type Env = Readonly<Record<string, string | undefined>>;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const SCHEME_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;
/** The schemes the server fetches itself, with the operator's fetcher (src/fetch). */
const REMOTE_RE = /^(https?|s3|oci):\/\//i;

/** The process's surroundings the settings depend on: os.tmpdir() and process.cwd(). */
export interface ServerHost {
  tmpdir: string;
  cwd: string;
}

/** `uri` resolved against the absolute folder `cwd`, as path.resolve(uri) does from there. */
function resolveFrom(cwd: string, uri: string): string {
  const joined = join(cwd, uri);
  return joined.length > 1 && joined.endsWith(sep) ? joined.slice(0, -1) : joined;
}

/** Turns a local MODEL_URI into a path (a relative one from `cwd`); only file:// URIs and plain paths are local. */
export function modelPathFrom(uri: string, cwd: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  if (SCHEME_RE.test(uri)) {
    throw new Error(`${DEFAULT_MODEL_ENV} "${redactUri(uri)}" has a scheme the server does not fetch; use https://, http:// (a host in ${TRUSTED_HOSTS_ENV}), s3://, oci://, file:// or a path.`);
  }
  return isAbsolute(uri) ? uri : resolveFrom(cwd, uri);
}

/** The URI for logs: no user:password, no query (a presigned URL's query is a credential). */
export function redactUri(uri: string): string {
  try {
    return redact(new URL(uri));
  } catch {
    return uri.replace(/\?.*$/, '?…').slice(0, 200);
  }
}

/** A model the server fetches itself before loading it. */
export interface RemoteModel {
  uri: string;
  digest: string;
  fetcher: FetcherOptions;
  /** The store's region/endpoint/plain-http and the Secret's name (MODEL_S3_*, MODEL_OCI_*, MODEL_CREDENTIALS_SECRET). */
  access: StoreAccess;
  /** Where the Secret's keys are files (MODEL_CREDENTIALS_DIR, the operator's Secret volume). */
  credentialsDir?: string;
  /** Use the pod's own AWS credentials (env, web identity token) for s3:// without a Secret. */
  allowAmbient: boolean;
}

export interface ServerConfig {
  options: Omit<InferenceServerOptions, 'log' | 'fetchModel' | 'signal'>;
  /** Set for https://, http://, s3:// and oci:// MODEL_URIs; options.modelPath is then unset. */
  remote?: RemoteModel;
}

/** A whole-number setting from the environment, `fallback` when unset or empty. */
function intSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${name} is "${text}": expected a whole number from ${min} to ${max}.`);
  return n;
}

/** OUTCOMES_TOKEN, trimmed (a Secret made from a file often ends in a newline); unset when empty. */
function outcomesToken(env: Env): string | undefined {
  const token = env[OUTCOMES_TOKEN_ENV]?.trim();
  if (!token) return undefined;
  if (token.length < MIN_OUTCOMES_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(`${OUTCOMES_TOKEN_ENV} is ${token.length} characters${/\s/.test(token) ? ' with whitespace inside' : ''}: use at least ${MIN_OUTCOMES_TOKEN_LENGTH} without spaces, e.g. the output of \`openssl rand -hex 32\` in a Secret.`);
  }
  return token;
}

/** The request limits and the outcomes token (docs/inference-server.md, "Limits"). */
function requestSettings(env: Env): Pick<ServerConfig['options'], 'maxBodyBytes' | 'limits' | 'maxConcurrentInferences' | 'outcomesToken'> {
  const token = outcomesToken(env);
  return {
    maxBodyBytes: intSetting(env, MAX_BODY_BYTES_ENV, DEFAULT_MAX_BODY_BYTES, 1024, 1024 ** 3),
    limits: {
      maxJsonDepth: intSetting(env, MAX_JSON_DEPTH_ENV, DEFAULT_LIMITS.maxJsonDepth, 2, 10_000),
      maxTensorElements: intSetting(env, MAX_TENSOR_ELEMENTS_ENV, DEFAULT_LIMITS.maxTensorElements, 1, 1 << 30),
    },
    maxConcurrentInferences: intSetting(env, MAX_CONCURRENT_ENV, DEFAULT_MAX_CONCURRENT_INFERENCES, 1, 10_000),
    ...(token ? { outcomesToken: token } : {}),
  };
}

/** The server's configuration from `env`; a problem is thrown as one sentence naming the variable. */
export function parseServerEnv(env: Readonly<Record<string, string | undefined>>, host: ServerHost): ServerConfig {
  const uri = env[DEFAULT_MODEL_ENV];
  if (!uri) throw new Error(`${DEFAULT_MODEL_ENV} is not set; it must name the ONNX model (https://, http:// for trusted hosts, s3://, oci://, file:// or a path).`);
  const portText = env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT "${portText}" is not a port number.`);
  const options: ServerConfig['options'] = {
    modelName: env.MODEL_NAME || 'model',
    modelVersion: env[VERSION_ENV] || 'unknown',
    port,
    host: env.HOST || '0.0.0.0',
    defaultMetrics: true,
    ...requestSettings(env),
  };
  const digest = env[DIGEST_ENV];
  if (digest) options.expectedDigest = digest;
  if (!REMOTE_RE.test(uri)) return { options: { ...options, modelPath: modelPathFrom(uri, host.cwd) } };

  // Remote: the digest is what makes a download from the network trustworthy.
  const shown = redactUri(uri);
  if (!digest) {
    throw new Error(`${DIGEST_ENV} is not set, and ${DEFAULT_MODEL_ENV} ${shown} is remote: set ${DIGEST_ENV} to sha256:<64 hex> of the published file; the server verifies the download against it.`);
  }
  if (!DIGEST_RE.test(digest)) throw new Error(`${DIGEST_ENV} "${digest.slice(0, 80)}" is not sha256: followed by 64 lowercase hex digits.`);
  const trustedHosts = splitList(env[TRUSTED_HOSTS_ENV]);
  const bad = trustedHosts.map(trustedHostProblem).filter((p): p is string => p !== undefined);
  if (bad.length > 0) throw new Error(`${TRUSTED_HOSTS_ENV}: ${bad.join('; ')}.`);
  const int = (name: string, fallback: number, min: number, max: number): number => intSetting(env, name, fallback, min, max);
  const access = storeAccessFromEnv(env);
  const credentialsDir = env[STORE_ENV.credentialsDir];
  if (access.secretRef && !credentialsDir) throw new Error(`${STORE_ENV.credentialsSecret} is set but ${STORE_ENV.credentialsDir} is not: set it to the folder the Secret is mounted at.`);
  const ambient = env[AMBIENT_CREDENTIALS_ENV] ?? 'false';
  if (ambient !== 'true' && ambient !== 'false') throw new Error(`${AMBIENT_CREDENTIALS_ENV} is "${ambient.slice(0, 40)}": expected true or false.`);
  return {
    options,
    remote: {
      uri,
      digest,
      access,
      ...(credentialsDir ? { credentialsDir } : {}),
      allowAmbient: ambient === 'true',
      fetcher: {
        cacheDir: env[CACHE_DIR_ENV] || join(host.tmpdir, 'modelgate-models'),
        trustedHosts,
        maxBytes: int(MAX_BYTES_ENV, 2 * 1024 ** 3, 1, Number.MAX_SAFE_INTEGER),
        deadlineMs: int(FETCH_TIMEOUT_ENV, 300, 1, 86_400) * 1000,
        retries: int(FETCH_RETRIES_ENV, 3, 0, 20),
        userAgent: 'modelgate-inference-server',
        settings: { trustedHosts: TRUSTED_HOSTS_ENV, sizeLimit: MAX_BYTES_ENV, digest: DIGEST_ENV },
      },
    },
  };
}
