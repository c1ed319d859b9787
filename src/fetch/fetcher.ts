// ArtifactFetcher: one fetch of any scheme into the content-addressed cache. It picks the
// scheme module by the URI's protocol, runs its policy checks before looking at the cache,
// downloads into a partial file with retries and a deadline per attempt, hashing on the way, and renames it
// into place only when the digest matches; a partial file never outlives its fetch.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { FetchedArtifact } from '../validation/contract.js';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { ArtifactCache, DIGEST_RE, PARTIAL_PREFIX } from './cache.js';
import { GuardedConnection, defaultResolver } from './connection.js';
import { FileScheme } from './file.js';
import { HttpsScheme } from './https.js';
import { OciScheme } from './oci.js';
import { parsePattern, redact } from './policy.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { S3Scheme } from './s3.js';
import { OPERATOR_SETTINGS, type Download, type EvictionResult, type FetcherOptions, type FetcherSettingNames, type FetchOptions, type Scheme, type StoreRef } from './types.js';

export class ArtifactFetcher {
  private readonly maxBytes: number;
  private readonly names: FetcherSettingNames;
  private readonly cache: ArtifactCache;
  private readonly connection: GuardedConnection;
  private readonly retry: RetryPolicy;
  private readonly schemes = new Map<string, Scheme>();

  constructor(options: FetcherOptions) {
    this.maxBytes = options.maxBytes ?? 2 * 1024 ** 3;
    this.names = { ...OPERATOR_SETTINGS, ...options.settings };
    this.cache = new ArtifactCache(options.cacheDir, options.maxCacheBytes, options.keep ?? (() => []), options.onEvict);
    this.connection = new GuardedConnection({
      trusted: (options.trustedHosts ?? []).map(parsePattern),
      resolveHost: options.resolve ?? defaultResolver,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxRedirects: options.maxRedirects ?? 5,
      userAgent: options.userAgent ?? 'modelgate-operator',
      names: this.names,
    });
    this.retry = {
      retries: options.retries ?? 3,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 15_000,
      deadlineMs: options.deadlineMs ?? 300_000,
    };
    const ctx = { connection: this.connection, names: this.names, ambient: options.ambient ?? {} };
    for (const s of [new FileScheme(options.fileRoots ?? [], this.names), new HttpsScheme(ctx), new S3Scheme(ctx), new OciScheme(ctx)]) {
      for (const p of s.protocols) this.schemes.set(p, s);
    }
  }

  /** The content-addressed folder (<cacheDir>/sha256). */
  get cacheFolder(): string {
    return this.cache.dir;
  }

  /** The cache path for a digest; throws on a malformed digest. Never built from a URI. */
  pathFor(digest: string): string {
    return path.join(this.cache.dir, this.cache.hexOf(digest, 'artifact'));
  }

  /** Remove temp files left by an earlier run (call at start-up). Returns how many were removed. */
  sweepPartials(): Promise<number> {
    return this.cache.sweepPartials();
  }

  /** Remove the partial files being written under a key (finalizer); in-flight fetches also clean up on abort. */
  cleanup(key: string): Promise<void> {
    return this.cache.cleanup(key);
  }

  isTrusted(url: URL): boolean {
    return this.connection.isTrusted(url);
  }

  /** Keep the cached file of `digest` from eviction until the returned release is called (once). Pins count. */
  pin(digest: string): () => void {
    return this.cache.pin(digest);
  }

  /** Digests pinned now (tests, diagnostics). */
  pinned(): string[] {
    return this.cache.pinned();
  }

  /** Delete least recently used artifacts until the cache fits its budget (undefined without one). */
  enforceBudget(): Promise<EvictionResult | undefined> {
    return this.cache.enforceBudget();
  }

  /** Fetch an artifact into the cache (or reuse a verified cached copy). */
  async fetch(ref: StoreRef, signal: AbortSignal, options: FetchOptions = {}): Promise<FetchedArtifact> {
    const label = options.label ?? 'artifact';
    const hex = this.cache.hexOf(ref.digest, label);
    const limit = Math.min(this.maxBytes, ref.sizeBytes !== undefined && ref.sizeBytes > 0 ? ref.sizeBytes : Infinity);
    await mkdir(this.cache.dir, { recursive: true, mode: 0o700 });
    const final = path.join(this.cache.dir, hex);
    // Policy first: a cached copy is never a way around the URI rules.
    const { url, download } = await this.prepare(ref, label);

    // Pinned from here: an eviction leaves this file alone while it is hashed, written or used.
    const release = this.cache.pin(ref.digest);
    let kept = false;
    const keepPin = (): void => {
      if (options.holds) {
        options.holds.push(release);
        kept = true;
      }
    };
    try {
      await this.cache.deleting.get(hex);
      const hit = await this.cached(final, hex, limit);
      if (hit !== undefined && ref.credentials && !download.local) {
        // A cached copy is never a way around the store's access rules: these credentials must read it.
        const probe = (sig: AbortSignal): Promise<number> => download({ ref, url, label, limit, partial: '', signal: sig, probe: true });
        await withRetries(this.retry, url, label, signal, probe, () => Promise.resolve());
      }
      if (hit !== undefined) {
        keepPin();
        return { digest: ref.digest, path: final, sizeBytes: hit };
      }
      const fetched = await this.store(ref, url, download, final, hex, limit, label, signal, options);
      await this.cache.enforceBudget().catch(() => undefined);
      keepPin();
      return fetched;
    } finally {
      if (!kept) release();
    }
  }

  private async prepare(ref: StoreRef, label: string): Promise<{ url: URL; download: Download }> {
    let url: URL;
    try {
      url = new URL(ref.uri);
    } catch {
      throw new StageError(REASONS.FetchFailed, `The ${label} URI '${ref.uri.slice(0, 200)}' is not a valid URL; fix the uri field.`, true);
    }
    const scheme = this.schemes.get(url.protocol);
    if (!scheme) {
      throw new StageError(
        REASONS.ForbiddenDestination,
        `The ${label} URI scheme '${url.protocol}' is not supported; use https://, http:// (trusted hosts), s3://, oci:// or file:// (mounted roots).`,
        true,
      );
    }
    return { url, download: await scheme.prepare(url, ref, label) };
  }

  /** The size of a verified cached copy, or undefined (a torn or edited file is removed). */
  private async cached(final: string, hex: string, limit: number): Promise<number | undefined> {
    const cached = await stat(final).catch(() => undefined);
    if (!cached?.isFile()) return undefined;
    if (cached.size <= limit && (await hashFile(final).catch(() => undefined)) === hex) {
      // The file's mtime is its last use, for the eviction order.
      const now = new Date();
      await utimes(final, now, now).catch(() => undefined);
      return cached.size;
    }
    await unlink(final).catch(() => undefined);
    return undefined;
  }

  /** Download or copy into a partial file, verify the digest, rename into place. */
  private async store(ref: StoreRef, url: URL, download: Download, final: string, hex: string, limit: number, label: string, signal: AbortSignal, options: FetchOptions): Promise<FetchedArtifact> {
    const partial = path.join(this.cache.dir, `${PARTIAL_PREFIX}${randomBytes(12).toString('hex')}`);
    this.cache.active.set(partial, options.key);
    try {
      // Each attempt hashes what it writes; the last one's hash is the file's.
      let hash = createHash('sha256');
      const job = (s: AbortSignal): Promise<number> => {
        hash = createHash('sha256');
        return download({ ref, url, label, limit, partial, signal: s, hash });
      };
      // The failed attempt may have written part of the body: each attempt starts a fresh file
      // (writeLimited opens it exclusively, so a leftover would fail the retry with EEXIST).
      const written = download.local
        ? await job(signal)
        : await withRetries(this.retry, url, label, signal, job, () => unlink(partial).catch(() => undefined));
      const got = hash.digest('hex');
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
      this.cache.active.delete(partial);
      await unlink(partial).catch(() => undefined);
    }
  }
}

export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export { DIGEST_RE };
