// The only module (with informer.ts) that talks to Kubernetes. One request function decides
// every path, content type and precondition, behind a client-side rate limit (QPS and burst).
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { TokenBucket } from './rate-limit.js';

export type PatchKind = 'merge' | 'strategic' | 'apply' | 'json';
const CONTENT_TYPE: Record<PatchKind, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
  json: 'application/json-patch+json',
};

/** A failed API call: `status` is the HTTP code (0 when the apiserver could not be reached). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  get notFound(): boolean {
    return this.status === 404;
  }
  get conflict(): boolean {
    return this.status === 409;
  }
  /** Worth retrying later: unreachable, throttled, server errors, timeouts. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500 || this.status === 408;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.notFound;
}
export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.conflict;
}

export interface RequestOptions {
  body?: unknown;
  patch?: PatchKind;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** A limiter of the caller's own instead of the client's (Events have their own budget). */
  limiter?: TokenBucket;
  /** Answer the body as text, not JSON (pods/log). */
  text?: boolean;
}

export interface ClientOptions {
  qps?: number;
  burst?: number;
  fieldManager?: string;
  userAgent?: string;
  /** Called with (method, path, status, ms) after every request, for metrics. */
  observe?: (method: string, status: number, ms: number) => void;
}

export class KubeClient {
  private readonly limiter: TokenBucket;
  /**
   * client-node builds a new undici Agent on every applySecurityAuthentication call, so each
   * request would open (and keep alive) its own TLS connection: slow, and memory grew with the
   * request rate. The first Agent is kept and reused; auth headers are still applied per request
   * so refreshed tokens are picked up.
   */
  private dispatcher?: ReturnType<RequestContext['getDispatcher']>;
  readonly fieldManager: string;

  constructor(
    readonly kc: KubeConfig,
    private readonly opts: ClientOptions = {},
  ) {
    this.limiter = new TokenBucket(opts.qps ?? 20, opts.burst ?? 40);
    this.fieldManager = opts.fieldManager ?? 'modelgate-operator';
  }

  get server(): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster: set current-context');
    return cluster.server;
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts: RequestOptions = {}): Promise<T> {
    await (opts.limiter ?? this.limiter).take(opts.signal);
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    if (method === 'PATCH' || method === 'POST' || method === 'PUT') {
      if (!url.searchParams.has('fieldManager')) url.searchParams.set('fieldManager', this.fieldManager);
    }
    const ctx = new RequestContext(url.toString(), HttpMethod[method]);
    await this.kc.applySecurityAuthentication(ctx);
    const headers = ctx.getHeaders() as Record<string, string>;
    headers['Accept'] = 'application/json';
    if (this.opts.userAgent) headers['User-Agent'] = this.opts.userAgent;
    if (opts.body !== undefined) headers['Content-Type'] = opts.patch ? CONTENT_TYPE[opts.patch] : 'application/json';
    // The deadline's timer is cleared when the answer is read: AbortSignal.timeout() kept each
    // signal and its timer alive for the whole timeout, a thousand of them after a busy second.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), opts.timeoutMs ?? 30_000);
    timer.unref();
    const signal = opts.signal ? AbortSignal.any([deadline.signal, opts.signal]) : deadline.signal;
    const started = performance.now();
    let res: Awaited<ReturnType<typeof fetch>>;
    let text: string;
    try {
      try {
        res = await fetch(url, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          dispatcher: (this.dispatcher ??= ctx.getDispatcher()),
          signal,
        });
      } catch (err) {
        this.opts.observe?.(method, 0, performance.now() - started);
        const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
        throw new ApiError(0, 'Unreachable', `${method} ${path}: the apiserver could not be reached (${cause})`);
      }
      text = await res.text();
    } finally {
      clearTimeout(timer);
    }
    this.opts.observe?.(method, res.status, performance.now() - started);
    if (!res.ok) {
      let reason = res.statusText;
      let message = text;
      try {
        const s = JSON.parse(text) as { reason?: string; message?: string };
        reason = s.reason ?? reason;
        message = s.message ?? message;
      } catch {
        // not a Status object
      }
      throw new ApiError(res.status, reason, `${method} ${path}: ${res.status} ${message}`);
    }
    if (opts.text) return text as T;
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { signal });
  }

  /** GET that answers undefined for 404. */
  async find<T>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  patch<T>(path: string, body: unknown, kind: PatchKind, force = false): Promise<T> {
    return this.request<T>('PATCH', path, { body, patch: kind, query: kind === 'apply' ? { force } : undefined });
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

/** Paths, in one place. */
export const paths = {
  checkpoints: (ns?: string): string => (ns ? `/apis/modelgate.io/v1alpha1/namespaces/${ns}/modelcheckpoints` : '/apis/modelgate.io/v1alpha1/modelcheckpoints'),
  checkpoint: (ns: string, name: string): string => `/apis/modelgate.io/v1alpha1/namespaces/${ns}/modelcheckpoints/${name}`,
  checkpointStatus: (ns: string, name: string): string => `/apis/modelgate.io/v1alpha1/namespaces/${ns}/modelcheckpoints/${name}/status`,
  analysisTemplates: (ns?: string): string => (ns ? `/apis/modelgate.io/v1alpha1/namespaces/${ns}/modelanalysistemplates` : '/apis/modelgate.io/v1alpha1/modelanalysistemplates'),
  analysisTemplate: (ns: string, name: string): string => `/apis/modelgate.io/v1alpha1/namespaces/${ns}/modelanalysistemplates/${name}`,
  clusterAnalysisTemplates: (): string => '/apis/modelgate.io/v1alpha1/clustermodelanalysistemplates',
  clusterAnalysisTemplate: (name: string): string => `/apis/modelgate.io/v1alpha1/clustermodelanalysistemplates/${name}`,
  deployments: (ns?: string): string => (ns ? `/apis/apps/v1/namespaces/${ns}/deployments` : '/apis/apps/v1/deployments'),
  deployment: (ns: string, name: string): string => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
  replicaSets: (ns: string): string => `/apis/apps/v1/namespaces/${ns}/replicasets`,
  pods: (ns: string): string => `/api/v1/namespaces/${ns}/pods`,
  podLog: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/pods/${name}/log`,
  jobs: (ns: string): string => `/apis/batch/v1/namespaces/${ns}/jobs`,
  job: (ns: string, name: string): string => `/apis/batch/v1/namespaces/${ns}/jobs/${name}`,
  configMaps: (ns: string): string => `/api/v1/namespaces/${ns}/configmaps`,
  configMap: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/configmaps/${name}`,
  secret: (ns: string, name: string): string => `/api/v1/namespaces/${ns}/secrets/${name}`,
  events: (ns: string): string => `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
  leases: (ns: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
  lease: (ns: string, name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
};

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
