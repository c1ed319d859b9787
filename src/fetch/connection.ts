// The guarded connection every scheme uses: the host is resolved here and every address vetted
// against the policy (policy.ts) before the socket connects to exactly that address (http's
// `lookup`), so DNS rebinding cannot swap it; redirects are vetted hop by hop (presigned
// redirects included) and credentials never follow a redirect to another host. Also the
// shared pieces of a download: the retry loop with backoff, the per-attempt deadline and the
// size-capped writer.
import type { Hash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { bareHost, forbiddenAddressKind, ipFamily, matchesTrusted, redact, redirectProblem, type HostPattern } from './policy.js';
import type { DownloadJob, FetcherSettingNames } from './types.js';

export class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
  }
}

export const TRANSIENT_CODES = new Set([
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

export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error('The fetch was aborted.');
  e.name = 'AbortError';
  return e;
}

export function defaultResolver(host: string): Promise<LookupAddress[]> {
  return new Promise((ok, fail) => dnsLookup(host, { all: true, verbatim: true }, (err, addrs) => (err ? fail(err) : ok(addrs))));
}

export function forbidden(label: string, names: FetcherSettingNames, url: URL, address: string, kind: string): StageError {
  return new StageError(
    REASONS.ForbiddenDestination,
    `The ${label} URL ${redact(url)} resolves to ${address}, a ${kind} address; refused (add the host to ${names.trustedHosts} if this is intended).`,
    true,
  );
}

export function tooLarge(label: string, names: FetcherSettingNames, limit: number, size?: number): StageError {
  return new StageError(
    REASONS.ArtifactTooLarge,
    `The ${label} is larger than the limit of ${limit} bytes${size !== undefined ? ` (${size} bytes)` : ''}; raise ${names.sizeLimit} or publish a smaller file.`,
    true,
  );
}

export interface ConnectionOptions {
  trusted: readonly HostPattern[];
  resolveHost: (host: string) => Promise<LookupAddress[]>;
  connectTimeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  names: FetcherSettingNames;
}

export interface RequestOptions {
  label: string;
  signal: AbortSignal;
  method?: string;
  /** Sent to the first host only; dropped when a redirect leaves it (a presigned URL carries its own). */
  headers?: Record<string, string>;
  /** PEM CA bundle that replaces the system roots for this request (a Secret's ca.crt). */
  ca?: string;
  /** Signs each hop (S3): returns the headers for that URL. */
  sign?: (url: URL) => Promise<Record<string, string>>;
}

/** One client per fetcher: the vetting and connecting of every http(s) request any scheme makes. */
export class GuardedConnection {
  constructor(readonly o: ConnectionOptions) {}

  isTrusted(url: URL): boolean {
    return matchesTrusted(this.o.trusted, url);
  }

  /** Vet a destination: scheme, host trust, literal addresses. Returns whether it is trusted. */
  vet(url: URL, label: string): boolean {
    const names = this.o.names;
    const trusted = this.isTrusted(url);
    if (url.protocol === 'http:' && !trusted) {
      throw new StageError(
        REASONS.ForbiddenDestination,
        `The ${label} URL ${redact(url)} uses plain http to host '${url.host}', which is not in ${names.trustedHosts}; use https or add the host to ${names.trustedHosts}.`,
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
    if (!trusted && ipFamily(host) !== 0) {
      const kind = forbiddenAddressKind(host);
      if (kind) throw forbidden(label, names, url, host, kind);
    }
    return trusted;
  }

  /**
   * GET (or `method`) following vetted redirects. Returns the final response whatever its status
   * except redirects; 5xx, 429 and 408 become a RetryableError (the body is drained).
   */
  async send(start: URL, opts: RequestOptions): Promise<{ res: http.IncomingMessage; url: URL }> {
    let url = start;
    for (let hop = 0; ; hop++) {
      const trusted = this.vet(url, opts.label);
      const sameHost = url.host === start.host && url.protocol === start.protocol;
      const headers = { ...(sameHost ? opts.headers : {}), ...(opts.sign && sameHost ? await opts.sign(url) : {}) };
      const res = await this.request(url, trusted, { ...opts, headers, ca: sameHost ? opts.ca : undefined });
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.resume();
        res.destroy();
        if (hop >= this.o.maxRedirects) {
          throw new StageError(REASONS.FetchFailed, `The ${opts.label} URL ${redact(start)} redirected more than ${this.o.maxRedirects} times; point the uri at the final location.`, true);
        }
        let next: URL;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          throw new StageError(REASONS.FetchFailed, `The ${opts.label} server sent an invalid redirect location; fix the server or the uri.`, true);
        }
        const problem = redirectProblem(start, next, this.isTrusted(next));
        if (problem) throw new StageError(REASONS.ForbiddenDestination, `The ${opts.label} URL ${redact(start)} ${problem}.`, true);
        url = next;
        continue;
      }
      if (status >= 500 || status === 429 || status === 408) {
        const body = await readSmall(res, 4096).catch(() => '');
        const ra = Number(res.headers['retry-after']);
        const code = storeErrorCode(body);
        throw new RetryableError(`HTTP ${status}${code ? ` ${code}` : ''} from ${redact(url)}`, Number.isFinite(ra) && ra >= 0 ? ra * 1000 : undefined);
      }
      return { res, url };
    }
  }

  private request(url: URL, trusted: boolean, opts: RequestOptions): Promise<http.IncomingMessage> {
    const host = bareHost(url);
    const lookup = this.vettedLookup(url, trusted, opts.label);
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method: opts.method ?? 'GET',
          agent: false,
          signal: opts.signal,
          lookup: ipFamily(host) !== 0 ? undefined : (lookup as unknown as typeof dnsLookup),
          ...(opts.ca !== undefined && url.protocol === 'https:' ? { ca: opts.ca } : {}),
          headers: { 'user-agent': this.o.userAgent, accept: '*/*', 'accept-encoding': 'identity', ...opts.headers },
        },
        (res) => {
          clearTimeout(connectTimer);
          resolve(res);
        },
      );
      const connectTimer = setTimeout(() => {
        req.destroy(Object.assign(new Error(`no connection to ${url.host} within ${this.o.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, this.o.connectTimeoutMs);
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

  /** Resolve and vet here; the socket connects to exactly the vetted address. */
  private vettedLookup(url: URL, trusted: boolean, label: string) {
    return (hostname: string, opts: { all?: boolean }, cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
      this.o.resolveHost(hostname).then(
        (addrs) => {
          if (addrs.length === 0) return cb(Object.assign(new Error(`DNS returned no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
          if (!trusted) {
            for (const a of addrs) {
              const kind = forbiddenAddressKind(a.address);
              if (kind) return cb(forbidden(label, this.o.names, url, a.address, kind), '');
            }
          }
          if (opts.all) cb(null, addrs);
          else cb(null, addrs[0]!.address, addrs[0]!.family);
        },
        (err: Error) => cb(err, ''),
      );
    };
  }
}

/** Reads at most `max` bytes of a body as text (error documents, manifests, token answers). */
export async function readSmall(res: http.IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > max) {
      res.destroy();
      throw new Error(`the answer is larger than ${max} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The store's own error code in an error body: S3's <Code>, OCI's errors[0].code. */
export function storeErrorCode(body: string): string | undefined {
  const xml = /<Code>([A-Za-z0-9_.-]{1,64})<\/Code>/.exec(body);
  if (xml) return xml[1];
  try {
    const j = JSON.parse(body) as { errors?: Array<{ code?: unknown }> };
    const c = j.errors?.[0]?.code;
    return typeof c === 'string' && /^[A-Z_]{1,64}$/.test(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

/** Stream into `partial`, cutting at `limit` bytes; the caller removes the partial file on failure. */
export function writeLimited(
  src: NodeJS.ReadableStream & { destroy(err?: Error): void },
  partial: string,
  limit: number,
  label: string,
  names: FetcherSettingNames,
  signal: AbortSignal,
  hash?: Hash,
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
      // Hashed on the way: the digest is known when the last byte is written, not after a re-read.
      hash?.update(chunk);
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

/** Writes a 200 response's body into the partial file, refusing a declared length over the limit. */
export function saveBody(res: http.IncomingMessage, job: WriteJob, names: FetcherSettingNames): Promise<number> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > job.limit) {
    res.destroy();
    throw tooLarge(job.label, names, job.limit, declared);
  }
  return writeLimited(res, job.partial, job.limit, job.label, names, job.signal, job.hash);
}

/** What a writer needs of a download attempt. */
export type WriteJob = Pick<DownloadJob, 'partial' | 'limit' | 'label' | 'signal' | 'hash'>;
