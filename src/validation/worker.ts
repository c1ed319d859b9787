// The validation worker: a child process (forked by worker-pool.ts) that runs onnxruntime, so a
// long evaluation never stalls the operator's event loop and a model that crashes the runtime
// takes down only this process. One job at a time; typed arrays go back over IPC as Buffers
// (worker-protocol.ts). Here: the message loop and which handler takes a job; the handlers are
// in worker/ (evaluate.ts, benchmark.ts), with the tensors they feed (feeds.ts) and what a scope
// keeps (scope-cache.ts).
import { signatureOf } from '../onnx/session.js';
import { REASONS } from '../api/reasons.js';
import type { InspectJob, InspectResult, WorkerRelease, WorkerReply, WorkerRequest } from './worker-protocol.js';
import { benchmark } from './worker/benchmark.js';
import { evaluate } from './worker/evaluate.js';
import { firstLine, JobError } from './worker/job-error.js';
import { closeUnlessKept, enterScope, openIn, releaseScope } from './worker/scope-cache.js';
import type { ScopeCache } from './worker/scope-cache.js';

async function inspect(job: InspectJob, scope: ScopeCache | undefined): Promise<InspectResult> {
  const opened = await openIn(scope, job.model, 'candidate');
  try {
    return { ...signatureOf(opened.session), sessionMs: opened.ms };
  } finally {
    await closeUnlessKept(scope, opened);
  }
}

async function handle(req: WorkerRequest): Promise<unknown> {
  const job = req.job;
  const scope = await enterScope(req.scope);
  switch (job.type) {
    case 'inspect':
      return inspect(job, scope);
    case 'evaluate':
      return evaluate(job, scope);
    case 'benchmark':
      return benchmark(job, scope);
    case 'crash':
    case 'hang':
      // FAKE FAULT INJECTION (tests only): stands in for a model that kills or wedges onnxruntime.
      if (process.env.MODELGATE_FAULT_INJECTION !== '1') throw new JobError(REASONS.ValidatorCrashed, `Job type '${job.type}' is disabled.`);
      if (job.type === 'crash') process.kill(process.pid, 'SIGKILL');
      return new Promise(() => setInterval(() => undefined, 1 << 30));
    default:
      throw new JobError(REASONS.ValidatorCrashed, `Unknown job type '${(job as { type: string }).type}'.`, false);
  }
}

let queue = Promise.resolve();
process.on('message', (msg: WorkerRequest | WorkerRelease) => {
  if ('release' in msg) {
    const id = msg.release;
    queue = queue.then(() => releaseScope(id));
    return;
  }
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      reply = { id: msg.id, ok: true, result: await handle(msg) };
    } catch (err) {
      const e = err instanceof JobError ? err : new JobError(REASONS.ValidatorCrashed, `The worker failed: ${firstLine(err)}.`, false);
      reply = { id: msg.id, ok: false, error: { reason: e.reason, message: e.message, terminal: e.terminal } };
    }
    process.send?.(reply);
  });
});
process.on('disconnect', () => process.exit(0));
