#!/usr/bin/env bash
# Creates the Python environments of the JupyterHub spawner shim
# (spawner/python) under .cache/, from the pinned requirements in
# spawner/python/requirements/:
#   .cache/venv       JupyterHub 5.x (jh5.txt), the default for tests
#   .cache/venv-jh4   JupyterHub 4.x (jh4.txt)
#   .cache/venv-jh6   JupyterHub 6.x (jh6.txt)
#   .cache/node       configurable-http-proxy (package.json/package-lock.json),
#                     which a real JupyterHub needs: put .cache/node/node_modules/.bin on PATH
#   .cache/venv-schemathesis
#                     schemathesis (schemathesis.txt), which tests the service's
#                     REST API against its openapi.yaml
# The JupyterHub ones have kubedesk-spawner installed editable. An environment whose stamp
# matches its pins is left alone, so a second run takes a second.
#
# Usage: hack/python-env.sh [venv|jh4|jh6|node|schemathesis]...   (default: all of them)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pkg="$root/spawner/python"
reqs="$pkg/requirements"
cache="$root/.cache"
mkdir -p "$cache"

# python3 from PATH (pyenv's 3.11 here), not Debian's /usr/bin/python3.
python=$(command -v python3)

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

make_venv() { # make_venv DIR REQUIREMENTS [--no-shim]
  local dir=$1 req=$2 shim=${3:-} stamp
  stamp=$(stamp_of "$req" "$pkg/pyproject.toml" <("$python" -c 'import sys; print(sys.version)'))
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  echo "Creating $dir from ${req#"$root"/}..." >&2
  "$python" -m venv --clear "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  if [[ $shim != --no-shim ]]; then
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$pkg"
  fi
  echo "$stamp" >"$dir/.stamp"
}

make_node() {
  local dir="$cache/node" stamp
  stamp=$(stamp_of "$reqs/package.json" "$reqs/package-lock.json" <(node --version))
  if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  echo "Installing configurable-http-proxy into $dir..." >&2
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$reqs/package.json" "$reqs/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$stamp" >"$dir/.stamp"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(venv jh4 jh6 node schemathesis)
for t in "${targets[@]}"; do
  case "$t" in
    venv) make_venv "$cache/venv" "$reqs/jh5.txt" ;;
    jh4) make_venv "$cache/venv-jh4" "$reqs/jh4.txt" ;;
    jh6) make_venv "$cache/venv-jh6" "$reqs/jh6.txt" ;;
    node) make_node ;;
    schemathesis) make_venv "$cache/venv-schemathesis" "$reqs/schemathesis.txt" --no-shim ;;
    *) echo "python-env.sh: unknown environment $t (want venv, jh4, jh6, node or schemathesis)" >&2; exit 2 ;;
  esac
done
