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
# Golden files: *.golden* (the service's, the chart's) and the trees under
# testdata/golden/ (the desktop menu's), changed or new.
golden=('*.golden*' '**/testdata/golden/**')
stale=$(git ls-files --others --exclude-standard -- "${golden[@]}")
if ! git diff --exit-code -- "${golden[@]}" || [[ -n "$stale" ]]; then
  [[ -z "$stale" ]] || echo "new golden files: $stale" >&2
  echo "golden files are stale: run make update and commit" >&2
  exit 1
fi
