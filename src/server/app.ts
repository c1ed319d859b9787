// The reference inference server: the Open Inference Protocol (KServe v2) over node:http, one
// ONNX model, and prom-client metrics on its own Registry. It verifies the model's digest before
// it loads it and stays live but never ready when the digest or the model is wrong, so a bad
// rollout stalls at the readiness probe instead of serving. A remote model is fetched (by the
// caller's `fetchModel`) after the port opens: live meanwhile, ready only after the load.
// Seams: model.ts loads, v2.ts parses bodies (pure), metrics.ts holds the series, this file
// routes, authenticates the outcomes endpoint and bounds the inferences in progress.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { run, type Session, type Tensor, type TensorInfo } from '../onnx/session.js';
import { makeMetrics, type Metrics } from './metrics.js';
import { loadModel, type ModelFetch, type ServerLogger } from './model.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_INFERENCES, type RequestLimits } from './limits.js';
import { BadRequest, bearerMatches, parseInferRequest, parseJson, parseOutcomes, tensorToJson, v2Datatype, type Signature } from './v2.js';

export type { LogLevel, ModelFetch, ServerLogger } from './model.js';
export { bearerMatches, parseOutcomes, v2Datatype } from './v2.js';

export interface InferenceServerOptions {
  /** Local path of the ONNX file; exactly one of modelPath and fetchModel. */
  modelPath?: string;
  /** Fetch the model first (the server is live, not ready, meanwhile). */
  fetchModel?: ModelFetch;
  /** Aborts a fetch in progress (e.g. SIGTERM during start-up). */
  signal?: AbortSignal;
  modelName: string;
  modelVersion: string;
  /** `sha256:<64 hex>`; when set, the server never becomes ready unless the file matches. */
  expectedDigest?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  log?: ServerLogger;
  /** Largest request body (default 16 MiB, MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Deepest JSON nesting and largest input tensor (defaults in limits.ts). */
  limits?: Partial<RequestLimits>;
  /** Inferences in progress at most, body read to answer written; beyond it 429 (default 16). */
  maxConcurrentInferences?: number;
  /**
   * The bearer token the outcomes endpoint requires (OUTCOMES_TOKEN). Unset: the endpoint is
   * disabled (403), since anyone who can post outcomes can steer the live guard's metrics.
   */
  outcomesToken?: string;
  /** Also expose prom-client's process metrics (default false). */
  defaultMetrics?: boolean;
  /** onnxruntime threads (default 1). */
  intraOpNumThreads?: number;
}

export interface InferenceServer {
  url: string;
  port: number;
  registry: Registry;
  /** Whether the model is loaded and verified, and if not, why. */
  status(): { ready: boolean; reason?: string; digest?: string };
  close(): Promise<void>;
}


function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  // A declared length over the limit is refused before reading, so the 413 reaches the client.
  const declared = Number(req.headers['content-length']);
  const tooLarge = (): BadRequest => new BadRequest(`request body is larger than the limit of ${limit} bytes (MAX_BODY_BYTES).`, 413);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw tooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer|outcomes))?\/?$/;

/** The state of one served model and the handlers over it. */
class ModelServer {
  readonly registry = new Registry();
  readonly labels: { model: string; version: string };
  readonly metrics: Metrics;
  readonly limits: RequestLimits;
  readonly maxBody: number;
  readonly maxInFlight: number;
  session: Session | undefined;
  signature: Signature | undefined;
  notReadyReason: string | undefined;
  digest: string | undefined;
  private inFlight = 0;

  constructor(readonly options: InferenceServerOptions) {
    this.labels = { model: options.modelName, version: options.modelVersion };
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.metrics = makeMetrics(this.registry, this.labels);
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxInFlight = options.maxConcurrentInferences ?? DEFAULT_MAX_CONCURRENT_INFERENCES;
    this.notReadyReason = options.fetchModel ? `fetching the model from ${options.fetchModel.from}` : 'the model is loading';
  }

  private log: ServerLogger = (...args) => (this.options.log ?? (() => {}))(...args);

  notReady(): BadRequest {
    return new BadRequest(`model ${this.options.modelName} is not ready: ${this.notReadyReason ?? 'unknown'}.`, 503);
  }

  async load(): Promise<void> {
    const o = this.options;
    const loaded = await loadModel(
      { modelPath: o.modelPath, fetchModel: o.fetchModel, signal: o.signal, expectedDigest: o.expectedDigest, intraOpNumThreads: o.intraOpNumThreads },
      this.log,
    );
    this.digest = loaded.digest;
    if ('reason' in loaded) {
      this.notReadyReason = loaded.reason;
      return;
    }
    this.session = loaded.session;
    this.signature = loaded.signature;
    this.notReadyReason = undefined;
    this.metrics.ready.set(this.labels, 1);
    this.log('info', `Model ${o.modelName} version ${o.modelVersion} is ready.`, { digest: this.digest });
  }

  metadata(): Record<string, unknown> {
    if (!this.signature) throw this.notReady();
    const describe = (t: TensorInfo) => ({ name: t.name, datatype: v2Datatype(t.type), shape: t.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) });
    return {
      name: this.options.modelName,
      versions: [this.options.modelVersion],
      platform: 'onnxruntime',
      inputs: this.signature.inputs.map(describe),
      outputs: this.signature.outputs.map(describe),
      // The digest of the bytes loaded, so a rollout can be checked from outside the pod.
      parameters: { digest: this.digest },
    };
  }

  async infer(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const session = this.session;
    const signature = this.signature;
    if (!session || !signature) throw this.notReady();
    const { feeds, wanted } = parseInferRequest(body, signature, this.options.modelName, this.limits);
    let results: Record<string, Tensor>;
    try {
      results = await run(session, feeds);
    } catch (err) {
      this.metrics.errors.inc({ ...this.labels, type: 'inference_failed' });
      throw new BadRequest(`inference failed: ${(err as Error).message.split('\n')[0]}`, 500);
    }
    this.observeScores(signature, results);
    const response: Record<string, unknown> = {
      model_name: this.options.modelName,
      model_version: this.options.modelVersion,
      outputs: wanted.map((name) => {
        const t = results[name] as Tensor;
        return { name, datatype: v2Datatype(t.type), shape: [...t.dims], data: tensorToJson(t) };
      }),
    };
    if (typeof body.id === 'string') response.id = body.id;
    return response;
  }

  private observeScores(signature: Signature, results: Record<string, Tensor>): void {
    const first = signature.outputs[0]?.name;
    const firstTensor = first === undefined ? undefined : results[first];
    if (!firstTensor || typeof (firstTensor.data as ArrayLike<unknown>)[0] !== 'number') return;
    const values = firstTensor.data as ArrayLike<number>;
    const n = Math.min(values.length, 4096); // bounded cost per request
    for (let i = 0; i < n; i += 1) this.metrics.score.observe(this.labels, values[i] as number);
  }

  /** Records how an inference request ended in the series the live guard reads. */
  private countFailure(err: unknown): void {
    const { requests, errors } = this.metrics;
    if (!(err instanceof BadRequest)) {
      requests.inc({ ...this.labels, outcome: 'error' });
      errors.inc({ ...this.labels, type: 'inference_failed' });
    } else if (err.status === 503) {
      requests.inc({ ...this.labels, outcome: 'not_ready' });
      errors.inc({ ...this.labels, type: 'not_ready' });
    } else if (err.status >= 500) {
      requests.inc({ ...this.labels, outcome: 'error' });
    } else {
      requests.inc({ ...this.labels, outcome: 'invalid' });
      errors.inc({ ...this.labels, type: 'invalid_request' });
    }
  }

  async handleInfer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Counted from the first byte read, so slow uploads hold a slot as long as they hold memory.
    if (this.inFlight >= this.maxInFlight) {
      this.metrics.rejected.inc({ ...this.labels, reason: 'busy' });
      sendJson(res, 429, { error: `the server is busy: ${this.maxInFlight} inferences are in progress (MAX_CONCURRENT_INFERENCES); retry after 1 s.` }, { 'retry-after': '1' });
      return;
    }
    this.inFlight += 1;
    const stopTimer = this.metrics.latency.startTimer(this.labels);
    try {
      if (!this.session) throw this.notReady();
      const answer = await this.infer(parseJson(await readBody(req, this.maxBody), this.limits));
      sendJson(res, 200, answer);
      this.metrics.requests.inc({ ...this.labels, outcome: 'success' });
    } catch (err) {
      this.countFailure(err);
      throw err;
    } finally {
      this.inFlight -= 1;
      stopTimer();
    }
  }

  async handleOutcomes(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = this.options.outcomesToken;
    if (token === undefined || token === '') {
      sendJson(res, 403, { error: 'the outcomes endpoint is disabled: this server has no OUTCOMES_TOKEN; set it (from a Secret) to accept outcomes.' });
      return;
    }
    // Checked before the body is read: an unauthenticated body is never parsed or counted.
    if (!bearerMatches(req.headers.authorization, token)) {
      sendJson(res, 401, { error: 'outcomes need the header "Authorization: Bearer <OUTCOMES_TOKEN>"; it is missing or does not match.' }, { 'www-authenticate': 'Bearer realm="outcomes"' });
      return;
    }
    const delta = parseOutcomes(parseJson(await readBody(req, this.maxBody), this.limits));
    const { impressions, clicks, conversions, revenue, cost } = this.metrics;
    impressions.inc(this.labels, delta.impressions);
    clicks.inc(this.labels, delta.clicks);
    conversions.inc(this.labels, delta.conversions);
    revenue.inc(this.labels, delta.revenue);
    cost.inc(this.labels, delta.cost);
    sendJson(res, 200, { accepted: delta });
  }

  /** `/v2/models/{name}[/versions/{v}][/ready|/infer|/outcomes]`. */
  async handleModel(m: RegExpExecArray, path: string, req: IncomingMessage, res: ServerResponse, only: (allowed: string) => boolean): Promise<void> {
    const o = this.options;
    let name: string;
    let version: string | undefined;
    try {
      name = decodeURIComponent(m[1] as string);
      version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    } catch {
      return sendJson(res, 400, { error: `path ${path} is not valid percent-encoding.` });
    }
    if (name !== o.modelName) return sendJson(res, 404, { error: `model "${name}" is not served here (this server serves "${o.modelName}").` });
    if (version !== undefined && version !== o.modelVersion) {
      return sendJson(res, 404, { error: `version "${version}" of model ${name} is not served here (this server serves "${o.modelVersion}").` });
    }
    const action = m[3];
    if (action === undefined) {
      if (only('GET')) sendJson(res, 200, this.metadata());
    } else if (action === 'ready') {
      if (only('GET')) sendJson(res, this.session ? 200 : 503, { name, ready: this.session !== undefined });
    } else if (action === 'outcomes') {
      if (only('POST')) await this.handleOutcomes(req, res);
    } else if (only('POST')) {
      await this.handleInfer(req, res);
    }
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    const only = (allowed: string): boolean => {
      if (method === allowed) return true;
      sendJson(res, 405, { error: `${path} accepts ${allowed} only.` }, { allow: allowed });
      return false;
    };
    if (path === '/v2/health/live') {
      if (only('GET')) sendJson(res, 200, { live: true });
    } else if (path === '/v2/health/ready') {
      if (only('GET')) sendJson(res, this.session ? 200 : 503, this.session ? { ready: true } : { ready: false, reason: this.notReadyReason });
    } else if (path === '/metrics') {
      if (!only('GET')) return;
      const text = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(text);
    } else if (path === '/v2' || path === '/v2/') {
      if (only('GET')) sendJson(res, 200, { name: 'modelgate-inference-server', version: '0.1.0', extensions: ['outcomes'] });
    } else {
      const m = ROUTE.exec(path);
      if (m) await this.handleModel(m, path, req, res, only);
      else sendJson(res, 404, { error: `no route for ${path}.` });
    }
  }

  /** The request listener: a handler's throw becomes its status and one-sentence error. */
  listener(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof BadRequest) {
        sendJson(res, err.status, { error: err.message }, err.status === 413 ? { connection: 'close' } : {});
        return;
      }
      this.log('error', `Request ${req.method} ${req.url} failed: ${(err as Error).message}`);
      sendJson(res, 500, { error: 'internal error.' });
    });
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.notReadyReason = 'the server is shutting down';
    await s?.release();
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startInferenceServer(options: InferenceServerOptions): Promise<InferenceServer> {
  if ((options.modelPath === undefined) === (options.fetchModel === undefined)) throw new Error('give exactly one of modelPath and fetchModel');
  const log: ServerLogger = options.log ?? (() => {});
  const state = new ModelServer(options);
  const server: Server = createServer((req, res) => state.listener(req, res));
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  log('info', `Inference server listening on ${host}:${port}.`, { model: options.modelName, version: options.modelVersion });
  if (options.outcomesToken === undefined || options.outcomesToken === '') {
    log('warn', 'OUTCOMES_TOKEN is not set: the outcomes endpoint answers 403 and counts nothing; set it from a Secret to accept clicks and conversions.');
  }
  await state.load();
  return {
    url: `http://${urlHost}:${port}`,
    port,
    registry: state.registry,
    status: () => ({ ready: state.session !== undefined, ...(state.notReadyReason ? { reason: state.notReadyReason } : {}), ...(state.digest ? { digest: state.digest } : {}) }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await state.release();
    },
  };
}
