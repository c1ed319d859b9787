// Child processes for the local control plane and other real servers: logs to files, killed
// as a group on teardown, and a registry so an interrupted run leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';

export interface Managed {
  name: string;
  child: ChildProcess;
  logPath: string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

const live = new Set<Managed>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = (): void => {
    for (const m of live) {
      try {
        m.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // A program that handles the signal itself (cluster serve) stops its servers in order.
    if (process.listenerCount(sig) > 0) continue;
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export interface StartOptions {
  /** 'pipe' to write to the process's stdin (default 'ignore'). */
  stdin?: 'ignore' | 'pipe';
  cwd?: string;
}

export function startProcess(name: string, cmd: string, args: string[], logPath: string, env: NodeJS.ProcessEnv = process.env, opts: StartOptions = {}): Managed {
  hookExit();
  const log = createWriteStream(logPath, { flags: 'a' });
  // Its own process group: a Ctrl-C at the terminal reaches only the test or demo process, which
  // then stops its parts in order (a node's pods before containerd, the apiserver last) instead of
  // every part dying at once and leaving pods, mounts and cgroups behind. Exit still kills them.
  const child = spawn(cmd, args, { stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'], env, cwd: opts.cwd, detached: true });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  const m: Managed = { name, child, logPath, exited };
  live.add(m);
  void exited.then(() => live.delete(m));
  return m;
}

/** SIGTERM, then SIGKILL after a grace period. */
export async function stopProcess(m: Managed, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (m.child.exitCode !== null || m.child.signalCode !== null) return;
  m.child.kill(signal);
  const timer = setTimeout(() => m.child.kill('SIGKILL'), graceMs);
  await m.exited;
  clearTimeout(timer);
}

/** A free TCP port on 127.0.0.1 (bound and released; the caller binds it next). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown by a waitFor probe to stop waiting at once (the awaited thing can no longer happen). */
export class GiveUp extends Error {}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
