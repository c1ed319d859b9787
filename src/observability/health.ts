// The operator's small HTTP server: /metrics for Prometheus, /healthz for the kubelet's liveness
// probe (the process and its event loop answer), /readyz for readiness (every named check the
// caller registered passes: informers synced, ...). Readiness says "can serve", not "is leader":
// a standby replica is ready, or a rollout of two replicas would never finish.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';

/** What a readiness check answers: true/false, or a result with a reason. It may be async. */
export interface CheckResult {
  ok: boolean;
  message?: string;
}
export type ReadinessCheck = () => boolean | CheckResult | Promise<boolean | CheckResult>;

/** A prom-client Registry fits. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface HealthServerOptions {
  /** Address to bind (default 0.0.0.0: the kubelet probes the pod IP). */
  host?: string;
  /** Port for /healthz, /readyz and /metrics (default 8081; 0 picks a free one). */
  port?: number;
  /** A second port serving only /metrics (e.g. 8080), so the Service exposes no probes. */
  metricsPort?: number;
  /** Served at /metrics; without it /metrics answers 404. */
  registry?: MetricsSource;
  /** Initial readiness checks by name. */
  checks?: Record<string, ReadinessCheck>;
  /** A check that has not answered by then counts as failing (default 2000 ms). */
  checkTimeoutMs?: number;
  /** /healthz fails when the event loop was blocked longer than this (default 5000 ms). */
  maxEventLoopDelayMs?: number;
  logger?: Logger;
}

export interface HealthServer {
  /** Base URL of the health listener, e.g. http://127.0.0.1:8081. */
  url: string;
  /** Base URL of the metrics listener (the health listener's URL when metricsPort is unset). */
  metricsUrl: string;
  /** Adds or replaces a readiness check. */
  setCheck(name: string, fn: ReadinessCheck): void;
  removeCheck(name: string): void;
  close(): Promise<void>;
}

export interface ReadinessReport {
  ready: boolean;
  /** Names of the failing checks, sorted. */
  failing: string[];
  /** 'ok' or why the check failed, by name. */
  checks: Record<string, string>;
}

const HEARTBEAT_MS = 500;
const STALL_MEMORY_MS = 30_000;

/** The event loop's heartbeat, and how late the loop is now (or recently was). */
interface LoopWatch {
  delayMs(): number;
  stop(): void;
}

/**
 * A tick that comes late means something blocked the loop that long. A stall beyond the limit
 * keeps being reported for STALL_MEMORY_MS, so a probe that arrives after the loop recovered
 * still sees it.
 */
function watchEventLoop(maxDelayMs: number): LoopWatch {
  let lastBeat = Date.now();
  let lastStall = { ms: 0, at: 0 };
  const heartbeat = setInterval(() => {
    const now = Date.now();
    const delay = now - lastBeat - HEARTBEAT_MS;
    if (delay > maxDelayMs) lastStall = { ms: delay, at: now };
    lastBeat = now;
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    delayMs: () => {
      const now = Date.now();
      const sinceBeat = Math.max(0, now - lastBeat - HEARTBEAT_MS);
      const recentStall = now - lastStall.at <= STALL_MEMORY_MS ? lastStall.ms : 0;
      return Math.round(Math.max(sinceBeat, recentStall));
    },
    stop: () => clearInterval(heartbeat),
  };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** What the request handlers read: the options, the checks and the loop watch. */
interface Probes {
  opts: HealthServerOptions;
  checks: Map<string, ReadinessCheck>;
  checkTimeoutMs: number;
  maxDelayMs: number;
  loop: LoopWatch;
}

/** /healthz and /livez: the loop answered in time. */
function sendLiveness(res: http.ServerResponse, p: Probes): void {
  const delayMs = p.loop.delayMs();
  const ok = delayMs <= p.maxDelayMs;
  const body = { status: ok ? 'ok' : 'event loop blocked', eventLoopDelayMs: delayMs, uptimeSeconds: Math.round(process.uptime()) };
  send(res, ok ? 200 : 503, 'application/json', JSON.stringify(body) + '\n');
}

/** /readyz: every check passes. */
async function sendReadiness(res: http.ServerResponse, p: Probes): Promise<void> {
  const report = await runChecks(p.checks, p.checkTimeoutMs);
  if (!report.ready) p.opts.logger?.debug('not ready', { failing: report.failing });
  const body = { status: report.ready ? 'ready' : 'not ready', failing: report.failing, checks: report.checks };
  send(res, report.ready ? 200 : 503, 'application/json', JSON.stringify(body) + '\n');
}

/** The handler of one listener; `metricsOnly` serves /metrics and nothing else. */
function handler(p: Probes, metricsOnly: boolean): Handler {
  const { opts } = p;
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
    }
    try {
      if (path === '/metrics') {
        if (!opts.registry) return send(res, 404, 'text/plain; charset=utf-8', 'no metrics registry\n');
        return send(res, 200, opts.registry.contentType, await opts.registry.metrics());
      }
      if (metricsOnly) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      if (path === '/healthz' || path === '/livez') return sendLiveness(res, p);
      if (path === '/readyz') return await sendReadiness(res, p);
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    } catch (err) {
      opts.logger?.error('health server request failed', { path, err });
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  };
}

export async function startHealthServer(opts: HealthServerOptions = {}): Promise<HealthServer> {
  const host = opts.host ?? '0.0.0.0';
  const maxDelayMs = opts.maxEventLoopDelayMs ?? 5000;
  const checks = new Map<string, ReadinessCheck>(Object.entries(opts.checks ?? {}));
  const loop = watchEventLoop(maxDelayMs);
  const probes: Probes = { opts, checks, checkTimeoutMs: opts.checkTimeoutMs ?? 2000, maxDelayMs, loop };

  const servers: http.Server[] = [];
  try {
    const main = await listen(handler(probes, false), host, opts.port ?? 8081);
    servers.push(main);
    const metrics = opts.metricsPort === undefined ? main : await listen(handler(probes, true), host, opts.metricsPort);
    if (metrics !== main) servers.push(metrics);
    return {
      url: baseUrl(host, main),
      metricsUrl: baseUrl(host, metrics),
      setCheck(name, fn) {
        checks.set(name, fn);
      },
      removeCheck(name) {
        checks.delete(name);
      },
      async close() {
        loop.stop();
        await Promise.all(servers.map(closeServer));
      },
    };
  } catch (err) {
    loop.stop();
    await Promise.all(servers.map(closeServer));
    throw err;
  }
}

/** Runs every check at once; a throw, a false, or no answer within the timeout is a failure. */
export async function runChecks(checks: ReadonlyMap<string, ReadinessCheck>, timeoutMs: number): Promise<ReadinessReport> {
  const entries = [...checks.entries()].sort(([a], [b]) => a.localeCompare(b));
  const results = await Promise.all(entries.map(async ([name, fn]) => [name, await runOne(fn, timeoutMs)] as const));
  const report: ReadinessReport = { ready: true, failing: [], checks: {} };
  for (const [name, result] of results) {
    report.checks[name] = result.ok ? 'ok' : (result.message ?? 'failed');
    if (!result.ok) {
      report.ready = false;
      report.failing.push(name);
    }
  }
  return report;
}

async function runOne(fn: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, message: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const answer = Promise.resolve().then(fn).then((r): CheckResult => (typeof r === 'boolean' ? { ok: r } : r));
    return await Promise.race([answer, timeout]);
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function listen(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
  host: string,
  port: number,
): Promise<http.Server> {
  const server = http.createServer((req, res) => void handle(req, res));
  // Probes and scrapes are small and quick; do not let a slow client hold a socket.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function baseUrl(host: string, server: http.Server): string {
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}
