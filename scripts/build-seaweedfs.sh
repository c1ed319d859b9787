#!/usr/bin/env bash
# Builds the SeaweedFS server pinned in tools/seaweedfs/go.mod from the Go module proxy into
# <output dir>/weed. Its S3 gateway verifies AWS Signature V4 when given identities, which the
# store tests need (a fake such as s3rver accepts any signature). The harness calls this under
# a lock (test/harness/buildlock.ts) so two test processes never build at once.
# Usage: scripts/build-seaweedfs.sh <output dir>
set -euo pipefail
out=${1:?usage: build-seaweedfs.sh <output dir>}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v go >/dev/null || { echo "Go 1.26 or newer is needed to build SeaweedFS for the S3 tests, or set SEAWEEDFS_BINARY to a weed binary." >&2; exit 3; }
mod=$(awk '$1=="require" && $2=="github.com/seaweedfs/seaweedfs" {print $3}' "$here/tools/seaweedfs/go.mod")
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
cd "$here/tools/seaweedfs"
echo "building seaweedfs $mod" >&2
go build -trimpath -ldflags "-s -w" -o "$out/weed.tmp" github.com/seaweedfs/seaweedfs/weed
mv "$out/weed.tmp" "$out/weed"
echo "$out/weed"
