#!/usr/bin/env bash
# kubedesk desktop session: the ENTRYPOINT of kubedesk/desktop, and the very
# same script that hack/devnode runs on the host for a desktop pod.
#
#   entrypoint.sh [jupyterhub-singleuser|jupyter-lab|<command>] [args...]
#
# Its arguments are the container's CMD (Docker semantics; the spawner's
# cmd + args, as with KubeSpawner). With no arguments, or with a single-user
# server command, it starts:
#
#   1. an X desktop: Xtigervnc (VNC only on a Unix socket, display number
#      picked with -displayfd, so pods sharing a host never collide) running
#      an XFCE session (xstartup next to this script);
#   2. kubedesk-launcher, if it is on PATH (the in-pod launcher agent),
#      started first: the desktop's session waits for its menu;
#   3. the single-user server in the foreground of the script:
#      jupyterhub-singleuser (JupyterLab, hub OAuth and activity) when
#      JUPYTERHUB_API_URL is set, else `jupyter lab` with a token (a session
#      without a hub: local runs and tests). Either way it serves everything
#      under JUPYTERHUB_SERVICE_PREFIX, answers <prefix>api, and listens on
#      KUBEDESK_POD_IP (pods on one host share its network) or 0.0.0.0,
#      port KUBEDESK_PORT (8888). The desktop is at <prefix>desktop/
#      (jupyter-remote-desktop-proxy's noVNC page), its websocket at
#      <prefix>desktop-websockify/.
#
# Any other command is exec'ed as is (e.g. `bash`), without a desktop.
#
# What other processes of the pod can rely on (KUBEDESK_RUNTIME_DIR,
# default /tmp/kubedesk, private to the pod):
#   display       the desktop's DISPLAY, e.g. ":0", written once X is up
#   desktop.env   DISPLAY=… and XAUTHORITY=… lines (shell and systemd syntax)
#   Xauthority    the X cookie (X clients need it: the server demands it)
#   vnc.sock      the VNC server's Unix socket (mode 0600)
# JupyterLab (and so its terminals) and kubedesk-launcher get DISPLAY and
# XAUTHORITY in their environment.
#
# A home without examples gets KUBEDESK_EXAMPLES_DIR
# (/usr/share/kubedesk/examples: notebooks, sample data) as ~/examples, once.
#
# Settings (environment): KUBEDESK_POD_IP, KUBEDESK_PORT (8888),
# KUBEDESK_RUNTIME_DIR (/tmp/kubedesk), KUBEDESK_DESKTOP (1; 0 = no desktop),
# KUBEDESK_DESKTOP_GEOMETRY (1680x1050, as jupyter-remote-desktop-proxy),
# KUBEDESK_LAB_TOKEN (token of the hub-less `jupyter lab`; random if unset,
# printed in the log), JUPYTERHUB_* (from the hub, via the pod's Secret).
#
# SIGTERM/SIGINT stop the server, the launcher and the desktop, then every
# leftover process that carries this session's KUBEDESK_SESSION_ID in its
# environment (D-Bus activated services and other daemons), and exit.
set -euo pipefail

log() { printf '%s kubedesk-entrypoint: %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
export KUBEDESK_DESKTOP_SHARE=${KUBEDESK_DESKTOP_SHARE:-$here}

# --- which command ------------------------------------------------------------
[[ $# -gt 0 ]] || set -- jupyterhub-singleuser
case "$1" in
  -*) set -- jupyterhub-singleuser "$@" ;; # bare flags: for the default server
esac
mode=
case "$1" in
  jupyterhub-singleuser | jupyter-singleuser | start-singleuser.sh | jupyter-labhub)
    mode=singleuser ;;
  jupyter-lab | start-notebook.sh | jupyter-server | jupyter-notebook)
    mode=lab ;;
  jupyter)
    case "${2:-}" in
      lab | server | notebook) mode=lab; shift ;;
      labhub) mode=singleuser; shift ;;
    esac ;;
esac
if [[ -z $mode ]]; then
  exec "$@" # any other command: run it as the container's only process
fi
shift # the rest are the server's own arguments
if [[ $mode == singleuser && -z ${JUPYTERHUB_API_URL:-} ]]; then
  log "JUPYTERHUB_API_URL is not set: no hub, starting jupyter lab with a token instead of jupyterhub-singleuser"
  mode=lab
fi

# --- environment ----------------------------------------------------------------
uid=$(id -u)
if [[ -z ${USER:-} ]]; then
  USER=$(id -un 2>/dev/null || echo jovyan)
  export USER
fi
if [[ -z ${HOME:-} || $HOME == / ]]; then
  HOME=$(getent passwd "$uid" | cut -d: -f6 || true)
  export HOME
fi
# A home that is not a writable folder (say passwd's for a uid the image
# does not know): the image's /home/jovyan where the home PVC is, else /tmp.
if ! { [[ -d $HOME ]] || mkdir -p "$HOME" 2>/dev/null; } || [[ ! -w $HOME ]]; then
  for h in /home/jovyan /tmp/kubedesk-home; do
    if { [[ -d $h ]] || mkdir -p "$h" 2>/dev/null; } && [[ -w $h ]]; then
      log "warning: home '$HOME' is not writable; using $h"
      export HOME=$h
      break
    fi
  done
fi
cd "$HOME"
export SHELL=${SHELL:-/bin/bash}

# A new home gets the examples (notebooks and sample data) once: a marker
# remembers it, so a user who deletes them does not get them back, and
# nothing of a user's is ever overwritten. The image has them in
# /usr/share/kubedesk/examples; the dev node names the host's copy.
examples=${KUBEDESK_EXAMPLES_DIR:-/usr/share/kubedesk/examples}
if [[ -d $examples && ! -e $HOME/.kubedesk/examples-copied && ! -e $HOME/examples ]]; then
  if mkdir -p "$HOME/.kubedesk" && cp -R --no-preserve=mode,ownership "$examples" "$HOME/examples"; then
    date -u +%FT%TZ >"$HOME/.kubedesk/examples-copied"
    log "copied the examples into $HOME/examples"
  else
    log "warning: could not copy the examples into $HOME/examples"
  fi
fi
export LANG=${LANG:-C.UTF-8}

# The JupyterLab environment: the image's /opt/kubedesk/venv; on the host,
# the repository's .cache/venv-desktop (hack/desktop-env.sh) unless PATH has one.
if ! command -v jupyter-lab >/dev/null 2>&1; then
  for venv in /opt/kubedesk/venv "$here/../../.cache/venv-desktop"; do
    if [[ -x $venv/bin/jupyter-lab ]]; then
      PATH="$(cd "$venv/bin" && pwd):$PATH"
      break
    fi
  done
  command -v jupyter-lab >/dev/null 2>&1 || die "jupyter-lab is not on PATH (run hack/desktop-env.sh on the host)"
fi
export PATH

run=${KUBEDESK_RUNTIME_DIR:-/tmp/kubedesk}
export KUBEDESK_RUNTIME_DIR=$run
mkdir -p "$run"
chmod 0700 "$run"
rm -f "$run/display" "$run/desktop.env" "$run/vnc.sock"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$run/xdg-runtime}
mkdir -p "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
# Marks every process of this session, daemons included (see cleanup).
KUBEDESK_SESSION_ID=${KUBEDESK_SESSION_ID:-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
export KUBEDESK_SESSION_ID

ip=${KUBEDESK_POD_IP:-0.0.0.0}
port=${KUBEDESK_PORT:-8888}
prefix=${JUPYTERHUB_SERVICE_PREFIX:-/}
[[ $prefix == /* ]] || prefix=/$prefix
[[ $prefix == */ ]] || prefix=$prefix/

# --- process bookkeeping --------------------------------------------------------
pids=()
cleanup() {
  local sig=${1:-TERM} p
  trap - TERM INT HUP
  # Server first (it may still be writing), then the launcher, then X.
  for p in "${server_pid:-}" "${launcher_pid:-}" "${pids[@]}"; do
    if [[ -n $p ]]; then kill "-$sig" "$p" 2>/dev/null || true; fi
  done
  for _ in $(seq 50); do
    alive=0
    for p in "${server_pid:-}" "${launcher_pid:-}" "${pids[@]}"; do
      [[ -n $p ]] && kill -0 "$p" 2>/dev/null && alive=1
    done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  sweep TERM
  sleep 0.3
  sweep KILL
}
# sweep SIG: signals every process of this uid whose environment carries
# this session's id (daemonised helpers that left our process tree).
sweep() {
  local e pid
  for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}
    pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    [[ -O $e ]] || continue
    if tr '\0' '\n' 2>/dev/null <"$e" | grep -qx "KUBEDESK_SESSION_ID=$KUBEDESK_SESSION_ID"; then
      kill "-$1" "$pid" 2>/dev/null || true
    fi
  done
}
# shellcheck disable=SC2317 # the traps below call it
on_signal() {
  log "received SIG$1, stopping the session"
  cleanup TERM
  exit $((128 + $2))
}
trap 'on_signal TERM 15' TERM
trap 'on_signal INT 2' INT
trap 'on_signal HUP 1' HUP

# --- the desktop ----------------------------------------------------------------
start_x() { # start_x [DISPLAY]: starts Xtigervnc, sets x_pid and display
  local want=${1:-} fifo="$run/displayfd" args
  args=(
    -rfbunixpath "$run/vnc.sock" -rfbunixmode 0600 -rfbport -1
    -SecurityTypes None -auth "$run/Xauthority.server"
    -geometry "${KUBEDESK_DESKTOP_GEOMETRY:-1680x1050}" -depth 24
    -desktop "${KUBEDESK_POD_NAME:-kubedesk}" -AlwaysShared
    -nolisten tcp -dpi 96
  )
  rm -f "$fifo" "$run/vnc.sock"
  if [[ -n $want ]]; then
    Xtigervnc "$want" "${args[@]}" >>"$run/Xvnc.log" 2>&1 &
    x_pid=$!
    display=$want
    for _ in $(seq 100); do
      [[ -S $run/vnc.sock ]] && return 0
      kill -0 "$x_pid" 2>/dev/null || return 1
      sleep 0.05
    done
    return 1
  fi
  # -displayfd: the server takes the first display number whose sockets are
  # free (the abstract @/tmp/.X11-unix/X<n> one is shared by every pod on a
  # host, /tmp is not) and writes it to the fd when it accepts clients.
  mkfifo -m 0600 "$fifo"
  Xtigervnc -displayfd 3 "${args[@]}" 3>"$fifo" >>"$run/Xvnc.log" 2>&1 &
  x_pid=$!
  local n=
  read -r -t 20 n <"$fifo" || true
  rm -f "$fifo"
  [[ $n =~ ^[0-9]+$ ]] || return 1
  display=:$n
}

start_desktop() {
  # One cookie, two files: the server's (read at start, whatever the
  # display) and the clients' (XAUTHORITY, keyed by the display once known).
  local cookie
  cookie=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  : >"$run/Xauthority.server"
  xauth -q -f "$run/Xauthority.server" add ":0" MIT-MAGIC-COOKIE-1 "$cookie"
  export XAUTHORITY=$run/Xauthority
  supervise_desktop "$cookie" &
  pids+=("$!")
  for _ in $(seq 400); do
    [[ -s $run/display ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || return 1
    sleep 0.05
  done
  [[ -s $run/display ]] || return 1
  DISPLAY=$(cat "$run/display")
  export DISPLAY
}

# supervise_desktop COOKIE runs X and the X session, and restarts what ends:
# the session (say the user logged out) on the same display, and the X
# server on the same display number, so DISPLAY stays valid for JupyterLab
# and the launcher. TERM takes X and the session down.
supervise_desktop() {
  local session_pid='' fails=0 t0
  trap 'kill -TERM $session_pid $x_pid 2>/dev/null; wait; exit 0' TERM
  trap '' INT HUP
  start_x || { log "error: the X server did not start:"; tail -n 20 "$run/Xvnc.log" >&2; exit 1; }
  export DISPLAY=$display
  : >"$XAUTHORITY"
  xauth -q -f "$XAUTHORITY" add "$DISPLAY" MIT-MAGIC-COOKIE-1 "$1"
  printf 'DISPLAY=%s\nXAUTHORITY=%s\n' "$DISPLAY" "$XAUTHORITY" >"$run/desktop.env"
  printf '%s\n' "$DISPLAY" >"$run/display.tmp" && mv "$run/display.tmp" "$run/display"
  log "X desktop on DISPLAY=$DISPLAY (VNC on $run/vnc.sock)"
  wait_for_menu
  while :; do
    if ! kill -0 "$x_pid" 2>/dev/null; then
      log "X server ended; restarting it on $display"
      start_x "$display" || { log "error: X restart failed"; tail -n 5 "$run/Xvnc.log" >&2; }
    fi
    "$KUBEDESK_DESKTOP_SHARE/xstartup" >>"$run/session.log" 2>&1 &
    session_pid=$!
    t0=$SECONDS
    wait -n "$session_pid" "$x_pid" 2>/dev/null || true
    if ((SECONDS - t0 < 10)); then fails=$((fails + 1)); else fails=0; fi
    if ((fails >= 5)); then
      log "error: the desktop keeps failing, see $run/session.log"
      sleep 30
      fails=0
    fi
    kill -TERM "$session_pid" 2>/dev/null || true
    wait "$session_pid" 2>/dev/null || true
    log "desktop session ended; restarting it"
    sleep 1
  done
}

# --- the launcher agent ---------------------------------------------------------
# Before the desktop: XFCE's menu reads the agent's merged menu when the
# panel starts, and does not see one that appears later (its folder did not
# exist yet, so nothing watches it); the apps would land in "Other". So the
# agent writes its menu first (from the catalog, or a notice saying why
# there are no apps) and the desktop waits for it, a few seconds at most.
# It finds the desktop's DISPLAY in desktop.env once X is up.
menu_file=${XDG_CONFIG_HOME:-$HOME/.config}/menus/applications-merged/kubedesk-apps.menu
if command -v kubedesk-launcher >/dev/null 2>&1; then
  log "starting kubedesk-launcher"
  rm -f "$menu_file" # the last session's; the agent writes it anew
  KUBEDESK_DESKTOP_ENV=$run/desktop.env kubedesk-launcher &
  launcher_pid=$!
fi

# wait_for_menu waits until the agent has written the desktop's menu, or
# has exited, or 10 s have passed.
wait_for_menu() {
  [[ -n ${launcher_pid:-} ]] || return 0
  for _ in $(seq 100); do
    [[ -f $menu_file ]] && return 0
    kill -0 "$launcher_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "warning: kubedesk-launcher wrote no menu within 10 s; the desktop starts without its apps"
}

if [[ ${KUBEDESK_DESKTOP:-1} != 0 ]]; then
  export XDG_CONFIG_DIRS=$KUBEDESK_DESKTOP_SHARE/xdg:${XDG_CONFIG_DIRS:-/etc/xdg}
  export NO_AT_BRIDGE=1
  # jupyter-remote-desktop-proxy's own lazily started vncserver is never
  # used (the config routes its websocket to our socket); if it were, it
  # would run the same session.
  export JUPYTER_REMOTE_DESKTOP_PROXY_XSTARTUP=$KUBEDESK_DESKTOP_SHARE/xstartup
  export KUBEDESK_VNC_SOCKET=$run/vnc.sock
  start_desktop || die "no desktop"
fi

# --- the single-user server -----------------------------------------------------
export JUPYTER_CONFIG_PATH=$KUBEDESK_DESKTOP_SHARE/jupyter${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}
server_args=(--ServerApp.ip="$ip" --ServerApp.port="$port" --ServerApp.port_retries=0 --no-browser)
if [[ $mode == singleuser ]]; then
  # The hub sets it (http://<ip>:<port><prefix>); jupyterhub-singleuser
  # refuses to start without it, and the command line below decides anyway.
  export JUPYTERHUB_SERVICE_URL=${JUPYTERHUB_SERVICE_URL:-http://$ip:$port$prefix}
  cmd=(jupyterhub-singleuser "${server_args[@]}")
else
  token=${KUBEDESK_LAB_TOKEN:-${JUPYTERHUB_API_TOKEN:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}}
  export KUBEDESK_LAB_TOKEN=$token
  cmd=(jupyter-lab "${server_args[@]}" --ServerApp.base_url="$prefix" --IdentityProvider.token="$token")
  log "JupyterLab: http://$ip:$port${prefix}lab?token=<KUBEDESK_LAB_TOKEN> (desktop: ${prefix}desktop/)"
fi
log "starting ${cmd[0]} on $ip:$port, prefix $prefix"
"${cmd[@]}" "$@" &
server_pid=$!
set +e
wait "$server_pid"
rc=$?
# A trapped signal interrupts wait and runs on_signal, which exits; here the
# server ended on its own.
log "${cmd[0]} exited with status $rc"
cleanup TERM
exit "$rc"
