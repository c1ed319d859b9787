#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go module proxy at
# the versions pinned in tools/controlplane/*/go.mod, into a cache folder outside the repository.
# With --node: kubelet and kube-scheduler from the same module into an existing output dir.
# Usage: scripts/build-control-plane.sh [--node] <output dir>
set -euo pipefail
node=false
if [ "${1:-}" = --node ]; then node=true; shift; fi
out=${1:?usage: build-control-plane.sh [--node] <output dir>}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v go >/dev/null || { echo "Go 1.26 or newer is needed to build the local control plane: install it from go.dev/dl or your package manager, or set KUBEBUILDER_ASSETS to a folder with kube-apiserver, etcd and kubectl." >&2; exit 3; }
kube_version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$here/tools/controlplane/kube/go.mod")
etcd_version=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3" {print $3}' "$here/tools/controlplane/etcd/go.mod")
minor=$(echo "$kube_version" | cut -d. -f2)
$node || mkdir -p "$out.tmp"
# The apiserver checks its own version against feature gates and storage versions: stamp it.
ldk="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$kube_version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
cd "$here/tools/controlplane/kube"
if $node; then
  for cmd in kube-scheduler kubelet; do
    echo "building $cmd $kube_version" >&2
    go build -trimpath -ldflags "$ldk" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$out/$cmd.tmp" "$out/$cmd"
  done
  exit 0
fi
for cmd in kube-apiserver kube-controller-manager kubectl; do
  echo "building $cmd $kube_version" >&2
  go build -trimpath -ldflags "$ldk" -o "$out.tmp/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
cd "$here/tools/controlplane/etcd"
echo "building etcd $etcd_version" >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
