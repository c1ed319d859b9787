// Transient and terminal failures of the background work, decided purely: a terminal failure
// ends in Failed at once; a transient one is retried with a doubling, capped delay that status
// records (status.retry), until the attempt limit.
import assert from 'node:assert/strict';
import type { ModelCheckpointSpec, ModelCheckpointStatus, Phase, RetryStatus } from '../../../src/api/types.js';
import { decide, DEFAULT_RETRY, retryDelayMs, type JobView, type RetryPolicy, type Step, type View } from '../../../src/controller/phases.js';

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 5_000, maxDelayMs: 12_000 };

const spec: ModelCheckpointSpec = {
  model: 'ctr',
  version: '2.0',
  artifact: { uri: 'https://models.example/ctr-2.onnx', digest: `sha256:${'a'.repeat(64)}` },
  target: { deployment: 'ranker', container: 'server' },
};

function view(phase: Phase, job: JobView, retry?: RetryStatus, over: Partial<View> = {}): View {
  const status: ModelCheckpointStatus = { phase, observedGeneration: 2, ...(retry ? { retry } : {}) };
  return {
    uid: 'uid-1', generation: 2, deleting: false, hasFinalizer: true, spec, status,
    target: { exists: true, containerFound: true, claimLive: false },
    job, now: NOW, retryPolicy: POLICY, ...over,
  };
}

const transient: JobView = { state: 'failed', reason: 'FetchFailed', message: 'HTTP 503 from http://store/m.onnx after 2 attempt(s)', terminal: false };
const terminal: JobView = { state: 'failed', reason: 'DigestMismatch', message: 'digest differs', terminal: true };

function kind<K extends Step['kind']>(step: Step, k: K): Extract<Step, { kind: K }> {
  assert.equal(step.kind, k, JSON.stringify(step));
  return step as Extract<Step, { kind: K }>;
}

describe('controller/phases retries of transient failures', () => {
  it('the delay doubles from the base and stops at the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(POLICY, n)), [5_000, 10_000, 12_000, 12_000, 12_000]);
    assert.deepEqual([1, 2, 3].map((n) => retryDelayMs(DEFAULT_RETRY, n)), [5_000, 10_000, 20_000]);
  });

  for (const phase of ['Fetching', 'Validating'] as const) {
    describe(phase, () => {
      it('a terminal failure is Failed at once, with no retry recorded', () => {
        const t = kind(decide(view(phase, terminal)), 'Transition');
        assert.deepEqual({ to: t.to, reason: t.reason, message: t.message, retry: t.retry }, { to: 'Failed', reason: 'DigestMismatch', message: 'digest differs', retry: undefined });
        // ... also when earlier attempts failed transiently.
        const after = kind(decide(view(phase, terminal, { phase, attempts: 2, nextAttemptAt: new Date(NOW - 1).toISOString(), lastReason: 'X', lastMessage: 'x' })), 'Transition');
        assert.equal(after.to, 'Failed');
      });

      it('the first transient failure schedules attempt 2 after the base delay and says so', () => {
        const s = kind(decide(view(phase, transient)), 'RetryLater');
        assert.equal(s.delayMs, 5_000);
        assert.deepEqual(s.retry, { phase, attempts: 1, maxAttempts: 4, nextAttemptAt: '2026-12-01T10:00:05.000Z', lastReason: 'FetchFailed', lastMessage: transient.state === 'failed' ? transient.message : '' });
        assert.equal(s.reason, 'FetchFailed');
        assert.match(s.message, /attempt 1 of 4 failed \(transient\): HTTP 503 .*; next attempt at 2026-12-01T10:00:05\.000Z/);
      });

      it('waits while the next attempt is not due, then starts it', () => {
        const pending: RetryStatus = { phase, attempts: 1, maxAttempts: 4, nextAttemptAt: new Date(NOW + 3_000).toISOString(), lastReason: 'FetchFailed', lastMessage: 'm' };
        assert.deepEqual(decide(view(phase, { state: 'none' }, pending)), { kind: 'AwaitRetry', delayMs: 3_000 });
        assert.deepEqual(decide(view(phase, { state: 'none' }, pending, { now: NOW + 3_000 })), { kind: phase === 'Fetching' ? 'StartFetch' : 'StartValidate' });
        // A running retry is awaited like any job.
        assert.deepEqual(decide(view(phase, { state: 'running' }, pending, { now: NOW + 4_000 })), { kind: 'AwaitJob' });
      });

      it('counts on from the record and doubles the delay', () => {
        const record: RetryStatus = { phase, attempts: 2, maxAttempts: 4, nextAttemptAt: new Date(NOW - 10).toISOString(), lastReason: 'FetchFailed', lastMessage: 'm' };
        const s = kind(decide(view(phase, transient, record)), 'RetryLater');
        assert.equal(s.retry.attempts, 3);
        assert.equal(s.delayMs, 12_000, 'capped');
        assert.equal(s.retry.nextAttemptAt, new Date(NOW + 12_000).toISOString());
      });

      it('past the attempt limit it is Failed, the message says after how many, the record stays', () => {
        const record: RetryStatus = { phase, attempts: 3, maxAttempts: 4, nextAttemptAt: new Date(NOW - 10).toISOString(), lastReason: 'FetchFailed', lastMessage: 'm' };
        const t = kind(decide(view(phase, transient, record)), 'Transition');
        assert.equal(t.to, 'Failed');
        assert.equal(t.reason, 'FetchFailed');
        assert.match(t.message, /^gave up after 4 attempt\(s\) \(the limit\): HTTP 503/);
        assert.deepEqual(t.retry, { phase, attempts: 4, maxAttempts: 4, lastReason: 'FetchFailed', lastMessage: transient.state === 'failed' ? transient.message : '' });
      });

      it('with an attempt limit of 1 a transient failure fails at once', () => {
        assert.equal(kind(decide(view(phase, transient, undefined, { retryPolicy: { ...POLICY, maxAttempts: 1 } })), 'Transition').to, 'Failed');
      });

      it('a settled record (no next attempt) or one of another phase counts nothing', () => {
        const other: RetryStatus = { phase: phase === 'Fetching' ? 'Validating' : 'Fetching', attempts: 3, nextAttemptAt: new Date(NOW + 60_000).toISOString(), lastReason: 'R', lastMessage: 'm' };
        assert.equal(kind(decide(view(phase, transient, other)), 'RetryLater').retry.attempts, 1);
        assert.equal(decide(view(phase, { state: 'none' }, other)).kind, phase === 'Fetching' ? 'StartFetch' : 'StartValidate');
        const settled: RetryStatus = { phase, attempts: 3, lastReason: 'R', lastMessage: 'm' };
        assert.equal(kind(decide(view(phase, transient, settled)), 'RetryLater').retry.attempts, 1);
      });
    });
  }

  it('the record fits the CRD: an over-long message is cut to 4096 characters', () => {
    const long: JobView = { state: 'failed', reason: 'FetchFailed', message: 'x'.repeat(10_000), terminal: false };
    const s = kind(decide(view('Fetching', long)), 'RetryLater');
    assert.ok(s.retry.lastMessage.length <= 4096, String(s.retry.lastMessage.length));
  });

  it('a job failure is only ever retried or Failed', () => {
    const jobs: JobView[] = [transient, terminal];
    for (const phase of ['Fetching', 'Validating'] as const) {
      for (let attempts = 0; attempts < 10; attempts++) {
        for (const job of jobs) {
          const record: RetryStatus | undefined = attempts ? { phase, attempts, nextAttemptAt: new Date(NOW).toISOString(), lastReason: 'R', lastMessage: 'm' } : undefined;
          const step: Step = decide(view(phase, job, record));
          if (job === terminal || attempts + 1 >= POLICY.maxAttempts) assert.equal(kind(step, 'Transition').to, 'Failed');
          else assert.equal(kind(step, 'RetryLater').retry.attempts, attempts + 1);
        }
      }
    }
  });
});
