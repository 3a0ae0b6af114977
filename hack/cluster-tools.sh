#!/usr/bin/env bash
# Builds the dev cluster's control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl) and kwok/kwokctl from the Go
# module proxy into .cache/bin. Each binary is rebuilt only when the pinned
# versions change, so a second run takes a second.
#
#   hack/cluster-tools.sh        the control plane and kwok
#   hack/cluster-tools.sh node   also the real node's kubelet and kube-proxy
#                                (same tools module) and kube-router
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.cache/bin"
kwok_version=v0.8.0
# The real node's NetworkPolicy controller (hack/real-node.sh says why this one).
kube_router_version=v2.1.0
mkdir -p "$bin"

# The Kubernetes version the tools module pins, e.g. v1.37.2.
kube_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$root/hack/tools/go.mod")
# `go build` of k8s.io/kubernetes leaves the version at v0.0.0-master (the
# release build sets it with -X). Stamp the real one: the apiserver reports it
# at /version, and clients that check it (Helm's kubeVersion constraints,
# kubectl's skew warning, kwokctl's per-version flags) need a real version.
kube_ldflags="-s -X k8s.io/component-base/version.gitVersion=$kube_version"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=$(echo "$kube_version" | cut -d. -f1 | tr -d v)"
kube_ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$kube_version" | cut -d. -f2)"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

# A stamp of the pins: go.mod/go.sum of the tools module, the kwok version and
# the link flags.
pins() { cat "$root/hack/tools/go.mod" "$root/hack/tools/go.sum" <(echo "$* $kube_ldflags") | sha256sum | cut -c1-16; }

# The real node's binaries, with a stamp of their own: most runs need only
# the control plane.
build_node() {
  local stamp
  stamp=$(pins "$kube_router_version")
  if [[ -f "$bin/.stamp-node" && "$(cat "$bin/.stamp-node")" == "$stamp" ]]; then
    return
  fi
  echo "Building the real node's kubelet, kube-proxy and kube-router (about 5 minutes the first time)..." >&2
  (cd "$root/hack/tools" && CGO_ENABLED=0 go build -trimpath -ldflags="$kube_ldflags" -o "$bin/" \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy)
  CGO_ENABLED=0 GOBIN="$bin" go install -trimpath -ldflags=-s \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$kube_router_version"
  echo "$stamp" >"$bin/.stamp-node"
}

stamp=$(pins "$kwok_version")
if [[ -f "$bin/.stamp" && "$(cat "$bin/.stamp")" == "$stamp" ]]; then
  [[ "${1:-}" != node ]] || build_node
  exit 0
fi

echo "Building the dev cluster's control plane (about 10 minutes the first time)..." >&2
cd "$root/hack/tools"
export CGO_ENABLED=0
go build -trimpath -ldflags="$kube_ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  ./etcd
GOBIN="$bin" go install -trimpath -ldflags=-s \
  "sigs.k8s.io/kwok/cmd/kwok@$kwok_version" \
  "sigs.k8s.io/kwok/cmd/kwokctl@$kwok_version"
echo "$stamp" > "$bin/.stamp"
ls -l "$bin" >&2
[[ "${1:-}" != node ]] || build_node
