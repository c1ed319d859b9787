#!/usr/bin/env bash
# Builds the Prometheus server pinned in tools/prometheus/go.mod from the Go module proxy into
# <output dir>/prometheus. Debian's prometheus package is built without Kubernetes service
# discovery (its packaging dropped client-go); the pod-network Prometheus needs
# kubernetes_sd_configs, so the harness builds this one when the installed binary lacks it.
# Usage: scripts/build-prometheus.sh <output dir>
set -euo pipefail
out=${1:?usage: build-prometheus.sh <output dir>}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v go >/dev/null || { echo "Go 1.26 or newer is needed to build Prometheus with Kubernetes service discovery, or set PROMETHEUS_K8S_BINARY to a prometheus 2.x binary that has it." >&2; exit 3; }
mod=$(awk '$1=="require" && $2=="github.com/prometheus/prometheus" {print $3}' "$here/tools/prometheus/go.mod")
# Module v0.55.1 is Prometheus 2.55.1.
version=2.${mod#v0.}
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
cd "$here/tools/prometheus"
pv=github.com/prometheus/common/version
echo "building prometheus $version ($mod)" >&2
go build -trimpath -ldflags "-s -w -X $pv.Version=$version -X $pv.Revision=$mod -X $pv.Branch=module -X $pv.BuildUser=modelgate -X $pv.BuildDate=unknown" \
  -o "$out/prometheus.tmp" github.com/prometheus/prometheus/cmd/prometheus
mv "$out/prometheus.tmp" "$out/prometheus"
echo "$out/prometheus"
