#!/usr/bin/env node
// Launcher for `modelgate` and the kubectl plugin `kubectl-modelgate` (a symlink to this file;
// kubectl finds it on PATH). It checks the Node version before importing anything: the CLI's
// dependencies (client-node 2.x, undici 8) crash at load time on Node < 22.19 with a stack trace
// that names neither Node nor the version needed. Plain syntax, so an old Node still parses it.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`modelgate: this is Node ${process.versions.node} (${process.execPath}), but modelgate needs Node 22.19 or newer: install Node 24 (or run it through npm in the project, which uses its own Node 24) and try again.\n`);
  process.exit(2);
}

const { existsSync } = await import('node:fs');
const { fileURLToPath } = await import('node:url');
const here = new URL('./', import.meta.url);
const built = new URL('../dist/src/cli/main.js', here);
if (existsSync(fileURLToPath(built))) {
  // An installed package: the compiled CLI.
  await import(built.href);
} else {
  // A source checkout: run the TypeScript through tsx, as `npm run cli` does.
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', here).href);
}
