// Child processes for the local control plane and other real servers: logs to files, killed
// as a group on teardown, and a registry so an interrupted run leaves nothing behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
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

/** The kernel's ephemeral range (source ports of outgoing connections), from /proc. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1 for a child to bind next. Drawn at random from below the kernel's
 * ephemeral range: a port the kernel hands out for port 0 can be taken, between our release and
 * the child's bind, as the source port of any outgoing connection on the machine (the likely cause
 * of a SeaweedFS server exiting at start in CI); one below the range only by another listener.
 * Never the same port twice in this process; checked bindable now.
 */
export async function freePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const from = 20_000; // above the well-known defaults (kubelet 10248-10250, kube-scheduler 10259, SeaweedFS 18080-19333)
  const to = lo - 1;
  if (to - from >= 1000) {
    for (let tries = 0; tries < 200; tries++) {
      const port = from + Math.floor(Math.random() * (to - from + 1));
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      if (await bindable(port)) return port;
    }
  }
  // No room below the range (or every try taken): the kernel's pick, as before.
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      handedOut.add(port);
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
