// The only module that talks to Prometheus. A query's outcome is data (QueryResult), never an
// exception: the analysis judge turns an error into an Error measurement, so an outage counts
// against the error limit instead of crashing a reconcile or passing as healthy.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export type QueryErrorType = 'Unreachable' | 'BadQuery' | 'Timeout' | 'ServerError';

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
}

const DEFAULT_TIMEOUT_MS = 10_000;

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
      res = await this.fetchFn(`${this.base}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...this.headers },
        body: form.toString(),
        signal: combined,
      });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted) return error('Timeout', `Prometheus at ${this.base} did not answer within ${this.timeoutMs} ms.`);
      if (signal?.aborted) return error('Timeout', `The query to Prometheus at ${this.base} was cancelled by the caller.`);
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

  /** True when Prometheus answers /-/ready with 200. */
  async ready(signal?: AbortSignal): Promise<boolean> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const res = await this.fetchFn(`${this.base}/-/ready`, {
        headers: this.headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }
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
