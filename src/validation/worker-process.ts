// A worker process of the pool: how one is started (the file, Node's flags, an environment that
// keeps only what a worker needs), what it writes to stderr kept per job (onnxruntime's native
// log, ANSI colours stripped, capped), and its memory as /proc reports it. The queue and the
// jobs' deadlines and caps are the pool's (worker-pool.ts, worker-dispatch.ts).
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The parent's variables a worker keeps: where to find programs and libraries, where to write
 * temp files, the locale and time zone, Node's own options. Nothing else: no KUBERNETES_* (the
 * in-cluster API address), no cloud or store credentials (AWS_*, *_TOKEN, *_SECRET*), no
 * MODELGATE_* settings. A model runs arbitrary code through a runtime bug, so what it can read
 * from its environment is only this.
 */
export const WORKER_ENV_KEEP: readonly string[] = ['PATH', 'HOME', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'LD_LIBRARY_PATH', 'NODE_OPTIONS'];

/** The environment of a worker process: WORKER_ENV_KEEP from the parent, plus the worker's own settings. */
export function workerEnvironment(parent: NodeJS.ProcessEnv, o: { threads: number; faultInjection: boolean }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of WORKER_ENV_KEEP) if (parent[k] !== undefined) env[k] = parent[k];
  env.OMP_NUM_THREADS = String(o.threads);
  env.MODELGATE_WORKER_THREADS = String(o.threads);
  if (o.faultInjection) env.MODELGATE_FAULT_INJECTION = '1';
  return env;
}

/** One worker process as the pool holds it. */
export interface Slot {
  child: ChildProcess;
  busy: boolean;
  /** Peak RSS seen by the poller during the current job (KiB). */
  peakKiB: number;
  /** What the child wrote to stderr during the current job (onnxruntime's native log), capped. */
  log: string[];
}

/** Lines of a worker's stderr kept per job, and their length: enough to see why, never a flood. */
const LOG_LINES = 40;
const LOG_LINE_CHARS = 300;
// ANSI colour codes onnxruntime puts around its lines.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const here = fileURLToPath(import.meta.url);
const fromTypeScript = here.endsWith('.ts');
const workerFile = fileURLToPath(new URL(fromTypeScript ? './worker.ts' : './worker.js', import.meta.url));

/** Whether the process has not exited (nor been killed by a signal) yet. */
export function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Start a worker (worker.ts next to this file) with its V8 heap capped and its stderr kept in the slot's log. */
export function spawnWorker(o: { memoryMiB: number; threads: number; faultInjection: boolean }): Slot {
  const execArgv = [`--max-old-space-size=${o.memoryMiB}`];
  if (fromTypeScript) execArgv.unshift('--import', 'tsx');
  const env = workerEnvironment(process.env, { threads: o.threads, faultInjection: o.faultInjection });
  // stderr is piped, not inherited: onnxruntime's native log goes into the report, not the operator's log.
  const child = fork(workerFile, [], { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  const slot: Slot = { child, busy: false, peakKiB: 0, log: [] };
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) keepLogLine(slot.log, line);
  });
  return slot;
}

/** Add one stderr line to a job's log: colours stripped, blank lines dropped, cut past the cap. */
function keepLogLine(log: string[], line: string): void {
  const clean = line.replace(ANSI, '').trim();
  if (clean === '') return;
  if (log.length < LOG_LINES) log.push(clean.slice(0, LOG_LINE_CHARS));
  else if (log.length === LOG_LINES) log.push('… (more lines cut)');
}

/** VmRSS and VmHWM of a process in KiB from /proc (Linux); undefined elsewhere or once it exited. */
export function readProcMemory(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)\s+kB/.exec(text);
    const hwm = /VmHWM:\s+(\d+)\s+kB/.exec(text);
    if (!rss) return undefined;
    return { rssKiB: Number(rss[1]), hwmKiB: hwm ? Number(hwm[1]) : Number(rss[1]) };
  } catch {
    return undefined;
  }
}
