#!/usr/bin/env bash
# Builds every image of images/ without a Docker engine: buildah (chroot
# isolation, overlay storage, layer cache), from base images made here.
#   tools   buildah, mmdebstrap, fuse-overlayfs from Debian's packages
#           (apt-get, needs root; a stamp skips it while they are there)
#   bases   debian      Debian 12 minbase from Debian's packages (mmdebstrap,
#                       bookworm + -updates + -security), tagged as every
#                       `FROM debian:12.*` of the Dockerfiles expects
#           static      the stand-in for gcr.io/distroless/static-debian12:
#                       nonroot, made from the Debian base's files
#                       (hack/images-static.Dockerfile); Dockerfiles whose
#                       `ARG BASE=` defaults to distroless static get
#                       --build-arg BASE=<it>
#   images  every images/**/Dockerfile (testdata excluded), named by
#           images/images.txt or the Dockerfile's `# image:` header lines,
#           in FROM order (the desktop after the launcher it copies from),
#           after what they copy is built (`make image-binaries` for this
#           machine's arch, hack/jupyterlab-ext.sh for the desktop)
#
# Storage (images, layer cache, logs, stamps) lives outside the checkout, so
# every clone on this machine shares it: $KUBEDESK_IMAGES_ROOT, default
# /var/lib/kubedesk-images (root) or ~/.cache/kubedesk-images. Run-time
# state (locks, mounts) in $KUBEDESK_IMAGES_RUNROOT, default /run/kubedesk-images.
# Nothing on the host is reconfigured: buildah gets its own storage and
# registries configuration by flags and environment; builds use the host's
# network (chroot isolation sets up no network, no iptables, no sysctls).
#
# A failed build step fails the script and prints that step's output (the
# whole log is in $KUBEDESK_IMAGES_ROOT/logs/). KUBEDESK_IMAGES_VERBOSE=1
# streams every build's output. KUBEDESK_IMAGES_REFRESH=1 remakes the
# Debian base (new package versions) and rebuilds without the layer cache.
#
# Usage: hack/images.sh [build] [DIR|TAG...]  build the bases and the images
#                                            (default: all; else these and
#                                            what they build FROM)
#        hack/images.sh bases                 the base images only
#        hack/images.sh plan                  the builds, in order: Dockerfile,
#                                            context, tags, flags (tab-separated)
#        hack/images.sh dockerfile FILE DIR TAG  one Dockerfile (any path) with
#                                            context DIR, on the same storage
#                                            and bases
#        hack/images.sh buildah ARGS...       buildah on the project's storage
#                                            (e.g. images, inspect, run)
#        hack/images.sh root                  prints the storage root
set -Eeuo pipefail
# Whatever fails unexpectedly says where.
trap 'rc=$?; echo "hack/images.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit $rc)" >&2; exit $rc' ERR

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) == 0 ]]; then
  store=${KUBEDESK_IMAGES_ROOT:-/var/lib/kubedesk-images}
  runroot=${KUBEDESK_IMAGES_RUNROOT:-/run/kubedesk-images}
else
  store=${KUBEDESK_IMAGES_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/kubedesk-images}
  runroot=${KUBEDESK_IMAGES_RUNROOT:-${XDG_RUNTIME_DIR:-/tmp}/kubedesk-images-$(id -u)}
fi
stamps="$store/stamps"
logs="$store/logs"
tools="buildah mmdebstrap fuse-overlayfs"
debian_base=localhost/kubedesk-base/debian:12
static_base=localhost/kubedesk-base/static-debian12:nonroot
debian_suites="bookworm bookworm-updates bookworm-security"
# Bump to remake the Debian base with the same suites.
debian_recipe="minbase 1"

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

log() { echo "images: $*" >&2; }
die() { log "$*"; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }
fresh() { [[ "${KUBEDESK_IMAGES_REFRESH:-0}" != 1 && -f "$stamps/$1" && "$(cat "$stamps/$1")" == "$2" ]]; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# buildah on the project's storage, with a registries configuration of its
# own: short names (debian:12.11-slim, kubedesk/launcher:0.1.0) mean
# docker.io/..., as they do for Docker, and nothing is ever pulled.
bah() {
  CONTAINERS_REGISTRIES_CONF="$store/registries.conf" \
    buildah --root "$store/storage" --runroot "$runroot" --storage-driver overlay "$@"
}

setup_store() {
  mkdir -p "$store/storage" "$runroot" "$stamps" "$logs"
  local conf='unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"'
  [[ -f "$store/registries.conf" && "$(cat "$store/registries.conf")" == "$conf" ]] ||
    printf '%s\n' "$conf" >"$store/registries.conf"
}

install_tools() {
  local stamp missing=()
  stamp=$(stamp_of <(echo "$tools"))
  for t in buildah mmdebstrap; do command -v "$t" >/dev/null || missing+=("$t"); done
  if fresh tools "$stamp" && ((${#missing[@]} == 0)); then return 0; fi
  [[ $(id -u) == 0 ]] || die "installing $tools needs root (apt-get)"
  log "installing $tools (apt-get)"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $tools >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $tools >/dev/null; }
  echo "$stamp" >"$stamps/tools"
}

have_image() { bah inspect --type image "$1" >/dev/null 2>&1; }

# The Dockerfiles, images/ sorted, testdata excluded.
dockerfiles() {
  (cd "$root" && find images -path images/testdata -prune -o \( -name Dockerfile -o -name '*.Dockerfile' \) -type f -print | LC_ALL=C sort)
}

app_version() { sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$root/helm/kubedesk/Chart.yaml"; }

# FROM references of a Dockerfile, with pre-FROM ARG defaults expanded.
froms() {
  awk '
    toupper($1) == "ARG" && !seen { split($2, kv, "="); a[kv[1]] = kv[2]; gsub(/"/, "", a[kv[1]]) }
    toupper($1) == "FROM" {
      seen = 1; ref = ""
      for (i = 2; i <= NF; i++) if ($i !~ /^--/) { ref = $i; break }
      for (k in a) { gsub("\\$\\{" k "\\}", a[k], ref); gsub("\\$" k, a[k], ref) }
      print ref
    }' "$1"
}

# plan prints one line per build, in build order:
#   Dockerfile <TAB> context <TAB> tag,tag <TAB> flags (space-separated)
plan() {
  local version rows=() df dir rel tags flags line
  version=$(app_version)
  while read -r df; do
    dir=${df%/*}
    rel=${dir#images/}
    local found=0
    # 1. the Dockerfile's own header: `# image: TAG[,TAG] [FLAG...]`
    while read -r line; do
      found=1
      flags=""
      [[ $line != *' '* ]] || flags=${line#* }
      rows+=("$df"$'\t'"${line%% *}"$'\t'"$flags")
    done < <(awk '!/^#/ { exit } sub(/^# image: */, "") { print }' "$root/$df")
    # 2. images/images.txt
    if ((found == 0)) && [[ $df == "$dir/Dockerfile" ]]; then
      while read -r _ tags flags; do
        found=1
        rows+=("$df"$'\t'"$tags"$'\t'"$flags")
      done < <(awk -v d="$rel" '$1 == d' "$root/images/images.txt")
    fi
    # 3. kubedesk/<directory name>:latest
    ((found)) || rows+=("$df"$'\t'"kubedesk/${dir##*/}:latest"$'\t')
  done < <(dockerfiles)

  # Order: a build whose FROM names another build's tag comes after it.
  local done_tags=" " out=() pending=("${rows[@]}") next progress
  while ((${#pending[@]})); do
    next=() progress=0
    for line in "${pending[@]}"; do
      IFS=$'\t' read -r df tags flags <<<"$line"
      local ready=1 ref t
      while read -r ref; do
        for other in "${rows[@]}"; do
          IFS=$'\t' read -r _ otags _ <<<"$other"
          for t in ${otags//,/ }; do
            t=${t//\{appVersion\}/$version}
            if [[ $ref == "$t" || $ref == "docker.io/$t" ]] && [[ $done_tags != *" $t "* ]]; then ready=0; fi
          done
        done
      done < <(froms "$root/$df")
      if ((ready)); then
        out+=("$line") progress=1
        for t in ${tags//,/ }; do done_tags+="${t//\{appVersion\}/$version} "; done
      else
        next+=("$line")
      fi
    done
    ((progress)) || die "the FROM lines of ${next[*]%%$'\t'*} form a cycle"
    pending=("${next[@]}")
  done

  for line in "${out[@]}"; do
    IFS=$'\t' read -r df tags flags <<<"$line"
    local ctx=${df%/*}
    grep -q "build context is the repository root" "$root/$df" && ctx=.
    printf '%s\t%s\t%s\t%s\n' "$df" "$ctx" "${tags//\{appVersion\}/$version}" "$flags"
  done
}

make_debian_base() {
  local stamp tags t
  stamp=$(stamp_of <(echo "$debian_suites $debian_recipe $arch"))
  if ! fresh debian-base "$stamp" || ! have_image "$debian_base"; then
    local start tar c
    start=$(now)
    tar="$store/debian-base.tar"
    log "making the Debian 12 base (mmdebstrap minbase: $debian_suites)"
    local mirrors=() s
    for s in $debian_suites; do
      case $s in
        *-security) mirrors+=("deb http://deb.debian.org/debian-security $s main") ;;
        *) mirrors+=("deb http://deb.debian.org/debian $s main") ;;
      esac
    done
    # shellcheck disable=SC2016 # mmdebstrap's hook shell gets the root as $1
    mmdebstrap --quiet --variant=minbase --mode=root --architectures="$arch" \
      --aptopt='Acquire::Retries "3"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      bookworm "$tar" "${mirrors[@]}" >"$logs/debian-base.log" 2>&1 ||
      { tail -n 40 "$logs/debian-base.log" >&2; die "mmdebstrap failed (log: $logs/debian-base.log)"; }
    c=$(bah from scratch)
    bah add "$c" "$tar" / >/dev/null
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
      --label org.opencontainers.image.description="Debian 12 minbase made by kubedesk's hack/images.sh" "$c"
    bah commit --quiet --rm "$c" "$debian_base" >/dev/null
    rm -f "$tar"
    echo "$stamp" >"$stamps/debian-base"
    log "Debian base made in $(since "$start")s"
  fi
  # Every `FROM debian:12.x...` of the Dockerfiles resolves to it.
  tags=$(while read -r df; do froms "$root/$df"; done < <(dockerfiles; echo hack/images-static.Dockerfile) |
    sed -n 's|^\(docker\.io/\)\{0,1\}\(library/\)\{0,1\}debian:\(12[^@]*\)$|\3|p' | sort -u)
  for t in $tags; do bah tag "$debian_base" "docker.io/library/debian:$t"; done
}

make_static_base() {
  build_one hack/images-static.Dockerfile hack "$static_base" ""
}

# The IDs of the containers builds make (buildah bud names them
# <image>-working-container[-N]; those `buildah from --name` made are not).
build_containers() {
  bah containers -a --notruncate --format '{{.ContainerID}} {{.ContainerName}}' 2>/dev/null |
    awk '$2 ~ /-working-container(-[0-9]+)?$/ { print $1 }' | sort
}

# build_one DOCKERFILE CONTEXT TAGS FLAGS: one buildah bud, its output in
# a log; on failure the failed step's output goes to stderr.
build_one() {
  local df=$1 ctx=$2 tags=$3 flags=$4 args=() t name logf start
  name=${tags%%,*}
  logf="$logs/$(echo "$name" | tr '/:' '__').log"
  for t in ${tags//,/ }; do
    # Docker's short names: kubedesk/x is docker.io/kubedesk/x.
    [[ ${t%%/*} == *[.:]* || ${t%%/*} == localhost ]] || t=docker.io/$t
    args+=(-t "$t")
  done
  # shellcheck disable=SC2206
  args+=($flags)
  if grep -q '^ARG BASE=gcr.io/distroless/static-debian12' "$root/$df"; then
    args+=(--build-arg "BASE=$static_base")
  fi
  if [[ $ctx == . && -f "$root/$df.dockerignore" ]]; then
    args+=(--ignorefile "$df.dockerignore")
  fi
  [[ "${KUBEDESK_IMAGES_REFRESH:-0}" == 1 ]] && args+=(--no-cache)
  if ((${#host_ca[@]})) && grep -q 'pip install' "$root/$df"; then args+=("${host_ca[@]}"); fi
  start=$(now)
  log "building $name ($df)"
  local rc=0 before
  before=$(build_containers)
  if [[ "${KUBEDESK_IMAGES_VERBOSE:-0}" == 1 ]]; then
    (cd "$root" && bah bud --isolation chroot --pull=never --layers -f "$df" "${args[@]}" "$ctx") 2>&1 | tee "$logf" || rc=$?
  else
    (cd "$root" && bah bud --isolation chroot --pull=never --layers -f "$df" "${args[@]}" "$ctx") >"$logf" 2>&1 || rc=$?
  fi
  # buildah 1.28 leaves the container (and its overlay mount) of a stage
  # that only serves COPY --from (the desktop's launcher stage), and those
  # of a failed build: remove what this build left.
  local leftover
  leftover=$(comm -13 <(echo "$before") <(build_containers))
  # shellcheck disable=SC2086
  [[ -z $leftover ]] || bah rm $leftover >/dev/null 2>&1 || true
  if ((rc)); then
    {
      echo "---- $name: the failed step's output (whole log: $logf)"
      awk '/^(\[[0-9]+\/[0-9]+\] )?STEP [0-9]+\/[0-9]+: / { n = NR } { l[NR] = $0 } END { s = n ? n : 1; if (NR - s > 200) s = NR - 200; for (i = s; i <= NR; i++) print l[i] }' "$logf"
      echo "----"
    } >&2
    die "building $name from $df failed"
  fi
  local size
  size=$(bah images --format '{{.Size}}' "${args[1]}" 2>/dev/null | awk 'NR == 1') || size='?'
  log "built $name in $(since "$start")s ($size)"
  printf '%s\t%s\t%s\n' "$name" "$(since "$start")" "$size" >>"$store/last-build.tsv"
}

# This machine's own certificate authorities (a TLS-inspecting egress proxy
# signs PyPI's certificates with one), for the builds' pip only: for a
# Dockerfile that runs `pip install`, the host's bundle and a pip.conf
# naming it are bind-mounted into its RUN steps, so pip inside the build
# trusts what the host trusts. Their content stays out of the image; buildah
# leaves the mount points (an empty /etc/pip.conf and an empty directory
# /run/kubedesk-host-ca). Only when the host has CAs of its own in
# /usr/local/share/ca-certificates; KUBEDESK_IMAGES_HOST_CA=0 turns it off.
host_ca=()
setup_host_ca() {
  host_ca=()
  [[ "${KUBEDESK_IMAGES_HOST_CA:-1}" != 0 && -s /etc/ssl/certs/ca-certificates.crt ]] || return 0
  compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null || compgen -G '/usr/local/share/ca-certificates/*/*.crt' >/dev/null || return 0
  local conf=$'[global]\ncert = /run/kubedesk-host-ca/ca-certificates.crt'
  [[ -f "$store/pip.conf" && "$(cat "$store/pip.conf")" == "$conf" ]] || printf '%s\n' "$conf" >"$store/pip.conf"
  host_ca=(-v /etc/ssl/certs/ca-certificates.crt:/run/kubedesk-host-ca/ca-certificates.crt:ro
    -v "$store/pip.conf:/etc/pip.conf:ro")
}

# The inputs of the builds that are build outputs themselves.
prerequisites() {
  local plan=$1
  local dfs=()
  mapfile -t dfs < <(cut -f1 <<<"$plan")
  if (cd "$root" && grep -q '_output/bin/linux_' "${dfs[@]}"); then
    log "make image-binaries (linux/$arch)"
    make -s -C "$root" "image-binaries-linux_$arch" >&2
  fi
  if grep -q '_output/jupyterlab-ext' <<<"$plan"; then
    log "hack/jupyterlab-ext.sh (the desktop's JupyterLab extension wheel)"
    "$root/hack/jupyterlab-ext.sh" >&2
  fi
}

# select_plan PLAN WANT...: the plan's lines for the given directories (or
# tags), plus the lines they build FROM.
select_plan() {
  local plan=$1 line df tags want keep=" " changed=1
  shift
  while IFS=$'\t' read -r df _ tags _; do
    for want in "$@"; do
      want=${want#images/}
      want=${want%/}
      if [[ $df == "images/$want/Dockerfile" || ",$tags," == *",$want,"* ]]; then keep+="$df|$tags "; fi
    done
  done <<<"$plan"
  [[ $keep != " " ]] || die "no Dockerfile under images/ matches: $*"
  while ((changed)); do
    changed=0
    while IFS=$'\t' read -r df _ tags _; do
      [[ $keep == *" $df|$tags "* ]] || continue
      local ref other odf otags t
      while read -r ref; do
        while IFS=$'\t' read -r odf _ otags _; do
          for t in ${otags//,/ }; do
            if [[ $ref == "$t" || $ref == "docker.io/$t" ]] && [[ $keep != *" $odf|$otags "* ]]; then
              keep+="$odf|$otags " changed=1
            fi
          done
        done <<<"$plan"
      done < <(froms "$root/$df")
    done <<<"$plan"
  done
  while IFS= read -r line; do
    IFS=$'\t' read -r df _ tags _ <<<"$line"
    if [[ $keep == *" $df|$tags "* ]]; then printf '%s\n' "$line"; fi
  done <<<"$plan"
}

# One build at a time per storage root (a second `make images` waits), so a
# build removes only what builds of its own left.
lock_builds() {
  exec 9>"$store/build.lock"
  flock -n 9 || { log "waiting for another build on $store"; flock 9; }
}

build() {
  local plan start df ctx tags flags
  start=$(now)
  setup_store
  lock_builds
  install_tools
  plan=$(plan)
  (($#)) && plan=$(select_plan "$plan" "$@")
  : >"$store/last-build.tsv"
  setup_host_ca
  make_debian_base
  make_static_base
  prerequisites "$plan"
  while IFS=$'\t' read -r df ctx tags flags; do
    build_one "$df" "$ctx" "$tags" "$flags"
  done <<<"$plan"
  log "done in $(since "$start")s; images in $store/storage (hack/images.sh buildah images)"
}

cmd=${1:-build}
case $cmd in
  build) shift $(($# > 0 ? 1 : 0)); build "$@" ;;
  bases) setup_store; lock_builds; install_tools; setup_host_ca; make_debian_base; make_static_base ;;
  plan) plan ;;
  dockerfile)
    (($# == 4)) || die "usage: hack/images.sh dockerfile FILE CONTEXT TAG"
    setup_store; lock_builds; install_tools; setup_host_ca; make_debian_base; make_static_base
    build_one "$(realpath --relative-to="$root" "$2")" "$(realpath --relative-to="$root" "$3")" "$4" "" ;;
  buildah) shift; setup_store; bah "$@" ;;
  root) echo "$store" ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  images/* | */*) build "$@" ;;
  *) if [[ -f "$root/images/$cmd/Dockerfile" ]]; then build "$@"; else die "unknown command $cmd (see hack/images.sh help)"; fi ;;
esac
