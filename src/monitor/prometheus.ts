// The only module that talks to Prometheus. A query's outcome is data (QueryResult), never an
// exception: the analysis judge turns an error into an Error measurement, so an outage counts
// against the error limit instead of crashing a reconcile or passing as healthy.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

import { fetch as undiciFetch, Agent } from 'undici';
import type { LookupAddress } from 'node:dns';

export type QueryErrorType = 'Unreachable' | 'BadQuery' | 'Timeout' | 'ServerError' | 'TooLarge' | 'Refused';

export type QueryResult =
  | { kind: 'vector'; samples: Sample[] }
  | { kind: 'scalar'; value: number }
  | { kind: 'error'; errorType: QueryErrorType; message: string };

/** What the analysis needs from a metrics backend; tests swap a fake in only for faults no real part produces. */
export interface MetricProvider {
  measure(query: string, time?: Date, signal?: AbortSignal): Promise<QueryResult>;
}

export interface PrometheusClientOptions {
  /** Base URL, e.g. http://prometheus.monitoring:9090 (a path prefix is kept). */
  url: string;
  /** Deadline for one query, also sent to Prometheus as its own `timeout` (default 10000). */
  timeoutMs?: number;
  /** Extra request headers (e.g. Authorization for a proxy). */
  headers?: Record<string, string>;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof fetch;
  /** Largest answer read; a longer one is cut off and the query is an error (default 4 MiB). */
  maxResponseBytes?: number;
  /**
   * URLs a redirect may lead to as they are (the operator's Prometheus URLs; matched by origin).
   * Default: this client's own URL.
   */
  allowedUrls?: readonly string[];
  /**
   * The address policy for any other redirect destination (the artifact fetcher's
   * DestinationGuard): it resolves the host and refuses private, loopback and metadata addresses
   * unless trusted; the hop then connects to exactly the vetted address. Without a guard such
   * redirects are refused.
   */
  guard?: RedirectGuard;
  /** Redirects followed per query (default 3). */
  maxRedirects?: number;
}

/** What the client needs of src/validation/fetch.ts's DestinationGuard. */
export interface RedirectGuard {
  vet(url: URL, label: string): Promise<LookupAddress>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A Prometheus URL in the one form the allow-list compares: parsed, no trailing slash, no query or fragment. */
export function normalizePrometheusUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  u.hash = '';
  u.search = '';
  return u.toString().replace(/\/+$/, '');
}

/**
 * The Prometheus URLs the operator may query: the default URL and the list it was started with.
 * A checkpoint's spec.analysis.prometheusUrl must be one of them (compared after normalizing),
 * so a tenant cannot point the operator at an address of its choosing.
 */
export class PrometheusUrlPolicy {
  readonly urls: readonly string[];

  constructor(urls: readonly (string | undefined)[]) {
    const seen = new Set<string>();
    for (const u of urls) {
      const n = u === undefined ? undefined : normalizePrometheusUrl(u);
      if (n) seen.add(n);
    }
    this.urls = [...seen];
  }

  allows(url: string): boolean {
    const n = normalizePrometheusUrl(url);
    return n !== undefined && this.urls.includes(n);
  }

  /** Whether a redirect target lies under one of the allowed URLs (same origin, path inside). */
  covers(target: URL): boolean {
    return this.urls.some((u) => {
      const base = new URL(u);
      if (base.origin !== target.origin) return false;
      const prefix = base.pathname.replace(/\/+$/, '');
      return prefix === '' || target.pathname === prefix || target.pathname.startsWith(`${prefix}/`);
    });
  }
}

class QueryRefused extends Error {
  constructor(readonly errorType: QueryErrorType, message: string) {
    super(message);
  }
}

/** Prometheus encodes sample values as strings, including "NaN", "+Inf" and "-Inf". */
export function parseSampleValue(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw !== 'string') return Number.NaN;
  switch (raw) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    default: {
      const trimmed = raw.trim();
      return trimmed === '' ? Number.NaN : Number(trimmed);
    }
  }
}

function error(errorType: QueryErrorType, message: string): QueryResult {
  return { kind: 'error', errorType, message };
}

interface ApiBody {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns the `data` of a successful /api/v1/query answer into a QueryResult. */
export function parseQueryData(data: ApiBody['data']): QueryResult {
  if (!data) return error('ServerError', 'Prometheus answered without a data field.');
  const { resultType, result } = data;
  if (resultType === 'vector') {
    if (!Array.isArray(result)) return error('ServerError', 'Prometheus answered a vector whose result is not a list.');
    const samples: Sample[] = [];
    for (const item of result) {
      if (!isRecord(item) || !Array.isArray(item.value)) {
        return error('ServerError', 'Prometheus answered a vector sample without a [time, value] pair.');
      }
      const labels: Record<string, string> = {};
      if (isRecord(item.metric)) for (const [k, v] of Object.entries(item.metric)) labels[k] = String(v);
      samples.push({ labels, value: parseSampleValue(item.value[1]) });
    }
    return { kind: 'vector', samples };
  }
  if (resultType === 'scalar') {
    if (!Array.isArray(result)) return error('ServerError', 'Prometheus answered a scalar without a [time, value] pair.');
    return { kind: 'scalar', value: parseSampleValue(result[1]) };
  }
  if (resultType === 'matrix') {
    return error('BadQuery', 'The query returns a range vector (matrix); wrap it in a function such as rate() or avg_over_time() to get an instant vector.');
  }
  return error('BadQuery', `The query returns a ${String(resultType)} result; analysis needs an instant vector or a scalar.`);
}

export class PrometheusClient implements MetricProvider {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly fetchFn: typeof fetch;
  private readonly maxBytes: number;
  private readonly policy: PrometheusUrlPolicy;
  private readonly guard?: RedirectGuard;
  private readonly maxRedirects: number;

  constructor(options: PrometheusClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new Error(`prometheusUrl "${options.url}" is not a valid URL.`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`prometheusUrl "${options.url}" must use http or https.`);
    }
    this.base = parsed.toString().replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.headers = options.headers ?? {};
    this.fetchFn = options.fetch ?? fetch;
    this.maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.policy = new PrometheusUrlPolicy([this.base, ...(options.allowedUrls ?? [])]);
    this.guard = options.guard;
    this.maxRedirects = options.maxRedirects ?? 3;
  }

  get url(): string {
    return this.base;
  }

  measure(query: string, time?: Date, signal?: AbortSignal): Promise<QueryResult> {
    return this.query(query, time, signal);
  }

  /** An instant query (POST /api/v1/query). Never throws; every failure is a `kind: 'error'` result. */
  async query(promql: string, time?: Date | number, signal?: AbortSignal): Promise<QueryResult> {
    const form = new URLSearchParams({ query: promql, timeout: `${Math.max(1, Math.floor(this.timeoutMs / 1000))}s` });
    if (time !== undefined) {
      const ms = typeof time === 'number' ? time : time.getTime();
      form.set('time', (ms / 1000).toFixed(3));
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      ({ res, text } = await this.post(`${this.base}/api/v1/query`, form.toString(), combined));
    } catch (err) {
      if (err instanceof QueryRefused) return error(err.errorType, err.message);
      if (timeout.aborted) return error('Timeout', `Prometheus at ${this.base} did not answer within ${this.timeoutMs} ms; the query was aborted.`);
      if (signal?.aborted) return error('Timeout', `The query to Prometheus at ${this.base} was cancelled by the caller (${describeReason(signal.reason)}).`);
      return error('Unreachable', `Prometheus at ${this.base} is unreachable: ${describeFetchError(err)}.`);
    }
    let body: ApiBody | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      body = isRecord(parsed) ? (parsed as ApiBody) : undefined;
    } catch {
      body = undefined;
    }
    if (!body) {
      const kind: QueryErrorType = res.status >= 500 || res.ok ? 'ServerError' : 'BadQuery';
      return error(kind, `Prometheus at ${this.base} answered HTTP ${res.status} without a JSON body: ${text.slice(0, 200)}`);
    }
    if (body.status === 'success') return parseQueryData(body.data);
    const detail = `${body.errorType ?? 'error'}: ${body.error ?? text.slice(0, 200)}`;
    // 400 bad_data = a parse error; 422 execution = a query that cannot run (e.g. many-to-many matching).
    if (res.status === 400 || res.status === 422 || body.errorType === 'bad_data' || body.errorType === 'execution') {
      return error('BadQuery', `Prometheus refused the query (HTTP ${res.status}) ${detail}`);
    }
    if (body.errorType === 'timeout' || body.errorType === 'canceled') {
      return error('Timeout', `Prometheus gave up on the query (HTTP ${res.status}) ${detail}`);
    }
    return error('ServerError', `Prometheus failed the query (HTTP ${res.status}) ${detail}`);
  }

  /**
   * POSTs the form and reads the answer, at most maxBytes of it. Redirects are followed by hand:
   * within the allowed Prometheus URLs as they are, anywhere else only past the guard, on the
   * address it vetted. Throws QueryRefused for a refusal, anything else for a transport failure.
   */
  private async post(start: string, body: string, signal: AbortSignal): Promise<{ res: Response; text: string }> {
    let url = new URL(start);
    let pinned: LookupAddress | undefined;
    for (let hop = 0; ; hop++) {
      const init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...this.headers },
        body,
        signal,
        redirect: 'manual' as const,
      };
      const res = pinned ? await pinnedFetch(url, pinned, init) : await this.fetchFn(url, init);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.body?.cancel().catch(() => undefined);
        if (hop >= this.maxRedirects) throw new QueryRefused('Refused', `Prometheus at ${this.base} redirected more than ${this.maxRedirects} times; give spec.analysis.prometheusUrl as the final location.`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new QueryRefused('Refused', `Prometheus at ${this.base} sent an invalid redirect location; fix the Prometheus URL.`);
        }
        pinned = undefined;
        if (!this.policy.covers(next)) {
          const where = `${next.protocol}//${next.host}`;
          if (!this.guard) throw new QueryRefused('Refused', `Prometheus at ${this.base} redirects to ${where}, which is not one of the operator's Prometheus URLs; refused (add it to --prometheus-urls if it is a Prometheus).`);
          try {
            pinned = await this.guard.vet(next, 'Prometheus redirect');
          } catch (err) {
            throw new QueryRefused('Refused', `Prometheus at ${this.base} redirects to ${where}: ${(err as Error).message}`);
          }
        }
        url = next;
        continue;
      }
      return { res, text: await readCapped(res, this.maxBytes, this.base) };
    }
  }

  /** True when Prometheus answers /-/ready with 200. */
  async ready(signal?: AbortSignal): Promise<boolean> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const res = await this.fetchFn(`${this.base}/-/ready`, {
        headers: this.headers,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      // Only the status matters: the body is not read, so an endless one costs nothing.
      await res.body?.cancel().catch(() => undefined);
      return res.ok;
    } catch {
      return false;
    }
  }
}

/** The body as text, cancelled once it passes `max` bytes (a declared length over it is refused unread). */
async function readCapped(res: Response, max: number, base: string): Promise<string> {
  const tooLarge = (): QueryRefused => new QueryRefused('TooLarge', `Prometheus at ${base} answered more than ${max} bytes; the answer was cut off. Narrow the query (aggregate with sum/avg by a few labels) or raise the operator's --prometheus-max-response-bytes.`);
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One request on a connection to exactly `address` (vetted by the guard), so DNS cannot swap it. */
async function pinnedFetch(url: URL, address: LookupAddress, init: RequestInit & { redirect: 'manual' }): Promise<Response> {
  const lookup = (_host: string, opts: { all?: boolean }, cb: (err: Error | null, a: string | LookupAddress[], family?: number) => void): void => {
    if (opts.all) cb(null, [address]);
    else cb(null, address.address, address.family);
  };
  const dispatcher = new Agent({ connect: { lookup: lookup as never }, pipelining: 0 });
  try {
    const res = await undiciFetch(url, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1]);
    return res as unknown as Response;
  } finally {
    void dispatcher.close().catch(() => undefined);
  }
}

function describeReason(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: string }).code;
      return code ? `${code} (${cause.message})` : cause.message;
    }
    return err.message;
  }
  return String(err);
}
