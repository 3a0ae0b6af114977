#!/usr/bin/env bash
# Runs a real node in the dev cluster: kubelet + containerd + runc + CNI
# bridge, kube-proxy for Services and kube-router's NetworkPolicy controller,
# with the images `make images` built imported into containerd. It joins the
# control plane of hack/dev-cluster.sh as node realnode-0, labelled and
# tainted kubedesk.dev/realnode=true (NoSchedule): only pods that tolerate the
# taint run there; kwok's nodes stay for scale work.
#
#   hack/real-node.sh up       start it (or reuse it), import the images
#                              built so far
#   hack/real-node.sh down     stop it; the host is as it was before `up`
#   hack/real-node.sh status   say whether it runs
#   hack/real-node.sh packages install the Debian packages it needs (make deps)
#   hack/real-node.sh import [IMAGE...]  import images from `make images`'
#                              storage into containerd (default: every
#                              image it builds, and the pause image)
#   hack/real-node.sh ctr ARGS...     containerd's ctr, in the node's namespace
#   hack/real-node.sh exec CMD...     a command in the node's namespaces
#   hack/real-node.sh env      print the node's addresses as shell variables
#
# It changes nothing on the host that outlives `down` (hack/real-node.sh and
# test/realnode assert it): everything with a pod, node or Service address
# lives in a network namespace of its own, joined to the host by one veth pair
# (host 10.250.0.1/30, node 10.250.0.2/30) with no route or NAT beyond the
# host: the host's ip_forward stays 0, and the node's namespace routes only to
# the host's own address (for the API server). The node's daemons also run
# in a private mount namespace in which files holding the kernel tunables the
# kubelet wants are bind-mounted over /proc/sys, so it finds them set and
# writes nothing to the host's. The API server reaches the kubelet at the
# node's address (hack/dev-cluster.sh sets its kubelet flags).
#
# Why kube-router and not sigs.k8s.io/kube-network-policies: the latter
# queues packets with nftables' `queue` statement, which this kernel lacks
# (CONFIG_NFT_QUEUE is not set); kube-router enforces policies with iptables
# and ipsets, which it has. kube-router v2.1.0 (the version the module proxy
# serves here) has reported security flaws; it runs only inside this
# namespace, which nothing outside the machine can reach, and is not shipped.
set -Eeuo pipefail
# shellcheck disable=SC2154 # rc is assigned at the start of the trap's own string
trap 'rc=$?; echo "hack/real-node.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit $rc)" >&2; exit $rc' ERR

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.cache/bin"
cluster=${KUBEDESK_CLUSTER:-kubedesk}
cluster_dir="$root/.cache/kwok/clusters/$cluster"
admin_kubeconfig="$cluster_dir/kubeconfig.yaml"
pki="$cluster_dir/pki"
# Run-time state (pids, sockets, configs, logs) of this clone's node.
state="$root/.cache/realnode"
# containerd's content and snapshots outlive the node, shared by every clone
# on this machine like the image storage of hack/images.sh.
if [[ $(id -u) == 0 ]]; then
  data=${KUBEDESK_REALNODE_ROOT:-/var/lib/kubedesk-realnode}
else
  echo "hack/real-node.sh: a real node needs root (network and mount namespaces, containerd)" >&2
  exit 1
fi

node=realnode-0
host_veth=kd-realnode0
host_ip=10.250.0.1
node_ip=10.250.0.2
pod_cidr=10.244.0.0/24
# The API server's Service range (kwokctl's default) and its own address on
# the host, to which the node's namespace routes through the veth.
service_cidr=10.0.0.0/24
pause_image=localhost/kubedesk/pause:3.10
# nftables: iptables here is Debian's nft backend, and `nft list ruleset` is
# how test/realnode sees that the host's rules are as they were.
packages="containerd runc containernetworking-plugins iptables ipset conntrack nftables"

log() { echo "real-node: $*" >&2; }
die() { log "$*"; exit 1; }

holder_pid() { [[ -f "$state/holder.pid" ]] && cat "$state/holder.pid"; }
holder_alive() {
  local pid
  pid=$(holder_pid) || return 1
  [[ -d /proc/$pid ]] && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"kubedesk-realnode-holder"* ]]
}
# innode CMD... runs a command in the node's network and mount namespaces.
innode() { nsenter --target "$(holder_pid)" --net --mount -- "$@"; }

daemon_alive() { [[ -f "$state/$1.pid" ]] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

# start_daemon NAME CMD...: a daemon in the node's namespaces, its output in
# $state/logs/NAME.log. fd 9 (the lock) is not inherited, and it runs in a
# session of its own: a Ctrl-C to whatever ran `up` (make demo) must not
# stop the node.
start_daemon() {
  local name=$1
  shift
  daemon_alive "$name" && return 0
  # The daemon writes its own pid: setsid forks when it happens to lead a
  # process group, and $! is then a parent that exits at once (an `up` saw
  # "the kubelet exited" while the kubelet ran on).
  rm -f "$state/$name.pid"
  # shellcheck disable=SC2016 # $$ and $@ are the inner shell's
  setsid nohup nsenter --target "$(holder_pid)" --net --mount -- \
    /bin/sh -c 'echo $$ >"$0" && exec "$@"' "$state/$name.pid" "$@" >>"$state/logs/$name.log" 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$state/$name.pid" ]] && return 0
    sleep 0.1
  done
  die "$name did not start; see $state/logs/$name.log"
}

stop_daemon() {
  local name=$1 pid i
  daemon_alive "$name" || { rm -f "$state/$name.pid"; return 0; }
  pid=$(cat "$state/$name.pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
}

install_packages() {
  local missing=() p
  for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  # Debian starts containerd as a host service on install; the node runs its
  # own, in its own namespaces, and the host's must not run beside it.
  if command -v systemctl >/dev/null && systemctl is-active --quiet containerd 2>/dev/null; then
    systemctl disable --now containerd >/dev/null 2>&1 || true
  fi
}

# The kernel tunables the kubelet insists on (pkg/kubelet/cm: it writes them
# unless --protect-kernel-defaults), as files bind-mounted over /proc/sys in
# the node's mount namespace, so it reads what it wants and the host's stay.
kubelet_tunables=(
  vm/overcommit_memory=1
  vm/panic_on_oom=0
  kernel/panic=10
  kernel/panic_on_oops=1
  kernel/keys/root_maxkeys=1000000
  kernel/keys/root_maxbytes=25000000
)

start_namespace() {
  if holder_alive; then return 0; fi
  rm -f "$state/holder.pid"
  # A process whose only job is to hold the namespaces; `exec -a` names it.
  # It writes its own pid, as start_daemon's daemons do (setsid may fork).
  # shellcheck disable=SC2016 # $$ and $0 are the inner shell's
  setsid nohup unshare --net --mount --propagation private -- \
    bash -c 'echo $$ >"$0" && exec -a kubedesk-realnode-holder sleep infinity' "$state/holder.pid" >/dev/null 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$state/holder.pid" && "$(readlink "/proc/$(holder_pid)/ns/net")" != "$(readlink /proc/self/ns/net)" ]] && break
    sleep 0.1
  done
  local t path value
  mkdir -p "$state/sysctl"
  for t in "${kubelet_tunables[@]}"; do
    path=${t%%=*} value=${t#*=}
    echo "$value" >"$state/sysctl/${path//\//.}"
    innode mount --bind "$state/sysctl/${path//\//.}" "/proc/sys/$path"
  done

  ip link del "$host_veth" 2>/dev/null || true
  ip link add "$host_veth" type veth peer name eth0 netns "$(holder_pid)"
  ip addr add "$host_ip/30" dev "$host_veth"
  ip link set "$host_veth" up
  innode ip link set lo up
  innode ip addr add "$node_ip/30" dev eth0
  innode ip link set eth0 up
  # Only the host's own address is reachable from the node: the API server
  # listens there. Pods reach it through the node's NAT (the CNI bridge's
  # ipMasq), so the host sees the node's address and needs no route back.
  innode ip route add "$(apiserver_ip)/32" via "$host_ip" dev eth0
  # Inside the namespace only: the CNI bridge and kube-proxy route pods.
  innode sysctl -q -w net.ipv4.ip_forward=1
}

stop_namespace() {
  ip link del "$host_veth" 2>/dev/null || true
  if holder_alive; then
    kill "$(holder_pid)" 2>/dev/null || true
  fi
  rm -f "$state/holder.pid"
}

apiserver_url() { sed -n 's/^ *server: *//p' "$admin_kubeconfig" | head -1; }
apiserver_port() { apiserver_url | sed 's/.*:\([0-9]*\)$/\1/'; }
# The address the API server publishes for the `kubernetes` Service (its
# --advertise-address, the host's first address): kube-proxy sends pods there.
apiserver_ip() {
  "$bin/kubectl" --kubeconfig "$admin_kubeconfig" get endpointslice -n default kubernetes \
    -o jsonpath='{.endpoints[0].addresses[0]}'
}

# kubeconfig NAME CERT KEY: a kubeconfig that reaches the API server from the
# node's namespace at the host's address; its certificate names localhost.
write_kubeconfig() {
  cat >"$state/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    certificate-authority: $pki/ca.crt
    server: https://$(apiserver_ip):$(apiserver_port)
contexts:
- name: dev
  context: {cluster: dev, user: $1}
current-context: dev
users:
- name: $1
  user:
    client-certificate: $2
    client-key: $3
EOF
}

# The kubelet's client certificate: system:node:<node> in system:nodes, so
# the API server's Node authorizer limits it to its own node and pods.
node_credentials() {
  local crt="$state/pki/kubelet.crt" key="$state/pki/kubelet.key"
  mkdir -p "$state/pki"
  if [[ ! -f "$crt" ]] || ! openssl verify -CAfile "$pki/ca.crt" "$crt" >/dev/null 2>&1; then
    openssl req -new -newkey rsa:2048 -nodes -keyout "$key" -subj "/O=system:nodes/CN=system:node:$node" \
      -out "$state/pki/kubelet.csr" 2>/dev/null
    openssl x509 -req -in "$state/pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAserial "$state/pki/ca.srl" -CAcreateserial \
      -days 365 -out "$crt" 2>/dev/null
  fi
  write_kubeconfig kubelet "$crt" "$key"
  # kube-proxy and kube-router read Services, Endpoints, Pods, Namespaces and
  # NetworkPolicies cluster-wide; in this dev cluster they use the admin's
  # certificate.
  write_kubeconfig admin "$pki/admin.crt" "$pki/admin.key"
}

write_configs() {
  mkdir -p "$state/cni/net.d" "$state/containerd" "$state/logs" "$data/containerd"
  cat >"$state/cni/net.d/10-kubedesk.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kubedesk",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$data/containerd"
state = "$state/containerd/state"
[grpc]
  address = "$state/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  # No CAP_SYS_RESOURCE: oom_score_adj cannot be lowered here.
  restrict_oom_score_adj = true
  sandbox_image = "$pause_image"
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
EOF
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 here; cgroupfs because no systemd manages the node.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
# A shared 2-core machine: evict only when really short.
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 100
# The images come from containerd's store (hack/real-node.sh import); there
# is no registry to pull from.
serializeImagePulls: false
EOF
}

start_kubelet() {
  start_daemon kubelet "$bin/kubelet" \
    --config "$state/kubelet.yaml" \
    --kubeconfig "$state/kubelet.kubeconfig" \
    --root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" \
    --hostname-override "$node" --node-ip "$node_ip" \
    --node-labels kubedesk.dev/realnode=true \
    --register-with-taints kubedesk.dev/realnode=true:NoSchedule \
    --v=1
}

start_daemons() {
  start_daemon containerd containerd --config "$state/containerd/config.toml"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -S "$state/containerd/containerd.sock" ]] && break
    sleep 0.1
  done
  start_kubelet
  start_daemon kube-proxy "$bin/kube-proxy" \
    --kubeconfig "$state/admin.kubeconfig" \
    --hostname-override "$node" --cluster-cidr "$pod_cidr" \
    --proxy-mode iptables \
    --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
    --metrics-bind-address "$node_ip:10249" --healthz-bind-address "$node_ip:10256"
}

# kube-router finds its node at start, so it starts once the node exists.
start_policy_controller() {
  start_daemon kube-router "$bin/kube-router" \
    --kubeconfig "$state/admin.kubeconfig" --hostname-override "$node" \
    --run-firewall=true --run-router=false --run-service-proxy=false \
    --enable-ipv6=false --health-port 20244 --metrics-port 0
  local i
  for ((i = 0; i < 100; i++)); do
    innode curl -fsS "http://127.0.0.1:20244/healthz" >/dev/null 2>&1 && return 0
    daemon_alive kube-router || die "kube-router exited; see $state/logs/kube-router.log"
    sleep 0.2
  done
  die "kube-router is not healthy after 20 s; see $state/logs/kube-router.log"
}

kubectl() { "$bin/kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }

wait_node() {
  local deadline=$((SECONDS + 180)) restarts=0
  until kubectl get node "$node" >/dev/null 2>&1; do
    if ! daemon_alive kubelet; then
      # containerd's socket answers before its CRI plugin has recovered its
      # state, and a kubelet that asks then exits ("server is not
      # initialized yet"): start it again, a few times.
      if ((restarts < 5)) && tail -n 5 "$state/logs/kubelet.log" | grep -q 'server is not initialized yet'; then
        restarts=$((restarts + 1))
        log "containerd's CRI was not ready for the kubelet; starting it again ($restarts)"
        sleep 1
        start_kubelet
        continue
      fi
      die "the kubelet exited; see $state/logs/kubelet.log"
    fi
    ((SECONDS < deadline)) || die "$node did not register in 180 s; see $state/logs/kubelet.log"
    sleep 0.5
  done
  # kube-router reads the node's pod range; the kubelet does not set it
  # (no controller-manager allocates ranges in the dev cluster).
  if [[ -z "$(kubectl get node "$node" -o jsonpath='{.spec.podCIDR}')" ]]; then
    kubectl patch node "$node" --type merge -p "{\"spec\":{\"podCIDR\":\"$pod_cidr\",\"podCIDRs\":[\"$pod_cidr\"]}}" >/dev/null
  fi
  kubectl wait --for=condition=Ready "node/$node" --timeout=180s >/dev/null
}

build_binaries() {
  "$root/hack/cluster-tools.sh" node
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$bin/kubedesk-pause" ./hack/realnode/pause)
}

images_sh() { "$root/hack/images.sh" "$@"; }

# The pause image: the static binary of hack/realnode/pause alone in an
# image, built on `make images`' storage.
build_pause_image() {
  local c
  if images_sh buildah inspect --type image "$pause_image" >/dev/null 2>&1 &&
    cmp -s "$bin/kubedesk-pause" "$state/pause.built" 2>/dev/null; then
    return 0
  fi
  c=$(images_sh buildah from scratch)
  images_sh buildah copy "$c" "$bin/kubedesk-pause" /pause >/dev/null
  images_sh buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  images_sh buildah commit --quiet "$c" "$pause_image" >/dev/null
  images_sh buildah rm "$c" >/dev/null
  cp "$bin/kubedesk-pause" "$state/pause.built"
}

ctr() { innode ctr --address "$state/containerd/containerd.sock" "$@"; }

# Every image `make images` builds (its tags, comma-separated) and the pause
# image.
default_images() {
  echo "$pause_image"
  images_sh plan | awk -F'\t' '{ print $3 }'
}

# import_default_images [--built]: import_images of default_images, one
# argument per line it prints.
import_default_images() {
  local images
  mapfile -t images < <(default_images)
  import_images "$@" "${images[@]}"
}

# import [--built] IMAGE[,TAG...]...: copy images from `make images`' storage
# into containerd, skipping those whose ID containerd already has under that
# name; further tags of the same image are tagged in containerd, not copied
# again. With --built, images not built yet are skipped; without, they fail.
import_images() {
  local arg img id ref tar built=0 tags tag
  if [[ "${1:-}" == --built ]]; then built=1; shift; fi
  for arg in "$@"; do
    IFS=, read -r -a tags <<<"$arg"
    img=${tags[0]}
    if ! id=$(images_sh buildah inspect --type image --format '{{.FromImageID}}' "$img" 2>/dev/null); then
      ((built)) || die "image $img is not in make images' storage; run 'make images' (or hack/images.sh build $img)"
      log "not importing $img: not built yet (make images)"
      continue
    fi
    ref=$(qualify "$img")
    if [[ "$(image_id "$ref")" != "sha256:$id" ]]; then
      log "importing $ref"
      tar="$state/import.tar"
      images_sh buildah push --quiet "$img" "docker-archive:$tar:$ref" >/dev/null
      ctr -n k8s.io images import "$tar" >/dev/null
      rm -f "$tar"
    fi
    for tag in "${tags[@]:1}"; do
      [[ "$(image_id "$(qualify "$tag")")" == "sha256:$id" ]] && continue
      ctr -n k8s.io images tag --force "$ref" "$(qualify "$tag")" >/dev/null
    done
  done
}

# Image references as containerd's CRI stores them: docker.io/ for short names.
qualify() {
  case "$1" in
    */*.*/* | localhost/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

# The config digest (the image ID) containerd has for a reference, or "".
image_id() {
  local manifest
  manifest=$(ctr -n k8s.io images ls "name==$1" 2>/dev/null | awk 'NR == 2 { print $3 }')
  [[ -n "$manifest" ]] || return 0
  ctr -n k8s.io content get "$manifest" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])'
}

# The control plane the node's daemons were started against: a recreated
# dev cluster has a new CA (and maybe a new port), so they must restart.
control_plane() { echo "$(sha256sum <"$pki/ca.crt" | cut -c1-16) $(apiserver_url)"; }

up() {
  [[ -f "$admin_kubeconfig" ]] || die "no dev cluster; run hack/dev-cluster.sh up first"
  install_packages
  build_binaries
  mkdir -p "$state/logs"
  if daemon_alive kubelet && [[ "$(cat "$state/control-plane" 2>/dev/null)" != "$(control_plane)" ]]; then
    log "the dev cluster was recreated; restarting the node's daemons"
    for d in kube-router kube-proxy kubelet; do stop_daemon "$d"; done
  fi
  control_plane >"$state/control-plane"
  node_credentials
  write_configs
  start_namespace
  start_daemons
  wait_node
  start_policy_controller
  build_pause_image
  import_default_images --built
  log "node $node ready (pods $pod_cidr, node $node_ip); logs in $state/logs"
}

down() {
  local d
  if kubectl get node "$node" >/dev/null 2>&1; then
    kubectl delete node "$node" --wait=false >/dev/null 2>&1 || true
  fi
  for d in kube-router kube-proxy kubelet; do stop_daemon "$d"; done
  if holder_alive && daemon_alive containerd; then
    # Stop the pods' containers and sandboxes so that nothing keeps running
    # (or mounted) once the namespace goes.
    # shellcheck disable=SC2016 # $0 and $t are the inner shell's
    innode bash -c 'for t in $(ctr --address "$0" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$0" -n k8s.io tasks kill -s KILL "$t" >/dev/null 2>&1; done' "$state/containerd/containerd.sock" || true
    sleep 1
  fi
  stop_daemon containerd
  # runc's shims outlive containerd; they belong to the node's namespace.
  pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $state/containerd/containerd.sock" 2>/dev/null || true
  stop_namespace
  log "node $node stopped"
}

status() {
  if holder_alive && daemon_alive kubelet; then
    echo "real node $node: running (namespace holder pid $(holder_pid), logs $state/logs)"
    local d
    for d in containerd kubelet kube-proxy kube-router; do
      printf '  %-12s %s\n' "$d" "$(daemon_alive "$d" && echo "running (pid $(cat "$state/$d.pid"))" || echo "not running")"
    done
    kubectl get node "$node" -o wide 2>/dev/null || true
  else
    echo "real node $node: not running"
    return 1
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  up | down)
    mkdir -p "$state"
    exec 9>"$state/.lock"
    flock -w 1200 9 || die "another $0 up/down holds $state/.lock"
    "$cmd"
    ;;
  status) status ;;
  packages) install_packages ;;
  import)
    holder_alive || die "the real node is not running; run $0 up"
    if (($#)); then import_images "$@"; else import_default_images; fi
    ;;
  ctr) ctr "$@" ;;
  exec) innode "$@" ;;
  env)
    echo "REALNODE_NAME=$node REALNODE_IP=$node_ip REALNODE_HOST_IP=$host_ip REALNODE_POD_CIDR=$pod_cidr REALNODE_SERVICE_CIDR=$service_cidr"
    echo "REALNODE_HOLDER_PID=$(holder_pid || true)"
    ;;
  *)
    sed -n '2,/^set -E/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
