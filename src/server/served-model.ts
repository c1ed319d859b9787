// The state of the one served model: its series, its session once loaded (or why not), the
// inferences in progress. It runs inferences and counts outcomes; the HTTP side is routes.ts,
// the request and response bodies are v2.ts (pure), loading is model.ts.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { run, tensor, type Session, type Tensor } from '../onnx/session.js';
import type { InferenceServerOptions } from './app.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_INFERENCES, type RequestLimits } from './limits.js';
import { makeMetrics, type Metrics } from './metrics.js';
import { loadModel, type ServerLogger } from './model.js';
import { BadRequest, inferResponse, metadataBody, parseInferRequest, type OutcomeDelta, type Signature, type TensorData } from './v2.js';

/** onnxruntime's tensors made from the parsed inputs. */
function feedsOf(inputs: Record<string, TensorData>): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = tensor(t.type, t.data, t.dims);
  return feeds;
}

export class ServedModel {
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
  /** Inferences in progress, body read to answer written (routes.ts counts them). */
  inFlight = 0;

  constructor(readonly options: InferenceServerOptions) {
    this.labels = { model: options.modelName, version: options.modelVersion };
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.metrics = makeMetrics(this.registry, this.labels);
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxInFlight = options.maxConcurrentInferences ?? DEFAULT_MAX_CONCURRENT_INFERENCES;
    this.notReadyReason = options.fetchModel ? `fetching the model from ${options.fetchModel.from}` : 'the model is loading';
  }

  readonly log: ServerLogger = (...args) => (this.options.log ?? (() => {}))(...args);

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
    return metadataBody(this.options.modelName, this.options.modelVersion, this.signature, this.digest);
  }

  async infer(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const session = this.session;
    const signature = this.signature;
    if (!session || !signature) throw this.notReady();
    const { feeds, wanted } = parseInferRequest(body, signature, this.options.modelName, this.limits);
    const inputs = feedsOf(feeds);
    let results: Record<string, Tensor>;
    try {
      results = await run(session, inputs);
    } catch (err) {
      this.metrics.errors.inc({ ...this.labels, type: 'inference_failed' });
      throw new BadRequest(`inference failed: ${(err as Error).message.split('\n')[0]}`, 500);
    }
    this.observeScores(signature, results);
    return inferResponse(this.options.modelName, this.options.modelVersion, wanted, results, body.id);
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
  countFailure(err: unknown): void {
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

  /** Adds an accepted outcomes body to the business series. */
  countOutcomes(delta: OutcomeDelta): void {
    const { impressions, clicks, conversions, revenue, cost } = this.metrics;
    impressions.inc(this.labels, delta.impressions);
    clicks.inc(this.labels, delta.clicks);
    conversions.inc(this.labels, delta.conversions);
    revenue.inc(this.labels, delta.revenue);
    cost.inc(this.labels, delta.cost);
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.notReadyReason = 'the server is shutting down';
    await s?.release();
  }
}
