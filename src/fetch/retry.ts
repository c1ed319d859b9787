// Attempts with a deadline each, retried with exponential backoff and full jitter (or the
// server's Retry-After) for errors that may pass: 5xx, 429, 408, a reset or refused connection.
import { StageError } from '../validation/contract.js';
import { REASONS } from '../api/reasons.js';
import { RetryableError, TRANSIENT_CODES, sleep } from './connection.js';
import { redact } from './policy.js';

export interface RetryPolicy {
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  deadlineMs: number;
}

/** Whether an error from an attempt may pass on a retry. */
export function isTransient(err: unknown): boolean {
  if (err instanceof StageError) return false;
  if (err instanceof RetryableError) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/**
 * Runs `attempt` until it succeeds, a terminal error, or the retries are spent. `beforeRetry`
 * runs before each retry (the fetcher removes the partial file there). A store that kept failing
 * in a way that may pass fails the fetch transiently (terminal false), so the operator retries later.
 */
export async function withRetries(
  p: RetryPolicy,
  url: URL,
  label: string,
  outer: AbortSignal,
  attempt: (signal: AbortSignal) => Promise<number>,
  beforeRetry: () => Promise<void>,
): Promise<number> {
  let lastError: Error | undefined;
  let transient = false;
  for (let n = 0; n <= p.retries; n++) {
    if (n > 0) {
      await beforeRetry();
      const exp = Math.min(p.maxBackoffMs, p.backoffMs * 2 ** (n - 1));
      const jittered = exp / 2 + Math.random() * (exp / 2);
      const after = lastError instanceof RetryableError && lastError.retryAfterMs !== undefined ? Math.min(lastError.retryAfterMs, p.maxBackoffMs) : 0;
      await sleep(Math.max(jittered, after), outer);
    }
    try {
      return await withDeadline(p.deadlineMs, outer, attempt);
    } catch (err) {
      if (err instanceof StageError || outer.aborted) throw err;
      lastError = err as Error;
      transient = isTransient(err);
      if (!transient) break;
    }
  }
  throw new StageError(
    REASONS.FetchFailed,
    `The ${label} could not be fetched from ${redact(url)} after ${p.retries + 1} attempt(s): ${lastError?.message ?? 'unknown error'}; check that the URI is reachable.`,
    !transient,
  );
}

function withDeadline(ms: number, outer: AbortSignal, attempt: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new RetryableError(`no complete response within the ${ms} ms deadline`)), ms);
  const signal = AbortSignal.any([outer, deadline.signal]);
  return attempt(signal)
    .catch((err: unknown) => {
      // The deadline aborts with a RetryableError; surface it, not a generic AbortError.
      if (deadline.signal.aborted && !outer.aborted && !(err instanceof StageError)) throw deadline.signal.reason as Error;
      throw err;
    })
    .finally(() => clearTimeout(timer));
}
