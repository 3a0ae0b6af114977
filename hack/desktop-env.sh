#!/usr/bin/env bash
# Installs on this host what the desktop session image has, so that
# images/desktop/entrypoint.sh runs here exactly as in the image:
#   apt      the Debian packages of images/desktop/apt-packages.txt and of
#            the demo's apps, images/apps/*/apt-packages.txt (the
#            Dockerfiles install the same lists; the dev node runs the
#            programs on the host), and hack/test-packages.txt; needs root
#   venv     .cache/venv-desktop from images/desktop/requirements-test.txt
#            (the image's pinned requirements.txt plus pytest), made with
#            Debian's /usr/bin/python3 like the image's venv, and readable by
#            every uid (the entrypoint runs as uid 1000 here); then
#            kubedesk-jupyterlab from its wheel, as the image installs it
#            (hack/jupyterlab-ext.sh builds it; needs Node 20)
#   browser  Debian's chromium and test/browser's node_modules (npm ci),
#            for the Playwright checks
#   examples .cache/desktop-examples: what the image has in
#            /usr/share/kubedesk/examples (examples/notebooks, the sample
#            data of images/desktop/make-sample-data.py), for the dev node
# Each step leaves a stamp of its inputs and is skipped while they match, so
# a second run takes about a second.
#
# Usage: hack/desktop-env.sh [apt|venv|browser|examples]...   (default: all)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
img="$root/images/desktop"
cache="$root/.cache"
stamps="$cache/stamps"
mkdir -p "$stamps"

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }
fresh() { [[ -f "$stamps/$1" && "$(cat "$stamps/$1")" == "$2" ]]; }
apt_updated=0
apt_install() {
  if [[ $(id -u) != 0 ]]; then
    echo "hack/desktop-env.sh: installing Debian packages needs root: $*" >&2
    exit 1
  fi
  if [[ $apt_updated == 0 ]]; then
    apt-get update -qq -o DPkg::Lock::Timeout=600
    apt_updated=1
  fi
  # Other builds on this machine may hold dpkg's lock for a while.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "$@" >/dev/null
}
packages() { grep -v -e '^#' -e '^[[:space:]]*$' "$1"; }

make_apt() {
  local stamp missing=()
  local lists=("$img/apt-packages.txt" "$root"/images/apps/*/apt-packages.txt "$root/hack/test-packages.txt")
  stamp=$(stamp_of "${lists[@]}")
  fresh apt "$stamp" && return 0
  mapfile -t pkgs < <(for l in "${lists[@]}"; do packages "$l"; done)
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "Installing ${#missing[@]} Debian packages for the desktop: ${missing[*]}" >&2
    apt_install "${missing[@]}"
  fi
  echo "$stamp" >"$stamps/apt"
}

make_venv() {
  local dir="$cache/venv-desktop" python=/usr/bin/python3 stamp
  # Debian's python3, as in the image (debian:12 + python3-venv): pyenv's
  # python3 lives under /root (mode 0700), which uid 1000 cannot read.
  stamp=$(stamp_of "$img/requirements.txt" "$img/requirements-test.txt" <("$python" -c 'import sys; print(sys.version)'))
  if ! fresh venv-desktop "$stamp" || [[ ! -x $dir/bin/jupyter-lab ]]; then
    echo "Creating $dir from images/desktop/requirements-test.txt..." >&2
    "$python" -m venv --clear "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
      --only-binary=:all: --no-deps -r "$img/requirements-test.txt"
    "$dir/bin/python" -m pip check >/dev/null
    chmod -R a+rX "$dir"
    echo "$stamp" >"$stamps/venv-desktop"
  fi
  # uid 1000 must reach it: every folder on the way needs o+x.
  chmod a+rx "$cache"
}

# make_jupyterlab_ext installs kubedesk-jupyterlab into .cache/venv-desktop,
# as images/desktop/Dockerfile installs it into the image's venv. The stamp
# names the wheel and the venv's own stamp, since a rebuilt venv loses it.
make_jupyterlab_ext() {
  local dir="$cache/venv-desktop" wheel stamp
  "$root/hack/jupyterlab-ext.sh"
  wheel=$("$root/hack/jupyterlab-ext.sh" wheel-path)
  stamp=$(stamp_of "$wheel" "$stamps/venv-desktop")
  fresh jupyterlab-ext-desktop "$stamp" && return 0
  echo "Installing kubedesk-jupyterlab into $dir..." >&2
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --no-deps --force-reinstall "$wheel"
  "$dir/bin/python" -m pip check >/dev/null
  chmod -R a+rX "$dir"
  echo "$stamp" >"$stamps/jupyterlab-ext-desktop"
}

make_browser() {
  local dir="$root/test/browser" stamp
  stamp=$(stamp_of "$dir/package.json" "$dir/package-lock.json" <(node --version))
  if [[ ! -x /usr/bin/chromium ]]; then
    echo "Installing Debian's chromium..." >&2
    apt_install chromium
  fi
  if ! fresh browser "$stamp" || [[ ! -d $dir/node_modules/playwright-core ]]; then
    echo "Installing test/browser (npm ci)..." >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$stamp" >"$stamps/browser"
  fi
}

make_examples() {
  local dir="$cache/desktop-examples" stamp
  stamp=$(stamp_of "$img/make-sample-data.py" "$root"/examples/notebooks/*.ipynb)
  fresh desktop-examples "$stamp" && [[ -d $dir ]] && return 0
  rm -rf "$dir"
  mkdir -p "$dir/notebooks"
  cp "$root"/examples/notebooks/*.ipynb "$dir/notebooks/"
  /usr/bin/python3 "$img/make-sample-data.py" "$dir/data"
  chmod -R a+rX "$dir"
  echo "$stamp" >"$stamps/desktop-examples"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(apt venv browser examples)
for t in "${targets[@]}"; do
  case "$t" in
    apt) make_apt ;;
    venv) make_venv; make_jupyterlab_ext ;;
    browser) make_browser ;;
    examples) make_examples ;;
    *) echo "usage: hack/desktop-env.sh [apt|venv|browser|examples]..." >&2; exit 2 ;;
  esac
done
