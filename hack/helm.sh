#!/usr/bin/env bash
# Builds helm from its Go module into .cache/bin (no binary download: only
# the Go module proxy is reachable in CI and on dev machines). Rebuilt only
# when the pinned version changes, so a second run takes a moment; the first
# takes about a minute and a half.
#
#   hack/helm.sh          build (or keep) .cache/bin/helm
#   hack/helm.sh path     build if needed, then print the binary's path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.cache/bin"
helm_version=v3.22.0
# The Kubernetes version `helm template` and `helm lint` assume without a
# cluster: helm's own Makefile sets it from its client-go (v0.37 for helm
# v3.22); left unset, it is v1.20 and the chart's kubeVersion check fails.
kube_default=1.37
mkdir -p "$bin"

ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=${kube_default%%.*} -X $pkg.k8sVersionMinor=${kube_default#*.}"
done

stamp="$bin/.helm-stamp"
if [[ ! -x "$bin/helm" || ! -f "$stamp" || "$(cat "$stamp")" != "$ldflags" ]]; then
  echo "Building helm $helm_version from its Go module (about a minute and a half the first time)..." >&2
  GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags="$ldflags" "helm.sh/helm/v3/cmd/helm@$helm_version"
  echo "$ldflags" > "$stamp"
fi

if [[ "${1:-}" == path ]]; then
  echo "$bin/helm"
fi
