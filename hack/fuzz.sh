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

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
while IFS=: read -r file name; do
  [[ $name =~ $only ]] || continue
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $name for $fuzztime"
  # -parallel 1: the machine is shared; the fuzzer's speed is not the point.
  # The fuzzer minimizes each new interesting input (up to a minute each by
  # default, not counted in its execs: the 0/sec lines); with seeds of
  # several KB (the example catalogs) that would eat a short run.
  if go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
    -fuzzminimizetime "${FUZZMINIMIZETIME:-5s}" -parallel "${FUZZ_PARALLEL:-1}" 2>&1 | tee "$log"; then
    continue
  fi
  # Go 1.26's fuzzing coordinator can report its own -fuzztime deadline as
  # the target's failure when a worker is mid-call as the clock runs out
  # (go.dev/issue/75804, fixed in Go 1.27): "--- FAIL" followed by "context
  # deadline exceeded" and no failing input. A real failure always writes
  # its input; only that exact shape is let through, and said.
  if ! grep -q 'Failing input written to' "$log" &&
    grep -A1 -E "^--- FAIL: ${name} " "$log" | grep -qx '    context deadline exceeded'; then
    echo "fuzz: $name: the coordinator's deadline race (go.dev/issue/75804), no failing input: not a failure"
    continue
  fi
  status=1
done < <(git grep --untracked -E '^func Fuzz[A-Za-z0-9_]*\(' -- '*_test.go' |
  sed -E 's/^([^:]+):func (Fuzz[A-Za-z0-9_]*)\(.*/\1:\2/')
exit "$status"
