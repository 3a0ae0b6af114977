#!/usr/bin/env bash
# Creates the Python environments of the hub benchmark (test/benchhub) under
# .cache/, apart from the test environments of hack/python-env.sh:
#   .cache/venv-bench-jh5   latest JupyterHub 5.x
#   .cache/venv-bench-jh6   latest JupyterHub 6.x
# each with the latest jupyterhub-kubespawner, py-spy (hub profiles),
# matplotlib (the report's plot) and kubedesk-spawner (spawner/python,
# editable). configurable-http-proxy comes from .cache/node, which
# hack/python-env.sh node installs from its pinned package-lock.json.
#
# The versions are "latest of the major" on purpose: the benchmark measures
# what an operator installs today. Each environment records what it got in
# versions.txt, which the report quotes. An environment whose stamp matches
# this script and the Python version is left alone; BENCH_ENV_REFRESH=1
# rebuilds it (to pick up a new release).
#
# Usage: hack/bench-env.sh [jh5|jh6|node]...   (default: all of them)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
pkg="$root/spawner/python"
mkdir -p "$cache"
python=$(command -v python3)

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

make_venv() { # make_venv DIR JUPYTERHUB-SPEC
  local dir=$1 hub=$2 stamp
  stamp=$(stamp_of "$0" "$pkg/pyproject.toml" <(echo "$hub") <("$python" -c 'import sys; print(sys.version)'))
  if [[ "${BENCH_ENV_REFRESH:-0}" != 1 && -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  echo "Creating $dir ($hub)..." >&2
  "$python" -m venv --clear "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$hub" jupyterhub-kubespawner py-spy matplotlib httpx
  # The shim's own dependencies are JupyterHub's and httpx, installed above.
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$pkg"
  "$dir/bin/python" -m pip freeze --exclude-editable |
    grep -iE '^(jupyterhub|jupyterhub-kubespawner|kubernetes[-_]asyncio|tornado|sqlalchemy|py-spy|httpx)==' >"$dir/versions.txt"
  "$dir/bin/python" --version >>"$dir/versions.txt"
  echo "$stamp" >"$dir/.stamp"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(jh5 jh6 node)
for t in "${targets[@]}"; do
  case "$t" in
    jh5) make_venv "$cache/venv-bench-jh5" 'jupyterhub>=5,<6' ;;
    jh6) make_venv "$cache/venv-bench-jh6" 'jupyterhub>=6,<7' ;;
    node) "$root/hack/python-env.sh" node ;;
    *) echo "bench-env.sh: unknown environment $t (want jh5, jh6 or node)" >&2; exit 2 ;;
  esac
done
