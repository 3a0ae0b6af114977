#!/usr/bin/env bash
# Runs every Go fuzz target of the repository (func FuzzXxx in a _test.go
# file) for FUZZTIME each (default 10s), one after another: go test runs one
# target per package per call. The seed corpus of each target (its f.Add
# calls and any testdata/fuzz/<Target>/ files) also runs in every plain
# `go test`; this explores beyond it. A failing input is written to
# <package>/testdata/fuzz/<Target>/: commit it with the fix, and it stays a
# test case.
#
# Usage: FUZZTIME=5m hack/fuzz.sh [target-regexp]   (make fuzz)
#        FUZZ_PARALLEL (1) workers, FUZZMINIMIZETIME (5s) per new input
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fuzztime=${FUZZTIME:-10s}
only=${1:-.}

status=0
while IFS=: read -r file name; do
  [[ $name =~ $only ]] || continue
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $name for $fuzztime"
  # -parallel 1: the machine is shared; the fuzzer's speed is not the point.
  # The fuzzer minimizes each new interesting input (up to a minute each by
  # default, not counted in its execs: the 0/sec lines); with seeds of
  # several KB (the example catalogs) that would eat a short run.
  if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
    -fuzzminimizetime "${FUZZMINIMIZETIME:-5s}" -parallel "${FUZZ_PARALLEL:-1}"; then
    status=1
  fi
done < <(git grep --untracked -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' |
  sed -E 's/^([^:]+):func (Fuzz[A-Za-z0-9_]*)\(.*/\1:\2/')
exit "$status"
