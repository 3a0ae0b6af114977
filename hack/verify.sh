#!/usr/bin/env bash
# Fails when formatting, vet or golden files are not what they should be.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unformatted=$(gofmt -l cmd spawner hack test launcher hubapi helm 2>/dev/null || true)
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
make update update-helm >/dev/null
git diff --exit-code -- '*.golden*' || { echo "golden files are stale: run make update and commit" >&2; exit 1; }
