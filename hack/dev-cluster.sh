#!/usr/bin/env bash
# Runs kubedesk's dev cluster: a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) with kwok standing in for kubelets,
# all as plain processes on this machine (no Docker here, so kind cannot run).
# Beside kwok's fake nodes runs one real one, devnode-0 (hack/devnode): it
# runs the pods bound to it as processes here. Pods land there only if they
# tolerate kubedesk.dev/devnode=true:NoSchedule (and select the label
# kubedesk.dev/devnode=true to be sure to).
#
#   hack/dev-cluster.sh up      start the cluster, or reuse it if it runs
#   hack/dev-cluster.sh down    delete it and its state
#   hack/dev-cluster.sh status  say whether it runs; list its nodes
#   hack/dev-cluster.sh env     print `export KUBECONFIG=...` (eval it)
#
# Environment:
#   KUBEDESK_CLUSTER       cluster name (default kubedesk)
#   KUBEDESK_CLUSTER_FAST  1: components run without client QPS limits (for
#                          benchmarks: a 1000-pod wave is Ready in ~9 s instead
#                          of ~18 s); 0: with the default limits, as a real
#                          cluster has. Unset: either; an existing cluster is
#                          reused as it is and a new one gets the limits. Set
#                          and different from the running cluster: `up` fails
#                          rather than silently measure the wrong thing.
#
# Every binary comes from .cache/bin (hack/cluster-tools.sh builds them);
# kwokctl is told each path so it never downloads anything. State lives under
# .cache/kwok (KWOK_WORKDIR), not in ~/.kwok, and ~/.kube/config is not touched.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.cache/bin"
# The real path: the cluster's processes are recognised by it (see alive),
# and two checkouts that share one .cache (a git worktree whose .cache links
# to another's) must see one cluster, not recreate each other's.
mkdir -p "$root/.cache/kwok"
export KWOK_WORKDIR
KWOK_WORKDIR=$(cd "$root/.cache/kwok" && pwd -P)
# kwokctl has no flag for kubectl (it runs it for `kwokctl kubectl` and
# snapshots); without this it would try to download one.
export KWOK_KUBECTL_BINARY="$bin/kubectl"
cluster=${KUBEDESK_CLUSTER:-kubedesk}
cluster_dir="$KWOK_WORKDIR/clusters/$cluster"
kubeconfig="$cluster_dir/kubeconfig.yaml"
fast=${KUBEDESK_CLUSTER_FAST:-}

# Pods get IPs from 127.42.0.0/16: loopback addresses are all local on Linux,
# so a responder listening on 0.0.0.0:8888 answers at every pod's IP.
# (The dev node gives its pods 127.43.0.0/16.)
pod_cidr=127.42.0.0/16

# kwok must manage only its own fake nodes (annotated kwok.x-k8s.io/node=fake,
# see apply_nodes), never the dev node: by default kwokctl makes kwok manage
# every node, and it would mark the dev node's pods Running with kwok IPs.
# kwokctl appends extra args after its own --manage-all-nodes=true, and the
# last value of a flag wins.
kwok_node_selector=kwok.x-k8s.io/node=fake

# How long `up` waits for the control plane and for the nodes; a cold start
# takes ~5 s, a start on a loaded 2-core machine much longer.
ready_timeout=180s

# 9>&-: kwokctl starts the cluster's daemons, which would otherwise inherit
# the lock's descriptor (see below) and hold the lock for as long as the
# cluster runs, so every later `up` would wait forever.
# -v WARN: kwokctl's progress lines (JSON when not on a terminal) drown test
# output; this script says what it does, and the components' own logs are in
# .cache/kwok/clusters/<name>/logs.
kwokctl() { "$bin/kwokctl" -v WARN "$@" 9>&-; }
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

log() { echo "dev-cluster: $*" >&2; }

exists() { [[ -f "$cluster_dir/kwok.yaml" ]]; }

# Whether every component kwokctl started (it keeps their pids) still runs.
# The cmdline check guards against a pid reused after a reboot.
alive() {
  local f pid cmd n=0
  for f in "$cluster_dir"/pids/*.pid; do
    [[ -f "$f" ]] || return 1
    pid=$(<"$f")
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ "$cmd" == *"$cluster_dir"* ]] || return 1
    n=$((n + 1))
  done
  ((n > 0))
}

# The apiserver answers /readyz once etcd and its post-start hooks are done.
# Liveness is judged by the processes, not by /readyz: an apiserver slow
# under a benchmark's load must not look dead, or `up` would recreate the
# cluster under the feet of the tests using it.
wait_ready() {
  local deadline=$((SECONDS + ${ready_timeout%s}))
  until kubectl --request-timeout=5s get --raw /readyz >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "cluster $cluster: apiserver not ready after $ready_timeout"; return 1; }
    sleep 1
  done
}

running() { exists && alive; }

# kwokctl records the options a cluster was created with in kwok.yaml.
is_fast() { grep -q 'disableQPSLimits: true' "$cluster_dir/kwok.yaml"; }

# Whether kwok was told to leave the dev node alone (clusters made before the
# dev node existed were not).
kwok_selective() { grep -q -- "--manage-nodes-with-annotation-selector=$kwok_node_selector" "$cluster_dir/kwok.yaml"; }

check_mode() {
  case "$fast" in
    1) is_fast || { log "cluster $cluster runs with QPS limits but KUBEDESK_CLUSTER_FAST=1; run '$0 down' first or pick another KUBEDESK_CLUSTER"; exit 1; } ;;
    0) ! is_fast || { log "cluster $cluster runs without QPS limits but KUBEDESK_CLUSTER_FAST=0; run '$0 down' first or pick another KUBEDESK_CLUSTER"; exit 1; } ;;
  esac
}

create() {
  local args=(
    --name "$cluster"
    --runtime binary
    --etcd-binary "$bin/etcd"
    --kube-apiserver-binary "$bin/kube-apiserver"
    --kube-controller-manager-binary "$bin/kube-controller-manager"
    --kube-scheduler-binary "$bin/kube-scheduler"
    --kwok-controller-binary "$bin/kwok"
    # The garbage collector in kube-controller-manager deletes what a
    # session pod owns once the pod is gone; kubedesk relies on it.
    --enable kube-controller-manager
    --extra-args "kwok-controller=cidr=$pod_cidr"
    --extra-args "kwok-controller=manage-all-nodes=false"
    --extra-args "kwok-controller=manage-nodes-with-annotation-selector=$kwok_node_selector"
    # Empty: keep the kubeconfig in the cluster dir, not in ~/.kube/config.
    --kubeconfig ""
    --quiet-pull
    --wait "$ready_timeout"
    --timeout "$ready_timeout"
  )
  if [[ "$fast" == 1 ]]; then
    args+=(--disable-qps-limits)
  fi
  kwokctl create cluster "${args[@]}"
}

# Nodes: four roomy general nodes so that scale tests are limited by the
# control plane, not by capacity, and one GPU node whose taint keeps ordinary
# sessions off it (GPU profiles must tolerate it and select the label).
# kwok manages every node in a kwokctl binary cluster; the annotation is what
# kwok's own examples use and keeps the nodes recognisable as fake.
apply_nodes() {
  local nodes="" i
  node() { # name, extra labels (yaml lines), extra capacity, taints block
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
$2
spec:
$4
status:
  capacity: &cap
    cpu: "64"
    memory: 512Gi
    pods: "1000"
$3
  allocatable: *cap
EOF
  }
  for i in 0 1 2 3; do
    nodes+=$(node "kwok-node-$i" "" "" "  taints: []")$'\n'
  done
  nodes+=$(node kwok-gpu-0 \
    "    kubedesk.dev/gpu: \"true\"" \
    "    nvidia.com/gpu: \"4\"" \
    "  taints:
  - key: nvidia.com/gpu
    value: present
    effect: NoSchedule")$'\n'
  # Server-side apply: idempotent on reuse, and it also sets status (kwok
  # would otherwise leave capacity empty and the scheduler would place nothing).
  printf '%s' "$nodes" | kubectl apply --server-side --force-conflicts -f - >/dev/null
  printf '%s' "$nodes" | kubectl apply --server-side --force-conflicts --subresource=status -f - >/dev/null
  kubectl wait --for=condition=Ready node --all --timeout="$ready_timeout" >/dev/null
}

# The dev provisioner binds PVCs to hostPath volumes (kwok has no storage);
# it runs beside the cluster for as long as the cluster does.
provisioner_pid="$cluster_dir/devprovisioner.pid"

provisioner_alive() { [[ -f "$provisioner_pid" ]] && kill -0 "$(cat "$provisioner_pid")" 2>/dev/null; }

start_provisioner() {
  (cd "$root" && go build -o "$bin/devprovisioner" ./hack/devprovisioner)
  if provisioner_alive; then
    return
  fi
  # fd 9 holds the up/down lock; the daemon must not inherit it.
  nohup "$bin/devprovisioner" --kubeconfig "$kubeconfig" --root "$root/.cache/volumes/$cluster" \
    >"$cluster_dir/logs/devprovisioner.log" 2>&1 9>&- &
  echo $! >"$provisioner_pid"
}

stop_provisioner() {
  if provisioner_alive; then
    kill "$(cat "$provisioner_pid")" 2>/dev/null || true
  fi
  rm -f "$provisioner_pid"
}

# The dev node (hack/devnode) runs pods bound to devnode-0 as processes on
# this machine, for as long as the cluster runs. It is rebuilt on every `up`
# and restarted only when the binary changed (which stops the pods on it).
devnode_pid="$cluster_dir/devnode.pid"
devnode_log() { echo "$cluster_dir/logs/devnode.log"; }

# The launcher agent and its CLI, for the desktop pods on the dev node:
# hack/devnode/images.yaml puts .cache/desktop-bin on kubedesk/desktop's PATH
# (the image has them in /usr/local/bin). Rebuilt on every `up`; uid 1000
# runs them.
build_desktop_bin() {
  local dest="$root/.cache/desktop-bin" tmp
  tmp=$(mktemp -d)
  (cd "$root" && go build -o "$tmp/" ./cmd/kubedesk-launcher ./cmd/launch)
  mkdir -p "$dest"
  # install unlinks before it writes: a running agent keeps its old binary.
  install -m 0755 "$tmp/kubedesk-launcher" "$tmp/launch" "$dest/"
  rm -rf "$tmp"
  chmod a+rx "$root/.cache" "$dest"
}

devnode_alive() { [[ -f "$devnode_pid" ]] && kill -0 "$(cat "$devnode_pid")" 2>/dev/null; }

start_devnode() {
  (cd "$root" && go build -o "$bin/devnode" ./hack/devnode)
  build_desktop_bin
  if devnode_alive; then
    # /proc/PID/exe is the binary it runs, even if replaced since.
    if cmp -s "/proc/$(cat "$devnode_pid")/exe" "$bin/devnode"; then
      return
    fi
    log "dev node binary changed; restarting it (its pods stop)"
    stop_devnode
  fi
  # fd 9 holds the up/down lock; the daemon must not inherit it.
  nohup "$bin/devnode" --kubeconfig "$kubeconfig" --repo "$root" --node-name devnode-0 \
    >>"$(devnode_log)" 2>&1 9>&- &
  echo $! >"$devnode_pid"
  # It registers devnode-0 within a second; `kubectl wait` fails at once on
  # a node that does not exist yet.
  local deadline=$((SECONDS + ${ready_timeout%s}))
  until kubectl get node devnode-0 >/dev/null 2>&1; do
    if ! devnode_alive || ((SECONDS >= deadline)); then
      log "dev node did not register devnode-0; see $(devnode_log)"
      return 1
    fi
    sleep 0.2
  done
  kubectl wait --for=condition=Ready node/devnode-0 --timeout="$ready_timeout" >/dev/null
}

# stop_devnode waits for the dev node to stop its pods' processes (SIGTERM,
# their grace period up to 10 s, SIGKILL) before the cluster goes away.
stop_devnode() {
  if devnode_alive; then
    local pid i
    pid=$(cat "$devnode_pid")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dev node did not stop in 30 s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$devnode_pid"
}

up() {
  "$root/hack/cluster-tools.sh"
  local start=$SECONDS
  if running && ! kwok_selective; then
    # Made before the dev node existed: kwok would take over devnode-0.
    # Recreating takes ~7 s (and drops what tests left in it).
    log "cluster $cluster lets kwok manage every node; recreating it so that kwok leaves the dev node alone"
    if [[ -z "$fast" ]]; then
      fast=$(is_fast && echo 1 || echo 0)
    fi
    stop_devnode
    stop_provisioner
    kwokctl delete cluster --name "$cluster"
    create
  elif running; then
    check_mode
    wait_ready
    log "reusing running cluster $cluster"
  elif exists; then
    # Left over from an earlier run whose processes are gone (a reboot, an
    # ended session), or one of whose components died. Recreate rather than `kwokctl start cluster`: a
    # restarted kwok-controller gets a new identity and leaves the nodes
    # alone until the dead one's node leases expire (200 s), and the old
    # state (test namespaces, pods) is worth nothing. Creating takes ~7 s.
    log "cluster $cluster is not running; recreating it"
    if [[ -z "$fast" ]]; then
      fast=$(is_fast && echo 1 || echo 0) # keep the mode it was made with
    fi
    stop_devnode
    stop_provisioner
    kwokctl delete cluster --name "$cluster"
    create
  else
    log "creating cluster $cluster (fast=${fast:-0})"
    create
  fi
  apply_nodes
  mkdir -p "$cluster_dir/logs"
  start_provisioner
  start_devnode
  log "cluster $cluster ready in $((SECONDS - start)) s; KUBECONFIG=$kubeconfig"
}

down() {
  stop_devnode
  stop_provisioner
  if exists; then
    kwokctl delete cluster --name "$cluster"
  else
    log "no cluster $cluster"
  fi
}

status() {
  if running && kubectl --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
    echo "cluster $cluster: running ($(is_fast && echo 'no QPS limits' || echo 'default QPS limits'))"
    echo "KUBECONFIG=$kubeconfig"
    if devnode_alive; then
      echo "dev node devnode-0: running (pid $(cat "$devnode_pid"), log $(devnode_log))"
    else
      echo "dev node devnode-0: not running"
    fi
    kubectl get nodes -o wide
  elif exists; then
    echo "cluster $cluster: not running (or not ready)"
    return 1
  else
    echo "cluster $cluster: absent"
    return 1
  fi
}

cmd=${1:-}
case "$cmd" in
  up|down)
    # One `up`/`down` at a time across processes: several test binaries start
    # at once and each runs `up`; the first creates, the rest wait and reuse.
    mkdir -p "$KWOK_WORKDIR"
    # The wait allows for another `up` doing the first tools build (~11 min).
    exec 9>"$KWOK_WORKDIR/.up.lock"
    flock -w 1200 9 || { log "another $0 up/down has held $KWOK_WORKDIR/.up.lock for 20 minutes"; exit 1; }
    "$cmd"
    ;;
  status) status ;;
  env) echo "export KUBECONFIG=$kubeconfig" ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
