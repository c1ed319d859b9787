// The error a worker job fails with: a reason string and a message for the report, and whether it
// is terminal (the model is at fault) or not (the worker is). The message loop turns it into the
// reply (worker.ts); anything else thrown becomes a ValidatorCrashed. Pure.

/** A job's failure as the reply carries it. */
export class JobError extends Error {
  constructor(readonly reason: string, message: string, readonly terminal = true) {
    super(message);
  }
}

/** The first line of an error's message, capped: what a report has room for. */
export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300);
}
