#!/usr/bin/env bash
# Unit tests of kubedesk-jupyterlab (jupyterlab-ext/): the TypeScript type
# check and jest, then pytest (the notebook client, and the server extension
# in a real Jupyter server against a fake launcher agent on a Unix socket).
# The end-to-end test in JupyterLab on the dev cluster is
# test/e2e/jupyterlab_test.go.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
"$root/hack/jupyterlab-ext.sh" venv node
venv="$root/.cache/venv-jupyterlab-ext"
cd "$root/jupyterlab-ext"
PATH="$venv/bin:$PATH" jlpm tsc --noEmit
PATH="$venv/bin:$PATH" jlpm test
"$venv/bin/python" -m pytest -q
