// The fetcher's options and the one interface every scheme implements.
import type { Hash } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import type { ArtifactRef } from '../validation/contract.js';
import type { GuardedConnection } from './connection.js';

export interface FetcherOptions {
  /** Cache root; artifacts land in <cacheDir>/sha256/<hex>. */
  cacheDir: string;
  /** Largest artifact in bytes (the artifact's own sizeBytes lowers it). Default 2 GiB. */
  maxBytes?: number;
  /**
   * Hosts allowed over plain http and on private/loopback addresses: "host" (any port),
   * "host:port", "*.example.com" (any subdomain). IPv6 literals in brackets: "[::1]:8080".
   */
  trustedHosts?: string[];
  /** Folders file:// URIs may read from (mounted volumes). */
  fileRoots?: string[];
  /** TCP connect timeout (ms). Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline for one attempt, redirects and body included (ms). Default 300 s. */
  deadlineMs?: number;
  /** Retries after the first attempt for transient errors. Default 3. */
  retries?: number;
  /** First backoff (ms), doubled each retry with full jitter. Default 500. */
  backoffMs?: number;
  /** Largest backoff (ms). Default 15 s. */
  maxBackoffMs?: number;
  /** Redirects followed per attempt. Default 5. */
  maxRedirects?: number;
  /** DNS resolver (tests); default node:dns lookup. */
  resolve?: (host: string) => Promise<LookupAddress[]>;
  /** Sent as User-Agent. Default "modelgate-operator". */
  userAgent?: string;
  /** How messages name the settings a user would change; the defaults speak of the operator. */
  settings?: Partial<FetcherSettingNames>;
  /**
   * Byte budget of the cache folder: after a download, the least recently used artifacts are
   * deleted until the folder fits. Never deleted: an artifact a fetch or validation holds (pin)
   * or one `keep` names. Default: no budget (the cache only grows).
   */
  maxCacheBytes?: number;
  /**
   * Digests that must stay cached (the artifacts of rollback points), asked at each eviction;
   * undefined when they are not known (caches not synced): nothing is evicted then.
   */
  keep?: () => Iterable<string> | undefined;
  /** Told what an eviction deleted and whether the pinned artifacts alone exceed the budget. */
  onEvict?: (result: EvictionResult) => void;
  /**
   * Credentials of the process itself (AWS_* env vars, a web-identity token file) for s3:// when
   * an artifact names no Secret. Only set when the operator was started to allow them.
   */
  ambient?: AmbientCredentials;
}

/** Where ambient S3 credentials come from when allowed (s3.ts resolves them per fetch). */
export interface AmbientCredentials {
  /** Resolves the process's AWS credentials (env, web identity token file). */
  s3?: () => Promise<S3Keys>;
}

export interface EvictionResult {
  /** Digests deleted (sha256:<hex>), least recently used first. */
  evicted: string[];
  /** Bytes left in the cache folder. */
  keptBytes: number;
  /** Bytes over the budget that could not be freed (everything left is pinned or downloading). */
  overBudgetBytes: number;
}

/** The settings named in refusal messages, so another user of the fetcher (the inference server) points at its own env. */
export interface FetcherSettingNames {
  /** Default "the operator's trusted hosts". */
  trustedHosts: string;
  /** Default "artifact.sizeBytes / the operator's limit". */
  sizeLimit: string;
  /** Default "the digest". */
  digest: string;
}

export const OPERATOR_SETTINGS: FetcherSettingNames = {
  trustedHosts: "the operator's trusted hosts",
  sizeLimit: "artifact.sizeBytes / the operator's limit",
  digest: 'the digest',
};

export interface FetchOptions {
  /** Tracks the partial file under this key so cleanup(key) can remove it. */
  key?: string;
  /** Used in messages: "artifact", "baseline artifact", "holdout dataset". */
  label?: string;
  /**
   * Keep the fetched file pinned after fetch returns: its release is pushed here and the caller
   * calls it when done with the file (a validation that reads it). Without it the pin ends with the fetch.
   */
  holds?: Array<() => void>;
}

export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * What a Secret named by an artifact gave (src/fetch/secret.ts reads it). Held in memory for
 * the fetch only: never written to status, Events, logs or reports; messages name `secretName`.
 */
export interface StoreCredentials {
  /** The Secret's name, for messages. */
  secretName: string;
  /** https: extra request headers (the Secret's `headers`, one "Name: value" a line). */
  headers?: Record<string, string>;
  /** https: basic auth (`username`, `password`). */
  basic?: { username: string; password: string };
  /** https, oci: a PEM CA bundle (`ca.crt`) that replaces the system roots. */
  ca?: string;
  /** s3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. */
  s3?: S3Keys;
  /** oci: the `auths` of a kubernetes.io/dockerconfigjson Secret, by registry host. */
  registries?: Record<string, { username: string; password: string }>;
}

/** Where an s3:// object lives, beside the URI (spec.artifact.s3). */
export interface S3Location {
  region?: string;
  /** An S3-compatible store's https (or trusted http) base URL. Default AWS's regional endpoint. */
  endpoint?: string;
  /** bucket in the path (endpoint/bucket/key) instead of the host name (bucket.endpoint/key). */
  forcePathStyle?: boolean;
}

/** An artifact to fetch with what its store needs. */
export interface StoreRef extends ArtifactRef {
  credentials?: StoreCredentials;
  s3?: S3Location;
  oci?: OciLocation;
}

/** How an oci:// registry is reached (spec.artifact.oci). */
export interface OciLocation {
  /** Plain http instead of https (ORAS's --plain-http); only for trusted hosts. */
  plainHttp?: boolean;
}

/** One download attempt's inputs; the scheme writes the bytes into `partial`. */
export interface DownloadJob {
  ref: StoreRef;
  url: URL;
  label: string;
  limit: number;
  partial: string;
  signal: AbortSignal;
  /** The attempt's sha256, fed by the writer as the bytes arrive (the digest check needs no re-read). */
  hash?: Hash;
  /**
   * Only ask the store whether these credentials may read the object and that it is still the
   * declared one where the store can say so (a one-byte range, an OCI manifest); write nothing.
   * A cache hit of an artifact with credentials does this, so a cached copy is never a way
   * around the store's access rules.
   */
  probe?: boolean;
}

/** What the fetcher gives a scheme. */
export interface SchemeContext {
  connection: GuardedConnection;
  names: FetcherSettingNames;
  ambient: AmbientCredentials;
}

/**
 * One URI scheme. `prepare` runs the policy checks that need no network (before the cache is
 * looked at: a cached copy is never a way around the rules) and returns the download, which the
 * fetcher runs with its retries and deadline and then verifies the digest of.
 */
export interface Scheme {
  readonly protocols: readonly string[];
  prepare(url: URL, ref: StoreRef, label: string): Promise<Download>;
}

export interface Download {
  /** Writes the bytes into job.partial; returns how many. Throws StageError (terminal) or a retryable error. */
  (job: DownloadJob): Promise<number>;
  /** Local files are not retried. */
  readonly local?: boolean;
}
