// The reference inference server's real entrypoint (src/server/main.ts) as a child process on a
// loopback port, with the environment a test gives it, its output collected. The suites that
// start the server as its pods would (fetch, stores, limits, metrics) share this one launcher.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './process.js';

export interface ServerProcess {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  child: ChildProcess;
  /** stdout and stderr so far. */
  log: () => string;
  /** The exit code once it exits. */
  exited: Promise<number | null>;
}

/** Starts the server with PORT and HOST set, then `env` (which may override them). The caller kills `child` when done. */
export async function spawnServer(env: Record<string, string>, port?: number): Promise<ServerProcess> {
  const p = port ?? (await freePort());
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    env: { ...process.env, PORT: String(p), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { url: `http://127.0.0.1:${p}`, port: p, child, log: () => output, exited };
}
