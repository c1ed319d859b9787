// The inference server's configuration from its environment: settings.ts parses (pure); this
// file hands it the process's temporary folder and working directory.
import os from 'node:os';
import { modelPathFrom, parseServerEnv, type ServerConfig } from './settings.js';

export * from './settings.js';

/** Turns a local MODEL_URI into a path (a relative one from the working directory); only file:// URIs and plain paths are local. */
export function modelPathFromUri(uri: string): string {
  return modelPathFrom(uri, process.cwd());
}

/** The server's configuration from the process's environment (see settings.ts). */
export function configFromEnv(env: NodeJS.ProcessEnv): ServerConfig {
  return parseServerEnv(env, { tmpdir: os.tmpdir(), cwd: process.cwd() });
}
