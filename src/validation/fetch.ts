// Artifact fetch: https (and http / loopback / private addresses only for trusted hosts), file://
// only under configured roots. Streams into a content-addressed cache (<cacheDir>/sha256/<hex>),
// hashing while writing a temp file in the same folder and renaming it on success. SSRF guard:
// the host is resolved here and every address vetted; the connection uses the vetted address
// (http.request's `lookup`), so DNS rebinding cannot swap it. No path is built from a URI.
import { createHash, randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, realpath, rename, stat, unlink, utimes } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { planEviction, type CacheEntry } from './cache-budget.js';
import type { ArtifactRef, FetchedArtifact } from './contract.js';
import { StageError } from './contract.js';
import { REASONS } from './reasons.js';

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

const OPERATOR_SETTINGS: FetcherSettingNames = {
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

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
const PARTIAL_PREFIX = '.partial-';

// ---------------------------------------------------------------------------------------------
// Address classification

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

function inV4(ip: string, cidr: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(cidr) & mask) >>> 0);
}

const V4_FORBIDDEN: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'this-network'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** Expand an IPv6 address to 8 16-bit groups. */
function ipv6Groups(ip: string): number[] | undefined {
  let s = ip.toLowerCase();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  // Trailing dotted IPv4 (::ffff:1.2.3.4).
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!net.isIPv4(tail)) return undefined;
    const v = ipv4ToInt(tail);
    s = `${s.slice(0, lastColon + 1)}${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  const groups = [...head, ...Array<string>(Math.max(fill, 0)).fill('0'), ...rest].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** Why an address is forbidden (loopback, private, link-local, ...), or undefined when it is public. */
export function forbiddenAddressKind(ip: string): string | undefined {
  if (net.isIPv4(ip)) {
    for (const [cidr, bits, kind] of V4_FORBIDDEN) if (inV4(ip, cidr, bits)) return kind;
    if (ip === '255.255.255.255') return 'broadcast';
    return undefined;
  }
  if (!net.isIPv6(ip)) return 'not an IP address';
  const g = ipv6Groups(ip);
  if (!g) return 'unparseable IPv6 address';
  const [a, b, c, d, e, f, g6, h] = g as [number, number, number, number, number, number, number, number];
  const v4 = `${g6 >>> 8}.${g6 & 0xff}.${h >>> 8}.${h & 0xff}`;
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0) {
    if (f === 0xffff) return forbiddenAddressKind(v4) && `IPv4-mapped ${forbiddenAddressKind(v4)}`; // ::ffff:a.b.c.d
    if (f === 0 && g6 === 0 && (h === 0 || h === 1)) return h === 0 ? 'unspecified' : 'loopback';
    if (f === 0) return 'IPv4-compatible (deprecated)';
  }
  if (a === 0x64 && b === 0xff9b) return forbiddenAddressKind(v4) && `NAT64 ${forbiddenAddressKind(v4)}`; // 64:ff9b::/96
  if (a === 0x2002) return forbiddenAddressKind(`${b >>> 8}.${b & 0xff}.${c >>> 8}.${c & 0xff}`) && '6to4 of a forbidden address';
  if ((a & 0xfe00) === 0xfc00) return 'unique-local (private)';
  if ((a & 0xffc0) === 0xfe80) return 'link-local';
  if ((a & 0xffc0) === 0xfec0) return 'site-local';
  if ((a & 0xff00) === 0xff00) return 'multicast';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Trusted hosts

interface HostPattern {
  host: string;
  wildcard: boolean;
  port?: number;
}

function parsePattern(p: string): HostPattern {
  const s = p.trim().toLowerCase();
  let host = s;
  let port: number | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    port = bracket[2] !== undefined ? Number(bracket[2]) : undefined;
  } else {
    const m = /^([^:]+):(\d+)$/.exec(s);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  const wildcard = host.startsWith('*.');
  return port === undefined ? { host: wildcard ? host.slice(1) : host, wildcard } : { host: wildcard ? host.slice(1) : host, wildcard, port };
}

/**
 * Why a trusted-host entry can never match (a scheme, a path, a bad port), or undefined when it is
 * one of the forms above. Catches "http://store:8080", which would otherwise trust nothing.
 */
export function trustedHostProblem(entry: string): string | undefined {
  const s = entry.trim().toLowerCase();
  if (net.isIPv6(s)) return undefined;
  const m = /^(?:\[([0-9a-f:.]+)\]|(\*\.)?([a-z0-9_-]+(?:\.[a-z0-9_-]+)*))(?::(\d{1,5}))?$/.exec(s);
  if (!m || (m[1] !== undefined && !net.isIPv6(m[1]))) return `"${entry}" is not host, host:port, *.domain or [IPv6]:port (no scheme, no path)`;
  if (m[4] !== undefined && (Number(m[4]) < 1 || Number(m[4]) > 65535)) return `"${entry}" has port ${m[4]}, outside 1-65535`;
  return undefined;
}

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function matchesTrusted(patterns: readonly HostPattern[], url: URL): boolean {
  const host = bareHost(url);
  const port = defaultPort(url);
  return patterns.some(
    (p) => (p.wildcard ? host.endsWith(p.host) && host.length > p.host.length : host === p.host) && (p.port === undefined || p.port === port),
  );
}

/**
 * The same destination rules for other outgoing requests (notification webhooks): https, or
 * http to a trusted host; no credentials in the URL; every resolved address public unless the
 * host is trusted. Resolves the host once and returns the vetted address to connect to, so DNS
 * rebinding cannot swap it. Throws an Error saying why, with the URL's query redacted.
 */
export class DestinationGuard {
  private readonly trusted: HostPattern[];
  private readonly resolveHost: (host: string) => Promise<LookupAddress[]>;

  constructor(trustedHosts: readonly string[] = [], resolve?: (host: string) => Promise<LookupAddress[]>) {
    this.trusted = trustedHosts.map(parsePattern);
    this.resolveHost = resolve ?? ((host) => new Promise((ok, fail) => dnsLookup(host, { all: true, verbatim: true }, (err, addrs) => (err ? fail(err) : ok(addrs)))));
  }

  isTrusted(url: URL): boolean {
    return matchesTrusted(this.trusted, url);
  }

  async vet(url: URL, label: string): Promise<LookupAddress> {
    // Only scheme and host in messages: a webhook's path or query may itself be the secret.
    const where = `${url.protocol}//${url.host}`;
    const trusted = this.isTrusted(url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the ${label} URL scheme '${url.protocol}' is not supported; use https://`);
    if (url.protocol === 'http:' && !trusted) throw new Error(`the ${label} URL ${where} uses plain http to a host not in the operator's trusted hosts; use https or trust the host`);
    if (url.username || url.password) throw new Error(`the ${label} URL carries credentials in the URL; put a token in the Secret instead`);
    const host = bareHost(url);
    const addrs = net.isIP(host) ? [{ address: host, family: net.isIPv6(host) ? 6 : 4 }] : await this.resolveHost(host);
    if (addrs.length === 0) throw new Error(`DNS returned no address for ${host}`);
    if (!trusted) {
      for (const a of addrs) {
        const kind = forbiddenAddressKind(a.address);
        if (kind) throw new Error(`the ${label} URL ${where} resolves to ${a.address}, a ${kind} address; refused (add the host to the operator's trusted hosts if this is intended)`);
      }
    }
    return addrs[0]!;
  }
}

// ---------------------------------------------------------------------------------------------

class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET',
]);

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error('The fetch was aborted.');
  e.name = 'AbortError';
  return e;
}

export class ArtifactFetcher {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly trusted: HostPattern[];
  private readonly roots: string[];
  private readonly connectTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRedirects: number;
  private readonly resolveHost: (host: string) => Promise<LookupAddress[]>;
  private readonly userAgent: string;
  private readonly names: FetcherSettingNames;
  /** Partial files being written now (sweepPartials leaves them alone), by key. */
  private readonly active = new Map<string, string | undefined>();
  private readonly maxCacheBytes?: number;
  private readonly keep: () => Iterable<string> | undefined;
  private readonly onEvict?: (result: EvictionResult) => void;
  /** Cached files in use (by hex), with how many holders; eviction never deletes them. */
  private readonly pins = new Map<string, number>();
  /** Deletions under way, by hex: a fetch of the same digest waits for it before looking. */
  private readonly deleting = new Map<string, Promise<void>>();
  /** One eviction at a time; a request while one runs makes it run once more. */
  private evicting?: Promise<EvictionResult | undefined>;
  private evictAgain = false;

  constructor(options: FetcherOptions) {
    this.dir = path.join(path.resolve(options.cacheDir), 'sha256');
    this.maxBytes = options.maxBytes ?? 2 * 1024 ** 3;
    this.trusted = (options.trustedHosts ?? []).map(parsePattern);
    this.roots = (options.fileRoots ?? []).map((r) => path.resolve(r));
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.deadlineMs = options.deadlineMs ?? 300_000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 15_000;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.userAgent = options.userAgent ?? 'modelgate-operator';
    this.names = { ...OPERATOR_SETTINGS, ...options.settings };
    this.maxCacheBytes = options.maxCacheBytes;
    this.keep = options.keep ?? (() => []);
    this.onEvict = options.onEvict;
    this.resolveHost =
      options.resolve ??
      ((host) =>
        new Promise((resolve, reject) =>
          dnsLookup(host, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))),
        ));
  }

  /** The content-addressed folder (<cacheDir>/sha256). */
  get cacheFolder(): string {
    return this.dir;
  }

  /** The cache path for a digest; throws on a malformed digest. Never built from a URI. */
  pathFor(digest: string): string {
    return path.join(this.dir, this.hexOf(digest, 'artifact'));
  }

  /** Remove temp files left by an earlier run (call at start-up). Returns how many were removed. */
  async sweepPartials(): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const live = new Set(this.active.keys());
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(PARTIAL_PREFIX)) continue;
      const full = path.join(this.dir, name);
      if (live.has(full)) continue;
      await unlink(full).catch(() => undefined);
      removed++;
    }
    return removed;
  }

  /** Remove the partial files being written under a key (finalizer); in-flight fetches also clean up on abort. */
  async cleanup(key: string): Promise<void> {
    for (const [file, k] of this.active) {
      if (k === key) await unlink(file).catch(() => undefined);
    }
  }

  isTrusted(url: URL): boolean {
    return matchesTrusted(this.trusted, url);
  }

  /**
   * Keep the cached file of `digest` from eviction until the returned release is called (once;
   * later calls do nothing). Pins count: the file stays while any holder has it.
   */
  pin(digest: string): () => void {
    // A malformed digest names no cached file; it is pinned as given (fetch refuses it anyway).
    const hex = DIGEST_RE.exec(digest)?.[1] ?? digest;
    this.pins.set(hex, (this.pins.get(hex) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(hex) ?? 1) - 1;
      if (n <= 0) this.pins.delete(hex);
      else this.pins.set(hex, n);
    };
  }

  /** Digests pinned now (tests, diagnostics). */
  pinned(): string[] {
    return [...this.pins.keys()].map((h) => `sha256:${h}`);
  }

  /**
   * Delete least recently used artifacts until the cache fits maxCacheBytes; pinned ones and
   * those `keep` names stay. Resolves with what was deleted (undefined without a budget).
   */
  enforceBudget(): Promise<EvictionResult | undefined> {
    if (this.maxCacheBytes === undefined) return Promise.resolve(undefined);
    if (this.evicting) {
      this.evictAgain = true;
      return this.evicting;
    }
    const run = async (): Promise<EvictionResult | undefined> => {
      let result: EvictionResult | undefined;
      do {
        this.evictAgain = false;
        result = await this.evictOnce(this.maxCacheBytes as number);
      } while (this.evictAgain);
      return result;
    };
    this.evicting = run().finally(() => {
      this.evicting = undefined;
    });
    return this.evicting;
  }

  private async evictOnce(budget: number): Promise<EvictionResult> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const entries: CacheEntry[] = [];
    let otherBytes = 0;
    for (const name of await readdir(this.dir)) {
      const st = await stat(path.join(this.dir, name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (/^[0-9a-f]{64}$/.test(name)) entries.push({ name, sizeBytes: st.size, lastUsedMs: st.mtimeMs });
      else otherBytes += st.size;
    }
    const needed = this.keep();
    const total = otherBytes + entries.reduce((s, x) => s + x.sizeBytes, 0);
    // What rollback points need is not known: keep everything rather than guess.
    if (needed === undefined) return { evicted: [], keptBytes: total, overBudgetBytes: Math.max(0, total - budget) };
    const keep = new Set<string>();
    for (const d of needed) {
      const m = DIGEST_RE.exec(d);
      if (m) keep.add(m[1]!);
    }
    const pinnedNow = new Set([...keep, ...this.pins.keys()]);
    const plan = planEviction(entries, budget, pinnedNow, otherBytes);
    const evicted: string[] = [];
    let freed = 0;
    for (const hex of plan.evict) {
      // Checked again right before the delete, in the same tick as it starts: a fetch or a
      // validation may have pinned the file while the folder was being listed.
      if (this.pins.has(hex)) continue;
      const file = path.join(this.dir, hex);
      const done = unlink(file).then(
        () => {
          evicted.push(`sha256:${hex}`);
          freed += entries.find((x) => x.name === hex)?.sizeBytes ?? 0;
        },
        () => undefined,
      ).finally(() => this.deleting.delete(hex));
      this.deleting.set(hex, done);
      await done;
    }
    const keptBytes = otherBytes + entries.reduce((s, x) => s + x.sizeBytes, 0) - freed;
    const result = { evicted, keptBytes, overBudgetBytes: Math.max(0, keptBytes - budget) };
    if (evicted.length > 0 || result.overBudgetBytes > 0) this.onEvict?.(result);
    return result;
  }

  private hexOf(digest: string, label: string): string {
    const m = DIGEST_RE.exec(digest);
    if (!m) {
      throw new StageError(
        REASONS.FetchFailed,
        `The ${label} digest '${digest.slice(0, 80)}' is not 'sha256:' followed by 64 lowercase hex digits; fix the digest field.`,
        true,
      );
    }
    return m[1]!;
  }

  /** Fetch an artifact into the cache (or reuse a verified cached copy). */
  async fetch(ref: ArtifactRef, signal: AbortSignal, options: FetchOptions = {}): Promise<FetchedArtifact> {
    const label = options.label ?? 'artifact';
    const hex = this.hexOf(ref.digest, label);
    const limit = Math.min(this.maxBytes, ref.sizeBytes !== undefined && ref.sizeBytes > 0 ? ref.sizeBytes : Infinity);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const final = path.join(this.dir, hex);

    let url: URL;
    try {
      url = new URL(ref.uri);
    } catch {
      throw new StageError(REASONS.FetchFailed, `The ${label} URI '${ref.uri.slice(0, 200)}' is not a valid URL; fix the uri field.`, true);
    }
    // Policy first: a cached copy is never a way around the URI rules.
    let source: string | undefined;
    if (url.protocol === 'file:') source = await this.resolveFile(url, label);
    else if (url.protocol === 'https:' || url.protocol === 'http:') this.vet(url, label);
    else {
      throw new StageError(
        REASONS.ForbiddenDestination,
        `The ${label} URI scheme '${url.protocol}' is not supported; use https://, http:// (trusted hosts) or file:// (mounted roots).`,
        true,
      );
    }

    // Pinned from here: an eviction leaves this file alone while it is hashed, written or used.
    const release = this.pin(ref.digest);
    let kept = false;
    const keepPin = (): void => {
      if (options.holds) {
        options.holds.push(release);
        kept = true;
      }
    };
    try {
      await this.deleting.get(hex);
      // Cache hit: re-hash (the volume is writable by the operator only, but a torn or edited file must not pass).
      const cached = await stat(final).catch(() => undefined);
      if (cached?.isFile()) {
        if (cached.size <= limit && (await hashFile(final).catch(() => undefined)) === hex) {
          // The file's mtime is its last use, for the eviction order.
          const now = new Date();
          await utimes(final, now, now).catch(() => undefined);
          keepPin();
          return { digest: ref.digest, path: final, sizeBytes: cached.size };
        }
        await unlink(final).catch(() => undefined);
      }
      const fetched = await this.store(ref, url, source, final, hex, limit, label, signal, options);
      await this.enforceBudget().catch(() => undefined);
      keepPin();
      return fetched;
    } finally {
      if (!kept) release();
    }
  }

  /** Download or copy into a partial file, verify the digest, rename into place. */
  private async store(ref: ArtifactRef, url: URL, source: string | undefined, final: string, hex: string, limit: number, label: string, signal: AbortSignal, options: FetchOptions): Promise<FetchedArtifact> {
    const partial = path.join(this.dir, `${PARTIAL_PREFIX}${randomBytes(12).toString('hex')}`);
    this.active.set(partial, options.key);
    try {
      let written: number;
      if (source !== undefined) written = await this.copyFile(source, partial, limit, label, signal);
      else written = await this.download(url, partial, limit, label, signal);
      const got = await hashFile(partial);
      if (got !== hex) {
        throw new StageError(
          REASONS.DigestMismatch,
          `The ${label} at ${redact(url)} has digest sha256:${got}, not the declared ${ref.digest}; the file was removed: publish the right file or fix ${this.names.digest}.`,
          true,
        );
      }
      await rename(partial, final);
      return { digest: ref.digest, path: final, sizeBytes: written };
    } catch (err) {
      if (err instanceof StageError || signal.aborted) throw err;
      throw new StageError(REASONS.FetchFailed, `The ${label} could not be read from ${redact(url)}: ${(err as Error).message}; check the uri.`, true);
    } finally {
      this.active.delete(partial);
      await unlink(partial).catch(() => undefined);
    }
  }

  // -------------------------------------------------------------------------------------------
  // file://

  /** The real path of a file:// URI inside a configured root, or ForbiddenDestination. */
  private async resolveFile(url: URL, label: string): Promise<string> {
    if (url.host !== '' && url.host !== 'localhost') {
      throw new StageError(REASONS.ForbiddenDestination, `The ${label} file URI names host '${url.host}'; file:// URIs must be local (file:///path).`, true);
    }
    let requested: string;
    try {
      requested = fileURLToPath(url);
    } catch (err) {
      throw new StageError(REASONS.FetchFailed, `The ${label} file URI is malformed (${(err as Error).message}); fix the uri field.`, true);
    }
    const outside = (): StageError =>
      new StageError(
        REASONS.ForbiddenDestination,
        `The ${label} path ${requested} is outside the operator's file roots (${this.roots.join(', ') || 'none configured'}) or leaves them through '..' or a symbolic link; put the file under a configured root.`,
        true,
      );
    if (this.roots.length === 0) throw outside();
    // The URL parser already collapsed '..'; still refuse any left (percent-encoded) for clarity.
    if (requested.split(path.sep).includes('..')) throw outside();
    let real: string;
    try {
      real = await realpath(requested);
    } catch {
      // Do not reveal whether a path outside the roots exists.
      if (!this.roots.some((r) => isInside(r, requested))) throw outside();
      throw new StageError(REASONS.FetchFailed, `The ${label} file ${requested} does not exist; check the uri field and the mounted volume.`, true);
    }
    let allowed = false;
    for (const r of this.roots) {
      const realRoot = await realpath(r).catch(() => undefined);
      if (realRoot !== undefined && isInside(r, requested) && isInside(realRoot, real)) allowed = true;
    }
    if (!allowed) throw outside();
    const st = await stat(real);
    if (!st.isFile()) throw new StageError(REASONS.FetchFailed, `The ${label} path ${requested} is not a regular file; point the uri at the model file.`, true);
    return real;
  }

  private async copyFile(real: string, partial: string, limit: number, label: string, signal: AbortSignal): Promise<number> {
    const st = await stat(real);
    if (st.size > limit) throw tooLarge(label, this.names, limit, st.size);
    const src = createReadStream(real, { signal });
    return writeLimited(src, partial, limit, label, this.names, signal);
  }

  // -------------------------------------------------------------------------------------------
  // http(s)

  private async download(url: URL, partial: string, limit: number, label: string, signal: AbortSignal): Promise<number> {
    let lastError: Error | undefined;
    // A store that kept failing in a way that may pass (5xx, 429, a reset connection) fails the
    // fetch transiently, so the operator retries later; anything else is terminal.
    let transient = false;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) {
        // The failed attempt may have written part of the body: each attempt starts a fresh file
        // (writeLimited opens it exclusively, so a leftover would fail the retry with EEXIST).
        await unlink(partial).catch(() => undefined);
        const exp = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        const jittered = exp / 2 + Math.random() * (exp / 2);
        const after = lastError instanceof RetryableError && lastError.retryAfterMs !== undefined ? Math.min(lastError.retryAfterMs, this.maxBackoffMs) : 0;
        await sleep(Math.max(jittered, after), signal);
      }
      try {
        return await this.attempt(url, partial, limit, label, signal);
      } catch (err) {
        if (err instanceof StageError || signal.aborted) throw err;
        lastError = err as Error;
        transient = true;
        if (!(err instanceof RetryableError)) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === undefined || !TRANSIENT_CODES.has(code)) {
            transient = false;
            break;
          }
        }
      }
    }
    throw new StageError(
      REASONS.FetchFailed,
      `The ${label} could not be fetched from ${redact(url)} after ${this.retries + 1} attempt(s): ${lastError?.message ?? 'unknown error'}; check that the URI is reachable.`,
      !transient,
    );
  }

  /** Vet a destination: scheme, host trust, literal addresses. Returns whether it is trusted. */
  private vet(url: URL, label: string): boolean {
    const trusted = this.isTrusted(url);
    if (url.protocol === 'http:' && !trusted) {
      throw new StageError(
        REASONS.ForbiddenDestination,
        `The ${label} URL ${redact(url)} uses plain http to host '${url.host}', which is not in ${this.names.trustedHosts}; use https or add the host to ${this.names.trustedHosts}.`,
        true,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new StageError(REASONS.ForbiddenDestination, `The ${label} URL ${redact(url)} redirects to scheme '${url.protocol}'; only http(s) redirects are followed.`, true);
    }
    if (url.username || url.password) {
      throw new StageError(REASONS.ForbiddenDestination, `The ${label} URL carries credentials in the URL; use a URL without user:password.`, true);
    }
    const host = bareHost(url);
    if (!trusted && net.isIP(host)) {
      const kind = forbiddenAddressKind(host);
      if (kind) throw forbidden(label, this.names, url, host, kind);
    }
    return trusted;
  }

  private attempt(start: URL, partial: string, limit: number, label: string, outer: AbortSignal): Promise<number> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new RetryableError(`no complete response within the ${this.deadlineMs} ms deadline`)),
      this.deadlineMs,
    );
    const signal = AbortSignal.any([outer, deadline.signal]);
    const run = async (): Promise<number> => {
      let url = start;
      for (let hop = 0; ; hop++) {
        const trusted = this.vet(url, label);
        const res = await this.request(url, trusted, label, signal);
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location !== undefined) {
          res.resume();
          res.destroy();
          if (hop >= this.maxRedirects) {
            throw new StageError(REASONS.FetchFailed, `The ${label} URL ${redact(start)} redirected more than ${this.maxRedirects} times; point the uri at the final location.`, true);
          }
          try {
            url = new URL(res.headers.location, url);
          } catch {
            throw new StageError(REASONS.FetchFailed, `The ${label} server sent an invalid redirect location; fix the server or the uri.`, true);
          }
          if (start.protocol === 'https:' && url.protocol === 'http:' && !this.isTrusted(url)) {
            throw new StageError(REASONS.ForbiddenDestination, `The ${label} URL ${redact(start)} redirects from https to plain http (${redact(url)}); refused.`, true);
          }
          continue;
        }
        if (status !== 200) {
          res.resume();
          res.destroy();
          if (status >= 500 || status === 429 || status === 408) {
            const ra = Number(res.headers['retry-after']);
            throw new RetryableError(`HTTP ${status} from ${redact(url)}`, Number.isFinite(ra) && ra >= 0 ? ra * 1000 : undefined);
          }
          throw new StageError(
            REASONS.FetchFailed,
            `The ${label} server answered HTTP ${status} for ${redact(url)}; check the uri and the server's access rules.`,
            true,
          );
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > limit) {
          res.destroy();
          throw tooLarge(label, this.names, limit, declared);
        }
        return writeLimited(res, partial, limit, label, this.names, signal);
      }
    };
    return run()
      .catch((err: unknown) => {
        // The deadline aborts with a RetryableError; surface it, not a generic AbortError.
        if (deadline.signal.aborted && !outer.aborted && !(err instanceof StageError)) throw deadline.signal.reason as Error;
        throw err;
      })
      .finally(() => clearTimeout(timer));
  }

  private request(url: URL, trusted: boolean, label: string, signal: AbortSignal): Promise<http.IncomingMessage> {
    const host = bareHost(url);
    // Resolve and vet here; the socket connects to exactly the vetted address.
    const lookup = (hostname: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
      this.resolveHost(hostname).then(
        (addrs) => {
          if (addrs.length === 0) return cb(Object.assign(new Error(`DNS returned no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
          if (!trusted) {
            for (const a of addrs) {
              const kind = forbiddenAddressKind(a.address);
              if (kind) return cb(forbidden(label, this.names, url, a.address, kind), '');
            }
          }
          if (opts.all) cb(null, addrs);
          else cb(null, addrs[0]!.address, addrs[0]!.family);
        },
        (err: Error) => cb(err, ''),
      );
    };
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method: 'GET',
          agent: false,
          signal,
          lookup: net.isIP(host) ? undefined : (lookup as unknown as typeof dnsLookup),
          headers: { 'user-agent': this.userAgent, accept: '*/*', 'accept-encoding': 'identity' },
        },
        (res) => {
          clearTimeout(connectTimer);
          resolve(res);
        },
      );
      const connectTimer = setTimeout(() => {
        req.destroy(Object.assign(new Error(`no connection to ${url.host} within ${this.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, this.connectTimeoutMs);
      req.on('socket', (sock) => {
        const done = (): void => clearTimeout(connectTimer);
        if (!sock.connecting) done();
        else sock.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', done);
      });
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        // A ForbiddenDestination raised inside lookup arrives here unchanged.
        reject(err);
      });
      req.end();
    });
  }
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** A URL for messages and logs: no user:password, no query (a presigned URL's query is a credential). */
export function redact(url: URL): string {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  // A literal ellipsis: URL would percent-encode it (%E2%80%A6).
  const query = u.search ? '?…' : '';
  u.search = '';
  u.hash = '';
  return `${u.href}${query}`;
}

function forbidden(label: string, names: FetcherSettingNames, url: URL, address: string, kind: string): StageError {
  return new StageError(
    REASONS.ForbiddenDestination,
    `The ${label} URL ${redact(url)} resolves to ${address}, a ${kind} address; refused (add the host to ${names.trustedHosts} if this is intended).`,
    true,
  );
}

function tooLarge(label: string, names: FetcherSettingNames, limit: number, size?: number): StageError {
  return new StageError(
    REASONS.ArtifactTooLarge,
    `The ${label} is larger than the limit of ${limit} bytes${size !== undefined ? ` (${size} bytes)` : ''}; raise ${names.sizeLimit} or publish a smaller file.`,
    true,
  );
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Stream into `partial`, cutting at `limit` bytes; the caller removes the partial file on failure. */
function writeLimited(
  src: NodeJS.ReadableStream & { destroy(err?: Error): void },
  partial: string,
  limit: number,
  label: string,
  names: FetcherSettingNames,
  signal: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    let bytes = 0;
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      signal.removeEventListener('abort', onAbort);
      src.destroy();
      // Wait for the file handle to close so the caller's unlink removes a closed file.
      out.destroy();
      out.once('close', () => reject(err));
    };
    const onAbort = (): void => fail(signal.reason instanceof Error ? signal.reason : abortError(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    src.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) return fail(tooLarge(label, names, limit));
      if (!out.write(chunk)) {
        src.pause();
        out.once('drain', () => src.resume());
      }
    });
    src.on('error', (err: Error) => fail(Object.assign(new RetryableError(`the transfer broke: ${err.message}`), { code: (err as NodeJS.ErrnoException).code })));
    src.on('aborted', () => fail(new RetryableError('the server closed the connection before the end of the body')));
    src.on('end', () => {
      if (failed) return;
      signal.removeEventListener('abort', onAbort);
      out.end(() => resolve(bytes));
    });
    out.on('error', (err) => fail(new StageError(REASONS.FetchFailed, `Writing the ${label} to the cache failed (${err.message}); check the cache volume's free space.`, false)));
  });
}
