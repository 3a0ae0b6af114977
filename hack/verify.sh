#!/usr/bin/env bash
# make verify (and the first step of make test): fails when the code is not
# as the house keeps it. Each check runs even when an earlier one failed,
# and a summary says which failed and how long each took:
#   gofmt          every Go file of the repository
#   go vet         ./...
#   golangci-lint  ./... with .golangci.yml (depguard, importas, ...)
#   ruff           ruff check and ruff format --check over all the Python
#                  (ruff.toml, the packages' pyproject.toml)
#   shell scripts  shellcheck over every *.sh and every script whose #! is
#                  sh or bash
#   jupyterlab-ext jlpm stylelint:check, prettier:check, eslint:check
#                  (warnings fail too)
#   package docs   go test ./test/layout (docs name what each package owns,
#                  cited paths exist, the agent links no Kubernetes)
#   golden files   every golden file of the repository is rewritten (make
#                  update) and must come out as committed
# The linters come from hack/lint-tools.sh (pinned, cached in .cache/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$root/hack/lint-tools.sh"
golangci=$(hack/lint-tools.sh path golangci)
ruff=$(hack/lint-tools.sh path ruff)
jlpm_path="$root/.cache/venv-jupyterlab-ext/bin:$PATH"
export RUFF_CACHE_DIR="$root/.cache/ruff"

# The repository's files: tracked, and new ones not ignored.
files() { git ls-files --cached --others --exclude-standard -- "$@" | while read -r f; do [[ -f $f ]] && echo "$f"; done; }

failed=()
summary=()
# check NAME COMMAND...: runs one check, remembers whether it failed.
check() {
  local name=$1 start=$SECONDS
  shift
  echo "verify: $name" >&2
  if "$@"; then
    summary+=("$name: ok ($((SECONDS - start)) s)")
  else
    summary+=("$name: FAILED ($((SECONDS - start)) s)")
    failed+=("$name")
  fi
}

gofmt_check() {
  local unformatted gofiles
  mapfile -t gofiles < <(files '*.go')
  unformatted=$(gofmt -l "${gofiles[@]}")
  if [[ -n "$unformatted" ]]; then
    echo "gofmt needed on (gofmt -w):" >&2
    echo "$unformatted" >&2
    return 1
  fi
}

ruff_check() {
  local rc=0
  "$ruff" check --quiet . || rc=1
  "$ruff" format --check --quiet . || { echo "ruff format needed (.cache/venv-lint/bin/ruff format)" >&2; rc=1; }
  return $rc
}

# shell_scripts: *.sh, and the files whose first line is a #! of sh or bash.
shell_scripts() {
  files | tr '\n' '\0' | xargs -0 awk 'FNR == 1 { if (FILENAME ~ /\.sh$/ || /^#!.*[\/ ](ba)?sh$/) print FILENAME; nextfile }'
}

shellcheck_check() {
  local scripts
  mapfile -t scripts < <(shell_scripts)
  shellcheck "${scripts[@]}"
}

# The template's jlpm lint:check, each of its three run even when one fails.
jupyterlab_ext_check() {
  (
    cd jupyterlab-ext
    export PATH=$jlpm_path
    rc=0
    jlpm stylelint:check || rc=1
    jlpm prettier:check --log-level warn || { echo "Prettier needed (cd jupyterlab-ext && jlpm prettier)" >&2; rc=1; }
    jlpm eslint:check --max-warnings 0 || rc=1
    exit $rc
  )
}

golden_check() {
  # Golden files: any path with "golden" in it (x.golden, x.golden.yaml,
  # testdata/golden/**). Each must lie where hack/update.sh rewrites them,
  # or a change to it would never be noticed.
  local dirs outside stale
  dirs=$(hack/update.sh dirs | paste -sd '|')
  outside=$(git ls-files --cached --others --exclude-standard -- '*golden*' | grep -Ev "^($dirs)" || true)
  if [[ -n "$outside" ]]; then
    echo "golden files outside the packages hack/update.sh updates (add the package there):" >&2
    echo "$outside" >&2
    return 1
  fi
  make --no-print-directory update >/dev/null || return 1
  # Changed, deleted and new golden files alike (a rendered file that is
  # new is untracked, which git diff would not show).
  stale=$(git status --porcelain --untracked-files=all -- '*golden*')
  if [[ -n "$stale" ]]; then
    echo "golden files are stale: run make update and commit" >&2
    echo "$stale" >&2
    git diff -- '*golden*' >&2
    return 1
  fi
}

start=$SECONDS
check gofmt gofmt_check
check "go vet" go vet ./...
check golangci-lint "$golangci" run ./...
check ruff ruff_check
check shellcheck shellcheck_check
check jupyterlab-ext jupyterlab_ext_check
check "package docs" go test -short -count=1 ./test/layout/
check "golden files" golden_check

printf 'verify: %s\n' "${summary[@]}" >&2
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "verify: failed: ${failed[*]} ($((SECONDS - start)) s)" >&2
  exit 1
fi
echo "verify: all checks passed ($((SECONDS - start)) s)" >&2
