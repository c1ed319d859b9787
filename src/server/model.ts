// Loading the served model: fetch it (if remote), read it, check its digest, open the
// onnxruntime session. Every refusal is a reason (the not-ready body) and one logged line; the
// server stays live and never becomes ready.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SERVER_REASONS } from '../api/reasons.js';
import { openSession, signatureOf, type Session } from '../onnx/session.js';
import type { Signature } from './v2.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ServerLogger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** Brings a remote model to a local file before it is loaded. */
export interface ModelFetch {
  /** Where from (no credentials, no query), for the not-ready reason. */
  from: string;
  /** Downloads and verifies the model; resolves the local path. A rejection's message becomes the not-ready reason and is logged once. */
  run(signal: AbortSignal): Promise<string>;
}

export interface LoadRequest {
  modelPath?: string;
  fetchModel?: ModelFetch;
  signal?: AbortSignal;
  expectedDigest?: string;
  intraOpNumThreads?: number;
}

export type Loaded = { session: Session; signature: Signature; digest: string } | { reason: string; digest?: string };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** A refusal: logged once, as an error unless `level` says otherwise. */
function refuse(log: ServerLogger, reason: string, fields: Record<string, unknown>, level: LogLevel = 'error'): { reason: string } {
  log(level, level === 'error' ? `Refusing to become ready: ${reason}.` : `Not ready: ${reason}.`, fields);
  return { reason };
}

/** The local path of the model, fetching it first if it is remote; a string reason on failure. */
async function localPath(req: LoadRequest, log: ServerLogger): Promise<{ path: string } | { reason: string }> {
  if (!req.fetchModel) return { path: req.modelPath ?? '' };
  log('info', `Fetching the model from ${req.fetchModel.from}.`);
  try {
    return { path: await req.fetchModel.run(req.signal ?? new AbortController().signal) };
  } catch (err) {
    const reason = (err as Error).message.replace(/\.$/, '');
    // A fetch stopped by shutdown is not a failure of the model.
    if (req.signal?.aborted) return refuse(log, reason, { reason: SERVER_REASONS.Stopped, uri: req.fetchModel.from }, 'info');
    return refuse(log, reason, { reason: (err as { reason?: unknown }).reason ?? 'FetchFailed', uri: req.fetchModel.from });
  }
}

export async function loadModel(req: LoadRequest, log: ServerLogger): Promise<Loaded> {
  const expected = req.expectedDigest;
  if (expected !== undefined && !DIGEST_RE.test(expected)) {
    return refuse(log, `MODEL_DIGEST "${expected}" is not sha256: followed by 64 lowercase hex digits`, { reason: SERVER_REASONS.InvalidDigest });
  }
  const where = await localPath(req, log);
  if ('reason' in where) return where;
  let bytes: Buffer;
  try {
    bytes = await readFile(where.path);
  } catch (err) {
    return refuse(log, `cannot read the model file ${where.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { reason: SERVER_REASONS.ModelUnreadable });
  }
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (expected !== undefined && digest !== expected) {
    return { ...refuse(log, `digest mismatch: ${where.path} is ${digest}, MODEL_DIGEST expects ${expected}`, { reason: SERVER_REASONS.DigestMismatch, expected, actual: digest }), digest };
  }
  if (expected === undefined) log('warn', 'MODEL_DIGEST is not set: serving the model without verifying its digest.', { digest });
  try {
    const session = await openSession(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { intraOpNumThreads: req.intraOpNumThreads ?? 1 });
    return { session, signature: signatureOf(session), digest };
  } catch (err) {
    return { ...refuse(log, `onnxruntime cannot load the model (${(err as Error).message.split('\n')[0]})`, { reason: SERVER_REASONS.InvalidModel }), digest };
  }
}
