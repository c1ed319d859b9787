// The reference inference server: the Open Inference Protocol (KServe v2) over node:http, one
// ONNX model, and prom-client metrics on its own Registry. It verifies the model's digest before
// it loads it and stays live but never ready when the digest or the model is wrong, so a bad
// rollout stalls at the readiness probe instead of serving.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { openSession, run, signatureOf, tensor, type Session, type Tensor, type TensorInfo, type TensorType } from '../onnx/session.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ServerLogger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export interface InferenceServerOptions {
  /** Local path of the ONNX file. */
  modelPath: string;
  modelName: string;
  modelVersion: string;
  /** `sha256:<64 hex>`; when set, the server never becomes ready unless the file matches. */
  expectedDigest?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  log?: ServerLogger;
  /** Largest request body (default 16 MiB). */
  maxBodyBytes?: number;
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

/** ONNX Runtime element types and their Open Inference Protocol names. */
const V2_DATATYPES: Record<string, string> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

export function v2Datatype(ortType: string): string {
  return V2_DATATYPES[ortType] ?? ortType.toUpperCase();
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

interface Metrics {
  requests: Counter<'model' | 'version' | 'outcome'>;
  errors: Counter<'model' | 'version' | 'type'>;
  latency: Histogram<'model' | 'version'>;
  score: Histogram<'model' | 'version'>;
  impressions: Counter<'model' | 'version'>;
  clicks: Counter<'model' | 'version'>;
  conversions: Counter<'model' | 'version'>;
  revenue: Counter<'model' | 'version'>;
  cost: Counter<'model' | 'version'>;
  ready: Gauge<'model' | 'version'>;
}

function makeMetrics(registry: Registry, labels: { model: string; version: string }): Metrics {
  const labelNames = ['model', 'version'] as const;
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [registry] });
  const m: Metrics = {
    requests: new Counter({
      name: 'modelgate_inference_requests_total',
      help: 'Inference requests by outcome (success, invalid, error, not_ready).',
      labelNames: ['model', 'version', 'outcome'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'modelgate_inference_errors_total',
      help: 'Inference requests that failed, by type (invalid_request, not_ready, inference_failed).',
      labelNames: ['model', 'version', 'type'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'modelgate_inference_request_duration_seconds',
      help: 'Time to answer an inference request, from the first byte read to the last byte written.',
      labelNames,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    score: new Histogram({
      name: 'modelgate_prediction_score',
      help: "Values of the model's first output (e.g. class probabilities).",
      labelNames,
      buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
      registers: [registry],
    }),
    impressions: counter('modelgate_outcome_impressions_total', 'Impressions reported for this model version.'),
    clicks: counter('modelgate_outcome_clicks_total', 'Clicks reported for this model version.'),
    conversions: counter('modelgate_outcome_conversions_total', 'Conversions reported for this model version.'),
    revenue: counter('modelgate_outcome_revenue_total', 'Revenue reported for this model version (currency units).'),
    cost: counter('modelgate_outcome_cost_total', 'Cost (spend) reported for this model version (currency units).'),
    ready: new Gauge({ name: 'modelgate_model_ready', help: '1 when the model is loaded and its digest verified.', labelNames, registers: [registry] }),
  };
  // Zero-valued series from the start, so rate() and ratios see the series before the first event.
  for (const c of [m.impressions, m.clicks, m.conversions, m.revenue, m.cost]) c.inc(labels, 0);
  for (const outcome of ['success', 'invalid', 'error', 'not_ready']) m.requests.inc({ ...labels, outcome }, 0);
  m.ready.set(labels, 0);
  return m;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  // A declared length over the limit is refused before reading, so the 413 reaches the client.
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BadRequest(`request body is larger than the limit of ${limit} bytes.`, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new BadRequest(`request body is larger than the limit of ${limit} bytes.`, 413);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`request body is not valid JSON (${(err as Error).message}).`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadRequest('request body must be a JSON object.');
  return parsed as Record<string, unknown>;
}

function flatten(value: unknown, out: unknown[]): void {
  if (Array.isArray(value)) {
    for (const v of value) flatten(v, out);
  } else {
    out.push(value);
  }
}

function tensorFromRequest(field: string, info: TensorInfo, shape: number[], data: unknown[]): Tensor {
  const type = info.type as TensorType;
  const numbers = (check: (n: number) => boolean, what: string): number[] =>
    data.map((v, i) => {
      if (typeof v !== 'number' || !check(v)) throw new BadRequest(`${field}.data[${i}] must be ${what}.`);
      return v;
    });
  switch (type) {
    case 'float32':
      return tensor(type, Float32Array.from(numbers(() => true, 'a number')), shape);
    case 'float64':
      return tensor(type, Float64Array.from(numbers(() => true, 'a number')), shape);
    case 'int8':
      return tensor(type, Int8Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'uint8':
      return tensor(type, Uint8Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'int16':
      return tensor(type, Int16Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'uint16':
      return tensor(type, Uint16Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'int32':
      return tensor(type, Int32Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'uint32':
      return tensor(type, Uint32Array.from(numbers(Number.isInteger, 'an integer')), shape);
    case 'int64':
      return tensor(type, BigInt64Array.from(numbers(Number.isSafeInteger, 'a safe integer'), (n) => BigInt(n)), shape);
    case 'uint64':
      return tensor(type, BigUint64Array.from(numbers((n) => Number.isSafeInteger(n) && n >= 0, 'a non-negative safe integer'), (n) => BigInt(n)), shape);
    case 'bool':
      return tensor(
        type,
        Uint8Array.from(
          data.map((v, i) => {
            if (typeof v !== 'boolean') throw new BadRequest(`${field}.data[${i}] must be true or false.`);
            return v ? 1 : 0;
          }),
        ),
        shape,
      );
    case 'string':
      return tensor(
        type,
        data.map((v, i) => {
          if (typeof v !== 'string') throw new BadRequest(`${field}.data[${i}] must be a string.`);
          return v;
        }),
        shape,
      );
    default:
      throw new BadRequest(`${field}.datatype ${v2Datatype(info.type)} is not supported by this server.`);
  }
}

function tensorToJson(t: Tensor): unknown[] {
  const data = t.data as ArrayLike<unknown>;
  const out: unknown[] = new Array(data.length);
  for (let i = 0; i < data.length; i += 1) {
    const v = data[i];
    out[i] = typeof v === 'bigint' ? Number(v) : t.type === 'bool' ? Boolean(v) : v;
  }
  return out;
}

interface OutcomeDelta {
  impressions: number;
  clicks: number;
  conversions: number;
  revenue: number;
  cost: number;
}

/** Validates an outcomes body (events and/or batched counts) into one delta, before any counter moves. */
export function parseOutcomes(body: Record<string, unknown>): OutcomeDelta {
  const delta: OutcomeDelta = { impressions: 0, clicks: 0, conversions: 0, revenue: 0, cost: 0 };
  const amount = (v: unknown, field: string, integer: boolean): number => {
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
      throw new BadRequest(`${field} must be a non-negative ${integer ? 'integer' : 'number'}.`);
    }
    return v;
  };
  let any = false;
  if (body.events !== undefined) {
    if (!Array.isArray(body.events)) throw new BadRequest('events must be an array.');
    if (body.events.length > 100_000) throw new BadRequest('events holds more than 100000 entries; send batched counts instead.');
    body.events.forEach((e: unknown, i) => {
      const field = `events[${i}]`;
      if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new BadRequest(`${field} must be an object.`);
      const ev = e as Record<string, unknown>;
      switch (ev.type) {
        case 'impression':
          delta.impressions += 1;
          break;
        case 'click':
          delta.clicks += 1;
          break;
        case 'conversion':
          delta.conversions += 1;
          break;
        default:
          throw new BadRequest(`${field}.type must be "impression", "click" or "conversion".`);
      }
      delta.revenue += amount(ev.revenue, `${field}.revenue`, false);
      delta.cost += amount(ev.cost, `${field}.cost`, false);
    });
    any = true;
  }
  for (const key of ['impressions', 'clicks', 'conversions', 'revenue', 'cost'] as const) {
    if (body[key] === undefined) continue;
    delta[key] += amount(body[key], key, key !== 'revenue' && key !== 'cost');
    any = true;
  }
  if (!any) throw new BadRequest('body must hold events or at least one of impressions, clicks, conversions, revenue, cost.');
  return delta;
}

const ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer|outcomes))?\/?$/;

export async function startInferenceServer(options: InferenceServerOptions): Promise<InferenceServer> {
  const log: ServerLogger = options.log ?? (() => {});
  const labels = { model: options.modelName, version: options.modelVersion };
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const metrics = makeMetrics(registry, labels);
  const maxBody = options.maxBodyBytes ?? 16 * 1024 * 1024;

  let session: Session | undefined;
  let signature: { inputs: TensorInfo[]; outputs: TensorInfo[] } | undefined;
  let notReadyReason: string | undefined = 'the model is loading';
  let digest: string | undefined;

  const notReady = (): BadRequest => new BadRequest(`model ${options.modelName} is not ready: ${notReadyReason ?? 'unknown'}.`, 503);

  async function load(): Promise<void> {
    if (options.expectedDigest !== undefined && !DIGEST_RE.test(options.expectedDigest)) {
      notReadyReason = `MODEL_DIGEST "${options.expectedDigest}" is not sha256: followed by 64 lowercase hex digits`;
      log('error', `Refusing to become ready: ${notReadyReason}.`, { reason: 'InvalidDigest' });
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(options.modelPath);
    } catch (err) {
      notReadyReason = `cannot read the model file ${options.modelPath} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      log('error', `Refusing to become ready: ${notReadyReason}.`, { reason: 'ModelUnreadable' });
      return;
    }
    digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (options.expectedDigest !== undefined && digest !== options.expectedDigest) {
      notReadyReason = `digest mismatch: ${options.modelPath} is ${digest}, MODEL_DIGEST expects ${options.expectedDigest}`;
      log('error', `Refusing to become ready: ${notReadyReason}.`, { reason: 'DigestMismatch', expected: options.expectedDigest, actual: digest });
      return;
    }
    if (options.expectedDigest === undefined) log('warn', 'MODEL_DIGEST is not set: serving the model without verifying its digest.', { digest });
    try {
      session = await openSession(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { intraOpNumThreads: options.intraOpNumThreads ?? 1 });
      signature = signatureOf(session);
    } catch (err) {
      notReadyReason = `onnxruntime cannot load the model (${(err as Error).message.split('\n')[0]})`;
      log('error', `Refusing to become ready: ${notReadyReason}.`, { reason: 'InvalidModel' });
      return;
    }
    notReadyReason = undefined;
    metrics.ready.set(labels, 1);
    log('info', `Model ${options.modelName} version ${options.modelVersion} is ready.`, { digest });
  }

  function metadata(): Record<string, unknown> {
    if (!signature) throw notReady();
    const describe = (t: TensorInfo) => ({
      name: t.name,
      datatype: v2Datatype(t.type),
      shape: t.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    });
    return {
      name: options.modelName,
      versions: [options.modelVersion],
      platform: 'onnxruntime',
      inputs: signature.inputs.map(describe),
      outputs: signature.outputs.map(describe),
    };
  }

  async function infer(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!session || !signature) throw notReady();
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0) throw new BadRequest('inputs must be a non-empty array.');
    const feeds: Record<string, Tensor> = {};
    inputs.forEach((raw: unknown, i) => {
      const field = `inputs[${i}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BadRequest(`${field} must be an object.`);
      const input = raw as Record<string, unknown>;
      if (typeof input.name !== 'string') throw new BadRequest(`${field}.name must be a string.`);
      const info = signature?.inputs.find((t) => t.name === input.name);
      if (!info) {
        throw new BadRequest(`${field}.name "${input.name}" is not an input of model ${options.modelName} (inputs: ${signature?.inputs.map((t) => t.name).join(', ')}).`);
      }
      if (feeds[info.name]) throw new BadRequest(`${field}.name "${input.name}" appears more than once.`);
      const expectedType = v2Datatype(info.type);
      if (input.datatype !== expectedType) {
        throw new BadRequest(`${field}.datatype must be ${expectedType} for input "${info.name}", not ${JSON.stringify(input.datatype)}.`);
      }
      const shape = input.shape;
      if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
        throw new BadRequest(`${field}.shape must be an array of non-negative integers.`);
      }
      if (shape.length !== info.shape.length) {
        throw new BadRequest(`${field}.shape has ${shape.length} dimensions; input "${info.name}" has ${info.shape.length} (${JSON.stringify(info.shape)}).`);
      }
      info.shape.forEach((d, k) => {
        if (typeof d === 'number' && d >= 0 && shape[k] !== d) {
          throw new BadRequest(`${field}.shape[${k}] is ${String(shape[k])}; input "${info.name}" needs ${d}.`);
        }
      });
      if (input.data === undefined) throw new BadRequest(`${field}.data is missing.`);
      const data: unknown[] = [];
      flatten(input.data, data);
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      if (data.length !== count) throw new BadRequest(`${field}.data holds ${data.length} values; shape ${JSON.stringify(shape)} needs ${count}.`);
      feeds[info.name] = tensorFromRequest(field, info, shape as number[], data);
    });
    const missing = signature.inputs.filter((t) => !feeds[t.name]).map((t) => t.name);
    if (missing.length > 0) throw new BadRequest(`inputs is missing ${missing.map((n) => `"${n}"`).join(', ')}.`);

    let wanted = signature.outputs.map((t) => t.name);
    if (body.outputs !== undefined) {
      if (!Array.isArray(body.outputs)) throw new BadRequest('outputs must be an array.');
      wanted = body.outputs.map((o: unknown, i) => {
        const name = typeof o === 'object' && o !== null ? (o as Record<string, unknown>).name : undefined;
        if (typeof name !== 'string' || !signature?.outputs.some((t) => t.name === name)) {
          throw new BadRequest(`outputs[${i}].name must be one of ${signature?.outputs.map((t) => t.name).join(', ')}.`);
        }
        return name;
      });
    }

    let results: Record<string, Tensor>;
    try {
      results = await run(session, feeds);
    } catch (err) {
      metrics.errors.inc({ ...labels, type: 'inference_failed' });
      throw new BadRequest(`inference failed: ${(err as Error).message.split('\n')[0]}`, 500);
    }
    const first = signature.outputs[0]?.name;
    const firstTensor = first === undefined ? undefined : results[first];
    if (firstTensor && typeof (firstTensor.data as ArrayLike<unknown>)[0] === 'number') {
      const values = firstTensor.data as ArrayLike<number>;
      const n = Math.min(values.length, 4096); // bounded cost per request
      for (let i = 0; i < n; i += 1) metrics.score.observe(labels, values[i] as number);
    }
    const response: Record<string, unknown> = {
      model_name: options.modelName,
      model_version: options.modelVersion,
      outputs: wanted.map((name) => {
        const t = results[name] as Tensor;
        return { name, datatype: v2Datatype(t.type), shape: [...t.dims], data: tensorToJson(t) };
      }),
    };
    if (typeof body.id === 'string') response.id = body.id;
    return response;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const only = (allowed: string): boolean => {
      if (method === allowed) return true;
      sendJson(res, 405, { error: `${path} accepts ${allowed} only.` }, { allow: allowed });
      return false;
    };

    if (path === '/v2/health/live') {
      if (only('GET')) sendJson(res, 200, { live: true });
      return;
    }
    if (path === '/v2/health/ready') {
      if (only('GET')) sendJson(res, session ? 200 : 503, session ? { ready: true } : { ready: false, reason: notReadyReason });
      return;
    }
    if (path === '/metrics') {
      if (!only('GET')) return;
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/v2' || path === '/v2/') {
      if (only('GET')) sendJson(res, 200, { name: 'modelgate-inference-server', version: '0.1.0', extensions: ['outcomes'] });
      return;
    }
    const m = ROUTE.exec(path);
    if (!m) {
      sendJson(res, 404, { error: `no route for ${path}.` });
      return;
    }
    let name: string;
    let version: string | undefined;
    try {
      name = decodeURIComponent(m[1] as string);
      version = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    } catch {
      sendJson(res, 400, { error: `path ${path} is not valid percent-encoding.` });
      return;
    }
    if (name !== options.modelName) {
      sendJson(res, 404, { error: `model "${name}" is not served here (this server serves "${options.modelName}").` });
      return;
    }
    if (version !== undefined && version !== options.modelVersion) {
      sendJson(res, 404, { error: `version "${version}" of model ${name} is not served here (this server serves "${options.modelVersion}").` });
      return;
    }
    const action = m[3];
    if (action === undefined) {
      if (only('GET')) sendJson(res, 200, metadata());
      return;
    }
    if (action === 'ready') {
      if (only('GET')) sendJson(res, session ? 200 : 503, { name, ready: session !== undefined });
      return;
    }
    if (action === 'outcomes') {
      if (!only('POST')) return;
      const delta = parseOutcomes(parseJson(await readBody(req, maxBody)));
      metrics.impressions.inc(labels, delta.impressions);
      metrics.clicks.inc(labels, delta.clicks);
      metrics.conversions.inc(labels, delta.conversions);
      metrics.revenue.inc(labels, delta.revenue);
      metrics.cost.inc(labels, delta.cost);
      sendJson(res, 200, { accepted: delta });
      return;
    }
    // infer
    if (!only('POST')) return;
    const stopTimer = metrics.latency.startTimer(labels);
    try {
      if (!session) throw notReady();
      const body = parseJson(await readBody(req, maxBody));
      const answer = await infer(body);
      sendJson(res, 200, answer);
      metrics.requests.inc({ ...labels, outcome: 'success' });
    } catch (err) {
      if (err instanceof BadRequest) {
        if (err.status === 503) {
          metrics.requests.inc({ ...labels, outcome: 'not_ready' });
          metrics.errors.inc({ ...labels, type: 'not_ready' });
        } else if (err.status >= 500) {
          metrics.requests.inc({ ...labels, outcome: 'error' });
        } else {
          metrics.requests.inc({ ...labels, outcome: 'invalid' });
          metrics.errors.inc({ ...labels, type: 'invalid_request' });
        }
      } else {
        metrics.requests.inc({ ...labels, outcome: 'error' });
        metrics.errors.inc({ ...labels, type: 'inference_failed' });
      }
      throw err;
    } finally {
      stopTimer();
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof BadRequest) {
        sendJson(res, err.status, { error: err.message }, err.status === 413 ? { connection: 'close' } : {});
        return;
      }
      log('error', `Request ${req.method} ${req.url} failed: ${(err as Error).message}`);
      sendJson(res, 500, { error: 'internal error.' });
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  log('info', `Inference server listening on ${host}:${port}.`, { model: options.modelName, version: options.modelVersion });
  await load();

  return {
    url: `http://${urlHost}:${port}`,
    port,
    registry,
    status: () => ({ ready: session !== undefined, ...(notReadyReason ? { reason: notReadyReason } : {}), ...(digest ? { digest } : {}) }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      const s = session;
      session = undefined;
      notReadyReason = 'the server is shutting down';
      await s?.release();
    },
  };
}
