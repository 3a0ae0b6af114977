#!/usr/bin/env bash
# Builds kubedesk-jupyterlab (jupyterlab-ext/): the JupyterLab extension, its
# server extension and the notebook client, one wheel with the prebuilt
# labextension inside.
#   venv   .cache/venv-jupyterlab-ext from jupyterlab-ext/requirements-dev.txt
#          (the desktop's pinned closure plus hatchling and pytest-jupyter),
#          on Debian's /usr/bin/python3 like the desktop's; it provides jlpm
#   node   jupyterlab-ext/node_modules from yarn.lock (jlpm install --immutable)
#   wheel  jlpm build:prod, then the wheel into _output/jupyterlab-ext/
# Each step leaves a stamp of its inputs and is skipped while they match.
# Needs Node 20 on PATH.
#
# Usage: hack/jupyterlab-ext.sh [venv|node|wheel]...   (default: all three)
#        hack/jupyterlab-ext.sh wheel-path              prints the wheel's path
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
ext="$root/jupyterlab-ext"
cache="$root/.cache"
venv="$cache/venv-jupyterlab-ext"
out="$root/_output/jupyterlab-ext"
stamps="$cache/stamps"
mkdir -p "$stamps"

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }
fresh() { [[ -f "$stamps/$1" && "$(cat "$stamps/$1")" == "$2" ]]; }
wheel_path() { echo "$out/kubedesk_jupyterlab-$(node -p "require('$ext/package.json').version")-py3-none-any.whl"; }

make_venv() {
  local python=/usr/bin/python3 stamp
  stamp=$(stamp_of "$ext/requirements-dev.txt" "$root/images/desktop/requirements.txt" \
    "$root/images/desktop/requirements-test.txt" <("$python" -c 'import sys; print(sys.version)'))
  if fresh venv-jupyterlab-ext "$stamp" && [[ -x $venv/bin/jlpm ]]; then
    return 0
  fi
  echo "Creating $venv from jupyterlab-ext/requirements-dev.txt..." >&2
  "$python" -m venv --clear "$venv"
  (cd "$ext" && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --only-binary=:all: --no-deps -r requirements-dev.txt)
  "$venv/bin/python" -m pip check >/dev/null
  echo "$stamp" >"$stamps/venv-jupyterlab-ext"
}

make_node() {
  local stamp
  stamp=$(stamp_of "$ext/package.json" "$ext/yarn.lock" "$ext/.yarnrc.yml" <(node --version))
  if fresh jupyterlab-ext-node "$stamp" && [[ -d $ext/node_modules/typescript ]]; then
    return 0
  fi
  echo "Installing jupyterlab-ext/node_modules (jlpm install)..." >&2
  (cd "$ext" && PATH="$venv/bin:$PATH" jlpm install --immutable >/dev/null)
  echo "$stamp" >"$stamps/jupyterlab-ext-node"
}

make_wheel() {
  local stamp wheel sources
  wheel=$(wheel_path)
  mapfile -t sources < <(cd "$ext" && find src schema style kubedesk_jupyterlab jupyter-config -type f \
    -not -path 'kubedesk_jupyterlab/labextension/*' -not -name '*.pyc' | sort)
  stamp=$(cd "$ext" && stamp_of package.json yarn.lock pyproject.toml tsconfig.json install.json "${sources[@]}")
  if fresh jupyterlab-ext-wheel "$stamp" && [[ -f $wheel ]]; then
    return 0
  fi
  echo "Building $wheel..." >&2
  if ! (cd "$ext" && PATH="$venv/bin:$PATH" jlpm build:prod) >"$cache/jupyterlab-ext-build.log" 2>&1; then
    cat "$cache/jupyterlab-ext-build.log" >&2
    echo "hack/jupyterlab-ext.sh: jlpm build:prod failed" >&2
    exit 1
  fi
  mkdir -p "$out"
  rm -f "$out"/kubedesk_jupyterlab-*.whl
  # No build isolation: the venv has the pinned build backend, and the
  # labextension is already built (the hook skips when it exists).
  "$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps \
    -w "$out" "$ext"
  [[ -f $wheel ]] || { echo "hack/jupyterlab-ext.sh: no $wheel after the build" >&2; exit 1; }
  echo "$stamp" >"$stamps/jupyterlab-ext-wheel"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(venv node wheel)
for t in "${targets[@]}"; do
  case "$t" in
    venv) make_venv ;;
    node) make_node ;;
    wheel) make_wheel ;;
    wheel-path) wheel_path ;;
    *) echo "usage: hack/jupyterlab-ext.sh [venv|node|wheel|wheel-path]..." >&2; exit 2 ;;
  esac
done
