#!/usr/bin/env bash
# `make demo`: installs what is missing, then runs kubedesk on this machine:
# the dev cluster (a real kube-apiserver with kwok nodes and one real node,
# devnode-0, that runs pods as processes here), the spawner service and a
# real JupyterHub on http://127.0.0.1:8000. A session is a real desktop: the
# desktop image's entrypoint (images/desktop) with XFCE on TigerVNC and
# JupyterLab; its Applications menu and JupyterLab's launcher have the
# demo's apps, each of which runs in a pod of its own.
#
# The service runs as the Helm chart configures it (helm/chartenv renders
# helm/kubedesk with examples/demo/values.yaml, which holds a sample of
# Neurodesk's apps.json too): profiles, app catalog, Xpra image and every setting
# come from the chart; only the addresses are this machine's.
#
# Ctrl-C stops the hub, which stops every server through the service (pods
# deleted, their processes gone), then the service. Home volumes stay (the
# namespace kubedesk-demo and its PVCs outlive the demo), so the next start
# finds each user's files again; `make cluster-down` removes them.
#
# KUBEDESK_DEMO_NODE=real runs the sessions on the dev cluster's real node
# instead (hack/real-node.sh: kubelet, containerd, runc; the images `make
# images` built, in containers, NetworkPolicies enforced). JupyterHub then
# runs in the real node's network namespace, as a hub pod would sit in the
# cluster's network, at http://10.250.0.2:8000; the service listens on the
# host's end of the node's veth (10.250.0.1), which the hub and the sessions'
# agents reach.
#
# Settings: KUBEDESK_DEMO_PORT (8000), KUBEDESK_DEMO_PASSWORD (kubedesk).
# For a second demo beside the first (test/e2e's demo test runs one):
# KUBEDESK_DEMO_NAMESPACE (kubedesk-demo), KUBEDESK_DEMO_STATE
# (.cache/demo), and the loopback ports KUBEDESK_DEMO_HUB_PORT (8081, the
# hub's API), KUBEDESK_DEMO_PROXY_API_PORT (8001), KUBEDESK_DEMO_SERVICE_PORT
# (8090, the spawner service's API) and KUBEDESK_DEMO_OPS_PORT (9091, its
# /readyz and /metrics).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=${KUBEDESK_DEMO_STATE:-$root/.cache/demo}
ns=${KUBEDESK_DEMO_NAMESPACE:-kubedesk-demo}
port=${KUBEDESK_DEMO_PORT:-8000}
password=${KUBEDESK_DEMO_PASSWORD:-kubedesk}
hub_port=${KUBEDESK_DEMO_HUB_PORT:-8081}
proxy_api_port=${KUBEDESK_DEMO_PROXY_API_PORT:-8001}
service_port=${KUBEDESK_DEMO_SERVICE_PORT:-8090}
ops_port=${KUBEDESK_DEMO_OPS_PORT:-9091}
node=${KUBEDESK_DEMO_NODE:-dev}
case "$node" in dev | real) ;; *) echo "KUBEDESK_DEMO_NODE=$node: dev or real" >&2; exit 2 ;; esac
# The chart's values of the demo and where its sessions run; the test of the
# demo reads the same.
values=(--values examples/demo/values.yaml --values "examples/demo/values-${node}node.yaml")
mkdir -p "$state" bin

say() { printf '\033[1mdemo:\033[0m %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for p in "$port" "$hub_port" "$proxy_api_port" "$service_port" "$ops_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p on 127.0.0.1 is in use (another demo or JupyterHub?); stop it first"
  fi
done

say "Installing what is missing (the first run builds Kubernetes from source: about 12 minutes)"
hack/cluster-tools.sh
hack/helm.sh
hack/python-env.sh venv node
hack/desktop-env.sh # Debian packages of the desktop and its apps, .cache/venv-desktop, chromium, examples
hack/dev-cluster.sh up # also starts devnode-0 and the volume provisioner
eval "$(hack/dev-cluster.sh env)"
kubectl() { "$root/.cache/bin/kubectl" "$@"; }
# Where the hub listens, and where the service listens for the hub and the
# sessions: loopback for the dev node (its pods share this machine's
# network); for the real node, the hub in the node's network namespace and
# the service on the host's end of its veth.
hub_ip=127.0.0.1
service_ip=127.0.0.1
in_node=()
if [[ "$node" == real ]]; then
  say "Building the images and starting the real node (the first time: about 15 minutes)"
  hack/images.sh
  hack/real-node.sh up
  eval "$(hack/real-node.sh env | tr ' ' '\n')"
  hub_ip=$REALNODE_IP
  service_ip=$REALNODE_HOST_IP
  in_node=(nsenter --net="/proc/$REALNODE_HOLDER_PID/ns/net" --)
fi
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >/dev/null

go build -o bin/ ./cmd/kubedesk-spawner ./hack/chartenv

# Children run in their own sessions (setsid): Ctrl-C reaches only this
# script, which stops them in order; the service must outlive the hub, which
# needs it to stop the servers.
pids=()
cleanup() {
  trap - EXIT INT TERM
  if [[ ${#pids[@]} -gt 0 ]]; then
    say "Stopping: JupyterHub stops every server (their pods and processes), then the spawner service"
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    # `wait` returns early on a signal; poll until the process is gone.
    while kill -0 "${pids[i]}" 2>/dev/null; do sleep 0.2; done
  done
  left=$(kubectl -n "$ns" get pods -o name 2>/dev/null | wc -l)
  if [[ $left != 0 ]]; then
    say "warning: $left pod(s) left in $ns: kubectl -n $ns get pods"
  fi
  say "Stopped. Home volumes are kept for the next run; the dev cluster keeps running (make cluster-down removes both)."
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

token_file="$state/hub-token"
[[ -s "$token_file" ]] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")
key_file="$state/session-key" # signs session tokens; kept so they survive a restart
[[ -s "$key_file" ]] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key_file")

# The service's environment as the chart's Deployment gives it, with this
# machine's addresses.
service_env=$(bin/chartenv --helm .cache/bin/helm --chart helm/kubedesk --namespace "$ns" --kubeconfig "$KUBECONFIG" \
  --listen "$service_ip:$service_port" --ops-listen "127.0.0.1:$ops_port" \
  --session-service-url "http://$service_ip:$service_port" \
  --hub-token-file "$token_file" --session-key-file "$key_file" --config-dir "$state/service-config" \
  -- "${values[@]}") || die "the chart does not render with the demo's values"
mapfile -t service_env <<<"$service_env"
# Text logs: a person reads them here.
env "${service_env[@]}" KUBEDESK_LOG_FORMAT=text \
  setsid bin/kubedesk-spawner >"$state/spawner.log" 2>&1 &
pids+=($!)
echo "$!" >"$state/children" # for whoever must clean up after a killed demo
for _ in $(seq 150); do
  curl -fsS "http://127.0.0.1:$ops_port/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[-1]}" 2>/dev/null || break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$ops_port/readyz" >/dev/null || die "the spawner service did not start; see $state/spawner.log"

PATH="$root/.cache/node/node_modules/.bin:$PATH" \
  KUBEDESK_SERVICE_URL=http://$service_ip:$service_port KUBEDESK_SERVICE_TOKEN="$(cat "$token_file")" \
  KUBEDESK_DEMO_PASSWORD="$password" KUBEDESK_DEMO_STATE="$state" KUBEDESK_DEMO_PORT="$port" \
  KUBEDESK_DEMO_IP=$hub_ip KUBEDESK_DEMO_HUB_PORT=$hub_port KUBEDESK_DEMO_PROXY_API_PORT=$proxy_api_port \
  setsid "${in_node[@]}" .cache/venv/bin/jupyterhub -f examples/demo/jupyterhub_config.py >"$state/jupyterhub.log" 2>&1 &
pids+=($!)
echo "$!" >>"$state/children"
url=http://$hub_ip:$port
for _ in $(seq 300); do
  curl -fsS "$url/hub/api" >/dev/null 2>&1 && break
  kill -0 "${pids[-1]}" 2>/dev/null || break
  sleep 0.2
done
curl -fsS "$url/hub/api" >/dev/null || die "JupyterHub did not start; see $state/jupyterhub.log"

if [[ "$node" == real ]]; then
  where="desktops on the real node realnode-0 (containers of the images make images built)"
  logs="kubectl -n $ns logs <pod> -c notebook"
else
  where="desktops on devnode-0"
  logs=".cache/devnode/devnode-0/logs/${ns}_<pod>_<uid>/notebook.log"
fi
cat >&2 <<MSG

  kubedesk is running: JupyterHub, the spawner service, and $where.

  Open      $url/
            Log in as any user name with password "$password" ("admin" also gets the
            admin page), pick a profile, Start. You land in JupyterLab (about 10-30 s):
            its launcher has a tile per app (MRIcron, mtPaint, Veusz, XTerm, and
            Neurodesk's ITK-SNAP and FSLeyes), and ~/examples a notebook and a brain
            image. The "Desktop" tile (or $url/user/<name>/desktop/)
            opens the desktop: Applications > Kubedesk Apps has the same apps, each
            started in a pod of its own; its window appears on the desktop.
            (Neurodesk's tools run from Neurodesk's images on Docker Hub, which this
            machine cannot reach: there, a launch says the image could not be pulled.)
  Stop      Ctrl-C here (stops every server, then the service; home directories stay),
            or stop one server from $url/hub/home
  Watch     kubectl --kubeconfig $KUBECONFIG -n $ns get pods,pvc -w
  Metrics   http://127.0.0.1:$ops_port/metrics
  Logs      $state/{jupyterhub,spawner}.log
            $logs (a session's own output)

MSG
while kill -0 "${pids[-1]}" 2>/dev/null; do
  wait "${pids[-1]}" 2>/dev/null || true
done
say "JupyterHub exited; see $state/jupyterhub.log"
