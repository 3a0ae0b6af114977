#!/usr/bin/env bash
# Installs the linters hack/verify.sh runs, each pinned, cached under .cache/
# and left alone while its stamp matches, so a second run takes a moment:
#   golangci  golangci-lint, built from its Go module into .cache/bin (about
#             four minutes the first time on two cores); its settings are
#             .golangci.yml
#   ruff      .cache/venv-lint from hack/requirements-lint.txt; its settings
#             are in each pyproject.toml
#   eslint    ESLint, Prettier and stylelint: jupyterlab-ext/node_modules
#             from its yarn.lock (hack/jupyterlab-ext.sh venv node); their
#             settings are jupyterlab-ext/eslint.config.mjs and package.json,
#             as the JupyterLab extension template has them
#   shell     Debian's shellcheck, listed in hack/test-packages.txt; when
#             missing, installed with the other test packages
#             (hack/desktop-env.sh apt)
#
# Usage: hack/lint-tools.sh [golangci|ruff|eslint|shell]...   (default: all)
#        hack/lint-tools.sh path TOOL    prints the tool's path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
bin="$cache/bin"
venv="$cache/venv-lint"
golangci_version=v2.15.0
mkdir -p "$bin"

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

make_golangci() {
  local stamp
  # go install builds with the toolchain at hand; golangci-lint must be
  # built by a Go at least as new as the code it reads.
  stamp=$(stamp_of <(echo "$golangci_version $(go env GOVERSION)"))
  if [[ -x $bin/golangci-lint && -f $bin/.golangci-stamp && "$(cat "$bin/.golangci-stamp")" == "$stamp" ]]; then
    return 0
  fi
  echo "Building golangci-lint $golangci_version from its Go module (about four minutes the first time)..." >&2
  GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags="-s -w -X main.version=${golangci_version#v}" \
    "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$golangci_version"
  echo "$stamp" >"$bin/.golangci-stamp"
}

make_ruff() {
  local req="$root/hack/requirements-lint.txt" python stamp
  python=$(command -v python3)
  stamp=$(stamp_of "$req" <("$python" -c 'import sys; print(sys.version)'))
  if [[ -x $venv/bin/ruff && -f $venv/.stamp && "$(cat "$venv/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  echo "Creating $venv from hack/requirements-lint.txt..." >&2
  "$python" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: --no-deps -r "$req"
  echo "$stamp" >"$venv/.stamp"
}

make_eslint() { "$root/hack/jupyterlab-ext.sh" venv node; }

make_shellcheck() {
  command -v shellcheck >/dev/null || "$root/hack/desktop-env.sh" apt
}

tool_path() {
  case "$1" in
    golangci) echo "$bin/golangci-lint" ;;
    ruff) echo "$venv/bin/ruff" ;;
    eslint) echo "$root/jupyterlab-ext/node_modules/.bin/eslint" ;;
    shell) command -v shellcheck ;;
    *) echo "lint-tools.sh: no tool $1" >&2; exit 2 ;;
  esac
}

if [[ ${1:-} == path ]]; then
  tool_path "${2:?usage: hack/lint-tools.sh path TOOL}"
  exit 0
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(golangci ruff eslint shell)
for t in "${targets[@]}"; do
  case "$t" in
    golangci) make_golangci ;;
    ruff) make_ruff ;;
    eslint) make_eslint ;;
    shell) make_shellcheck ;;
    *) echo "usage: hack/lint-tools.sh [golangci|ruff|eslint|shell]... | path TOOL" >&2; exit 2 ;;
  esac
done
