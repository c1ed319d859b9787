// What a worker keeps for one scope (WorkerPool.scope: one checkpoint's validation): the sessions
// its jobs opened and the datasets they parsed, so each model loads and each holdout parses once;
// and how a job opens a session or reads a dataset through it. Only one scope is kept at a time.
import { performance } from 'node:perf_hooks';
import { closeSession, openSession } from '../../onnx/session.js';
import type { Session } from '../../onnx/session.js';
import { DatasetError, readHoldout } from '../dataset.js';
import type { HoldoutData } from '../dataset.js';
import { REASONS } from '../../api/reasons.js';
import type { DatasetJobRef } from '../worker-protocol.js';
import { firstLine, JobError } from './job-error.js';

const threads = Number(process.env.MODELGATE_WORKER_THREADS ?? '1') || 1;

/** Open a model's session; a model onnxruntime cannot load is the job's InvalidModel. */
export async function open(path: string, label: string): Promise<{ session: Session; ms: number }> {
  const t0 = performance.now();
  try {
    // Errors only: onnxruntime's warnings are noise here, and what it does log the pool captures for the report.
    const session = await openSession(path, { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
    return { session, ms: performance.now() - t0 };
  } catch (err) {
    throw new JobError(
      REASONS.InvalidModel,
      `onnxruntime cannot load the ${label} model (${firstLine(err)}); re-export it with a supported opset and check it with onnxruntime locally.`,
    );
  }
}

export interface Opened {
  session: Session;
  ms: number;
  /** From the scope's cache: an earlier job loaded it, and the scope closes it. */
  reused: boolean;
}

/**
 * What the jobs of one scope (WorkerPool.scope: one validation) share: the sessions they opened
 * and the datasets they parsed, so a checkpoint's validation loads each model and parses its
 * holdout once. Dropped when the scope is released or a job of another scope comes.
 */
export interface ScopeCache {
  id: number;
  sessions: Map<string, { session: Session; ms: number }>;
  datasets: Map<string, HoldoutData | undefined>;
}

let current: ScopeCache | undefined;

async function dropScope(): Promise<void> {
  const c = current;
  current = undefined;
  if (!c) return;
  for (const s of c.sessions.values()) await closeSession(s.session).catch(() => undefined);
}

/** The cache of the request's scope: the one kept, or a fresh one (dropping the other scope's). */
export async function enterScope(id: number | undefined): Promise<ScopeCache | undefined> {
  if (id === undefined) return undefined;
  if (current?.id === id) return current;
  await dropScope();
  current = { id, sessions: new Map(), datasets: new Map() };
  return current;
}

/** The model's session: the scope's when it has one (loaded by an earlier job), else a new one. */
export async function openIn(scope: ScopeCache | undefined, path: string, label: string): Promise<Opened> {
  const kept = scope?.sessions.get(path);
  if (kept) return { ...kept, reused: true };
  const o = await open(path, label);
  scope?.sessions.set(path, o);
  return { ...o, reused: false };
}

/** Close a session unless the scope keeps it. */
export async function closeUnlessKept(scope: ScopeCache | undefined, o: Opened | { session: Session }): Promise<void> {
  if (scope && [...scope.sessions.values()].some((k) => k.session === o.session)) return;
  await closeSession(o.session).catch(() => undefined);
}

const datasetKey = (ref: DatasetJobRef): string => JSON.stringify([ref.path, ref.format ?? null, ref.labelField ?? null, ref.maxSamples ?? null]);

/** The holdout dataset: the scope's when an earlier job parsed it, else read now (and kept for the scope). */
export async function loadDatasetIn(scope: ScopeCache | undefined, ref: DatasetJobRef): Promise<HoldoutData | undefined> {
  const key = datasetKey(ref);
  if (scope?.datasets.has(key)) return scope.datasets.get(key);
  const data = await loadDataset(ref);
  scope?.datasets.set(key, data);
  return data;
}

/** Read a holdout dataset; zero samples is undefined (a verdict), an unreadable one the job's DatasetInvalid. */
async function loadDataset(ref: DatasetJobRef): Promise<HoldoutData | undefined> {
  try {
    const opts: { format?: 'jsonl' | 'npz'; labelField?: string; maxSamples?: number } = {};
    if (ref.format) opts.format = ref.format;
    if (ref.labelField) opts.labelField = ref.labelField;
    if (ref.maxSamples !== undefined) opts.maxSamples = ref.maxSamples;
    return await readHoldout(ref.path, opts);
  } catch (err) {
    // Zero samples is a gate verdict (EmptyDataset), not a broken file.
    if (err instanceof DatasetError && /holds no samples/.test(err.message)) return undefined;
    const why = ref.name ? firstLine(err).split(ref.path).join(ref.name) : firstLine(err);
    throw new JobError(REASONS.DatasetInvalid, `The holdout dataset ${ref.name ?? ''} cannot be read: ${why}.`.replace('  ', ' '));
  }
}

/** The scope is over (WorkerRelease): free its sessions and datasets if they are the ones kept. */
export async function releaseScope(id: number): Promise<void> {
  if (current?.id === id) await dropScope();
}
