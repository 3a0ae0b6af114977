#!/usr/bin/env bash
# `make demo`: installs what is missing, then runs kubedesk on this machine:
# the dev cluster (a real kube-apiserver with kwok nodes), the spawner service
# and a real JupyterHub on http://127.0.0.1:8000 with the profiles of
# examples/demo/profiles.yaml. Ctrl-C stops the hub (which stops every server
# through the service), then the service.
#
# The dev cluster's pods run nothing yet: a pod responder answers for them,
# so after the spawn the browser shows the responder's page where the desktop
# will be.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.cache/demo"
ns=kubedesk-demo
port=${KUBEDESK_DEMO_PORT:-8000}
password=${KUBEDESK_DEMO_PASSWORD:-kubedesk}
mkdir -p "$state" bin

say() { printf '\033[1mdemo:\033[0m %s\n' "$*" >&2; }

say "Installing what is missing (the first run builds Kubernetes from source: about 12 minutes)"
hack/cluster-tools.sh
hack/python-env.sh venv node
hack/dev-cluster.sh up
eval "$(hack/dev-cluster.sh env)"
kubectl() { "$root/.cache/bin/kubectl" "$@"; }
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >/dev/null

go build -o bin/ ./cmd/kubedesk-spawner ./hack/podresponder

pids=()
cleanup() {
  trap - EXIT INT TERM
  say "Stopping (JupyterHub stops every server first)"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  say "Stopped. The dev cluster keeps running: make cluster-down removes it."
}
trap cleanup EXIT INT TERM

token_file="$state/hub-token"
[[ -s "$token_file" ]] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file")

bin/podresponder -jupyterhub-version "$(.cache/venv/bin/python -c 'import jupyterhub; print(jupyterhub.__version__)')" \
  >"$state/podresponder.log" 2>&1 &
pids+=($!)

KUBEDESK_KUBECONFIG="$KUBECONFIG" KUBEDESK_NAMESPACE=$ns KUBEDESK_HUB_TOKEN_FILE="$token_file" \
  KUBEDESK_LISTEN=127.0.0.1:8081 KUBEDESK_OPS_LISTEN=127.0.0.1:9091 KUBEDESK_LOG_FORMAT=text \
  KUBEDESK_PROFILES_FILE="$root/examples/demo/profiles.yaml" \
  bin/kubedesk-spawner >"$state/spawner.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS http://127.0.0.1:9091/readyz >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:9091/readyz >/dev/null || { say "the spawner service did not start; see $state/spawner.log"; exit 1; }

PATH="$root/.cache/node/node_modules/.bin:$PATH" \
  KUBEDESK_SERVICE_URL=http://127.0.0.1:8081 KUBEDESK_SERVICE_TOKEN="$(cat "$token_file")" \
  KUBEDESK_DEMO_PASSWORD="$password" KUBEDESK_DEMO_STATE="$state" KUBEDESK_DEMO_PORT="$port" \
  .cache/venv/bin/jupyterhub -f examples/demo/jupyterhub_config.py >"$state/jupyterhub.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
  curl -fsS "http://127.0.0.1:$port/hub/api" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/hub/api" >/dev/null || { say "JupyterHub did not start; see $state/jupyterhub.log"; exit 1; }

cat >&2 <<MSG

  kubedesk is running.

  Open      http://127.0.0.1:$port/  and log in as any user name with password "$password"
            (user "admin" also sees the admin page).
  Watch     kubectl --kubeconfig $KUBECONFIG -n $ns get pods,secrets,pvc -w
  Metrics   http://127.0.0.1:9091/metrics
  Logs      $state/{jupyterhub,spawner,podresponder}.log
  Stop      Ctrl-C

MSG
wait "${pids[-1]}"
