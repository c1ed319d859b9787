#!/usr/bin/env bash
# Entry for `npm test` and `npm run demo`: installs the npm dependencies when they are missing
# or stale, then runs scripts/<command>.ts on the project's Node 24 (from the `node` package).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: scripts/run.sh <test|demo|cluster> [args]}; shift
if [ -L node_modules ]; then
  # A node_modules shared with another checkout (a git worktree's symlink): npm ci would empty
  # the folder it points at under the other checkout's feet. Use it as it is; never reinstall here.
  if [ ! -x node_modules/.bin/tsx ] || [ ! -x node_modules/.bin/node ]; then
    echo "node_modules is a symlink to $(readlink node_modules) without tsx and node: run npm ci where it points, not here" >&2
    exit 1
  fi
elif [ ! -x node_modules/.bin/tsx ] || [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies (npm ci)..." >&2
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >&2
fi
export PATH="$PWD/node_modules/.bin:$PATH"
exec node --import tsx "scripts/$cmd.ts" "$@"
