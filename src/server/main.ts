// Entry point of the reference inference server (also the sample Deployment's container).
// Configuration from the environment the operator writes into the container:
//   MODEL_URI      file:///path/model.onnx or a plain path (required)
//   MODEL_DIGEST   sha256:<64 hex>; the server never becomes ready if the file does not match
//   MODEL_VERSION  reported in metadata and metric labels (default "unknown")
//   MODEL_NAME     the name in /v2/models/{name} (default "model")
//   PORT           default 8080;  HOST  default 0.0.0.0
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_ENV, DIGEST_ENV, VERSION_ENV } from '../api/types.js';
import { createLogger, isLogLevel } from '../observability/logger.js';
import { startInferenceServer, type InferenceServerOptions } from './app.js';

/** Turns MODEL_URI into a local path; only file:// URIs and plain paths are served. */
export function modelPathFromUri(uri: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(uri)) {
    throw new Error(`${DEFAULT_MODEL_ENV} "${uri}" must be a file:// URI or a path; the operator fetches remote models, not the server.`);
  }
  return isAbsolute(uri) ? uri : resolve(uri);
}

export function configFromEnv(env: NodeJS.ProcessEnv): Omit<InferenceServerOptions, 'log'> {
  const uri = env[DEFAULT_MODEL_ENV];
  if (!uri) throw new Error(`${DEFAULT_MODEL_ENV} is not set; it must name the ONNX model file.`);
  const portText = env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT "${portText}" is not a port number.`);
  const config: Omit<InferenceServerOptions, 'log'> = {
    modelPath: modelPathFromUri(uri),
    modelName: env.MODEL_NAME || 'model',
    modelVersion: env[VERSION_ENV] || 'unknown',
    port,
    host: env.HOST || '0.0.0.0',
    defaultMetrics: true,
  };
  const digest = env[DIGEST_ENV];
  if (digest) config.expectedDigest = digest;
  return config;
}

async function main(): Promise<void> {
  const level = process.env.LOG_LEVEL ?? 'info';
  const logger = createLogger({ level: isLogLevel(level) ? level : 'info', fields: { component: 'inference-server' } });
  let config: Omit<InferenceServerOptions, 'log'>;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    logger.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const server = await startInferenceServer({ ...config, log: (level, message, fields) => logger.log(level, message, fields ?? {}) });
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info(`Received ${signal}; closing.`);
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`Close failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

const entry = process.argv[1];
if (entry && resolve(entry) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(JSON.stringify({ level: 'error', message: `Inference server failed to start: ${(err as Error).message}` }));
    process.exit(1);
  });
}
