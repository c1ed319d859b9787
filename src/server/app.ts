// The reference inference server: the Open Inference Protocol (KServe v2) over node:http, one
// ONNX model, and prom-client metrics on its own Registry. It verifies the model's digest before
// it loads it and stays live but never ready when the digest or the model is wrong, so a bad
// rollout stalls at the readiness probe instead of serving. A remote model is fetched (by the
// caller's `fetchModel`) after the port opens: live meanwhile, ready only after the load.
// Seams: model.ts loads, v2.ts parses and builds bodies (pure), served-model.ts holds the
// model's state and runs inferences, routes.ts routes, authenticates the outcomes endpoint and
// bounds the inferences in progress, metrics.ts holds the series. This file starts and stops it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { RequestLimits } from './limits.js';
import type { ModelFetch, ServerLogger } from './model.js';
import { listener } from './routes.js';
import { ServedModel } from './served-model.js';

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
  const state = new ServedModel(options);
  const server: Server = createServer(listener(state));
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
