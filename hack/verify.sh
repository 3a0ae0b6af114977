#!/usr/bin/env bash
# Fails when formatting, vet or golden files are not what they should be:
# every golden file of the repository is rewritten (make update) and must
# come out as committed.
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

# Golden files: any path with "golden" in it (x.golden, x.golden.yaml,
# testdata/golden/**). Each must lie where hack/update.sh rewrites them, or
# a change to it would never be noticed.
dirs=$(hack/update.sh dirs | paste -sd '|')
outside=$(git ls-files --cached --others --exclude-standard -- '*golden*' | grep -Ev "^($dirs)" || true)
if [[ -n "$outside" ]]; then
  echo "golden files outside the packages hack/update.sh updates (add the package there):" >&2
  echo "$outside" >&2
  exit 1
fi
make update >/dev/null
# Changed, deleted and new golden files alike (a rendered file that is new is
# untracked, which git diff would not show).
stale=$(git status --porcelain --untracked-files=all -- '*golden*')
if [[ -n "$stale" ]]; then
  echo "golden files are stale: run make update and commit" >&2
  echo "$stale" >&2
  git diff -- '*golden*' >&2
  exit 1
fi
