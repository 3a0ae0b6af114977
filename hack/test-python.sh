#!/usr/bin/env bash
# Runs the JupyterHub shim's Python tests in the environment of each
# supported JupyterHub major version (hack/python-env.sh builds them). The
# end-to-end test against the real service runs from Go (test/e2e); here it
# skips itself, as it has no service to talk to.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/spawner/python"
# This checkout's shim first: the venvs' editable install points at the
# checkout that made them, which a git worktree sharing .cache is not.
export PYTHONPATH="$root/spawner/python/src${PYTHONPATH:+:$PYTHONPATH}"
for venv in venv-jh4 venv venv-jh6; do
  echo "== pytest on $("$root/.cache/$venv/bin/python" -c 'import jupyterhub; print("JupyterHub", jupyterhub.__version__)')"
  "$root/.cache/$venv/bin/python" -m pytest -q -p no:cacheprovider tests
done
