// Counts the requests a KubeClient makes, by kind (method and what it touches), by wrapping
// KubeClient.prototype.request in this process. Benchmark instrumentation only.
import { KubeClient, type RequestOptions } from '../src/kube/client.js';

export type Counts = Record<string, number>;
let sink: Counts | undefined;
let trace: Array<{ at: number; kind: string; ms: number }> | undefined;
let installed = false;

/** Records every request (start time, kind, duration) into `into` until called with undefined. */
export function traceRequests(into: Array<{ at: number; kind: string; ms: number }> | undefined): void {
  trace = into;
  countRequests(sink);
}

export function classify(method: string, path: string, opts: RequestOptions = {}): string {
  const p = path.split('?')[0]!;
  const seg = p.split('/').filter(Boolean);
  if (p.includes('/modelcheckpoints')) {
    if (p.endsWith('/status')) return `${method} checkpoint status`;
    if (p.endsWith('/modelcheckpoints')) return `${method === 'GET' ? 'LIST' : method} checkpoints`;
    return `${method} checkpoint${method === 'PATCH' ? ` (${opts.patch ?? '?'})` : ''}`;
  }
  if (p.includes('/deployments')) {
    if (p.endsWith('/deployments')) return `${method === 'GET' ? 'LIST' : method} deployments`;
    return `${method} deployment${method === 'PATCH' ? (opts.patch === 'apply' ? ' (apply model)' : ' (claim)') : ''}`;
  }
  if (p.includes('/configmaps')) {
    const name = seg[seg.length - 1] ?? '';
    return `${method} configmap ${name.startsWith('modelgate-audit-') ? '(audit)' : '(report)'}`;
  }
  if (p.includes('/events')) return `${method} event`;
  if (p.includes('/leases')) return `${method} lease`;
  return `${method} other`;
}

/** Starts counting every KubeClient request of this process into `into` (undefined stops). */
export function countRequests(into: Counts | undefined): void {
  sink = into;
  if (installed) return;
  installed = true;
  const original = KubeClient.prototype.request;
  KubeClient.prototype.request = function <T>(this: KubeClient, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts?: RequestOptions): Promise<T> {
    const k = classify(method, path, opts);
    if (sink) sink[k] = (sink[k] ?? 0) + 1;
    const p = original.call(this, method, path, opts) as Promise<T>;
    if (trace) {
      const into = trace;
      const at = performance.now();
      void p.then(() => into.push({ at, kind: k, ms: performance.now() - at }), () => into.push({ at, kind: `${k} (failed)`, ms: performance.now() - at }));
    }
    return p;
  };
}

export const isWrite = (kind: string): boolean => !kind.startsWith('GET') && !kind.startsWith('LIST');
