#!/bin/bash
# kubedesk/xpra-sidecar: one X server and one Xpra server for the one app of
# an app pod. The same script runs in the image and, through hack/devnode
# (images.yaml), as a process on a development host.
#
# Contract with the pod (spawner/internal/podspec/app.go):
#   XPRA_DISPLAY        the display the app uses (its DISPLAY), e.g. ":100"
#   XPRA_PORT           TCP port of the Xpra server (14500)
#   XPRA_PASSWORD_FILE  the per-app password, mounted from a Secret; Xpra
#                       reads it itself (--tcp-auth=file), so the secret is
#                       never in argv or in the environment
#   XPRA_ENCRYPTION_KEY_FILE
#                       the per-app key of the stream's AES encryption
#                       (--tcp-encryption), from the same Secret; without it
#                       the stream is not encrypted, which is said in the log
#   KUBEDESK_POD_IP     address to bind (else 0.0.0.0)
#   /tmp/.X11-unix      an emptyDir shared with the app container: the X
#                       server's only listening socket is X<n> in there
# Optional: XPRA_SCREEN (Xvfb -screen 0 geometry, default 1920x1080x24+32),
# XPRA_DPI (96), XPRA_STOP_TIMEOUT (seconds to wait for Xpra on SIGTERM, 4).
#
# Order matters: the kubelet starts the app once the startup probe reaches
# XPRA_PORT, so Xpra (and with it the port) starts only after Xvfb reported,
# through -displayfd, that it accepts connections.
#
# Exit: the kubelet sends SIGTERM after the app exited (native sidecar) or
# when the pod is deleted; we stop Xpra, then Xvfb, and exit 0. If Xpra or
# Xvfb dies on its own we stop the other one and exit non-zero, so the
# kubelet restarts the sidecar.
set -u

log() { printf '%s xpra-sidecar: %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

display=${XPRA_DISPLAY:-:100}
port=${XPRA_PORT:-14500}
pwfile=${XPRA_PASSWORD_FILE:-/etc/kubedesk/xpra/password}
keyfile=${XPRA_ENCRYPTION_KEY_FILE:-}
bind_ip=${KUBEDESK_POD_IP:-0.0.0.0}
screen=${XPRA_SCREEN:-1920x1080x24+32}
dpi=${XPRA_DPI:-96}
stop_timeout=${XPRA_STOP_TIMEOUT:-4}

num=${display#:}
num=${num%%.*}
case $num in '' | *[!0-9]*) die "XPRA_DISPLAY=$display is not of the form :N" ;; esac
case $port in '' | *[!0-9]*) die "XPRA_PORT=$port is not a port number" ;; esac
# Fail early and clearly: without a readable password Xpra would still start
# and refuse every client.
[ -r "$pwfile" ] || die "password file $pwfile is missing or unreadable"
[ -s "$pwfile" ] || die "password file $pwfile is empty"
# The pod's traffic crosses the node's network in the clear unless the CNI
# encrypts it: Xpra's own AES, keyed per app, keeps the windows, keystrokes
# and clipboard of one user's app unreadable on the way to their session.
encryption=()
if [ -n "$keyfile" ]; then
	[ -r "$keyfile" ] || die "encryption key file $keyfile is missing or unreadable"
	[ -s "$keyfile" ] || die "encryption key file $keyfile is empty"
	encryption=(--tcp-encryption=AES --tcp-encryption-keyfile="$keyfile")
else
	log "warning: no XPRA_ENCRYPTION_KEY_FILE: the Xpra stream is not encrypted"
fi

# Xpra's own state (its Unix socket, logs, config) stays in a private
# directory, never in the app's home or in the shared X socket directory.
run=${TMPDIR:-/tmp}/kubedesk-xpra
mkdir -p "$run/home" "$run/sockets" "$run/runtime" "$run/conf" || die "cannot create $run"
chmod 0700 "$run" "$run/runtime" "$run/sockets"
export HOME=$run/home XDG_RUNTIME_DIR=$run/runtime XPRA_SOCKET_DIR=$run/sockets
export XAUTHORITY=$run/home/.Xauthority NO_AT_BRIDGE=1
# Debian's /etc/xpra/conf.d/60_server.conf has `start = /etc/X11/Xsession
# true`, which opens an error window; --start= on the command line only
# appends. A user config dir that empties the list is the way out.
printf 'start =\n' >"$run/conf/xpra.conf"
export XPRA_USER_CONF_DIRS=$run/conf
# Only Debian's xpra 3.1.x may serve here: clients are pinned to the same
# major (3.x cannot talk to 5+). /usr/bin/xpra runs on /usr/bin/python3 by
# its shebang, whatever python3 comes first on PATH.
xpra=${XPRA_BIN:-/usr/bin/xpra}
[ -x "$xpra" ] || die "$xpra not found"
unset PYTHONPATH PYTHONHOME

# The X socket directory: a sticky, world-writable dir as X expects. The
# emptyDir arrives as an empty dir we may chmod (fsGroup); if we cannot, X
# still works as long as we can create the socket.
x11=/tmp/.X11-unix
mkdir -p "$x11" 2>/dev/null
chmod 1777 "$x11" 2>/dev/null || true
[ -w "$x11" ] || die "$x11 is not writable"

# Abstract sockets. libxcb (so Xlib, GTK, Qt...) connects to
# @/tmp/.X11-unix/X<n> FIRST and falls back to the file /tmp/.X11-unix/X<n>
# only if nothing listens there. Abstract names live in the network
# namespace: private to the pod on Kubernetes, but shared by every pod on
# hack/devnode (host network). So:
#  - our Xvfb never listens on an abstract name (-nolisten local) nor TCP:
#    no client of another pod can reach it, only the file socket in this
#    pod's /tmp/.X11-unix;
#  - if someone else already holds @/tmp/.X11-unix/X<n>, our app's DISPLAY
#    would reach THAT server, not ours: refuse to start (the pod never gets
#    ready and the launch fails visibly) instead of leaking the app's windows.
abstract_taken() {
	# /proc/net/unix lists the sockets of this network namespace; abstract
	# names are shown with a leading @.
	awk -v want="@/tmp/.X11-unix/X$1" '$NF == want { found = 1 } END { exit !found }' /proc/net/unix 2>/dev/null
}
if abstract_taken "$num"; then
	die "another X server on this network namespace listens on @/tmp/.X11-unix/X$num: an app with DISPLAY=:$num would connect to it; use another display number"
fi
# A lock file left by a previous run of this sidecar in the same pod (we
# were restarted after a crash) would make Xvfb refuse the display.
if [ -e "/tmp/.X$num-lock" ]; then
	oldpid=$(tr -dc 0-9 <"/tmp/.X$num-lock" 2>/dev/null)
	if [ -z "$oldpid" ] || ! kill -0 "$oldpid" 2>/dev/null; then
		rm -f "/tmp/.X$num-lock" "$x11/X$num"
	fi
fi

xvfb_pid='' xpra_pid='' stopping=''

# stop ends Xpra (SIGTERM: it disconnects its clients with "server
# shutdown" and exits), then Xvfb; SIGKILL whatever outlives the timeout.
stop() {
	local deadline
	stopping=1
	if [ -n "$xpra_pid" ] && kill -0 "$xpra_pid" 2>/dev/null; then
		kill -TERM "$xpra_pid" 2>/dev/null
		deadline=$((SECONDS + stop_timeout))
		while kill -0 "$xpra_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -KILL "$xpra_pid" 2>/dev/null
		wait "$xpra_pid" 2>/dev/null
	fi
	if [ -n "$xvfb_pid" ] && kill -0 "$xvfb_pid" 2>/dev/null; then
		kill -TERM "$xvfb_pid" 2>/dev/null
		deadline=$((SECONDS + 2))
		while kill -0 "$xvfb_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -KILL "$xvfb_pid" 2>/dev/null
		wait "$xvfb_pid" 2>/dev/null
	fi
	# Xpra may have started helpers in its own process group; they carry
	# our marker in their environment.
	sweep
}

# sweep kills processes that left our tree but carry this run's marker.
marker="KUBEDESK_XPRA_SIDECAR=$$-$(date +%s%N)"
export "${marker%%=*}=${marker#*=}"
sweep() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] && continue
		# Unreadable environ (other users' processes) is simply not ours.
		{ tr '\0' '\n' <"/proc/$p/environ" | grep -qxF "$marker"; } 2>/dev/null &&
			kill -KILL "$p" 2>/dev/null
	done
}

on_term() {
	log "SIGTERM: stopping xpra and Xvfb"
	stop
	log "stopped"
	exit 0
}
trap on_term TERM INT HUP

# Start Xvfb. -displayfd makes it write the display number to fd 3 once it
# accepts connections: that is our readiness signal, no polling.
ready=$run/xvfb.ready
rm -f "$ready"
mkfifo "$ready" || die "mkfifo $ready"
log "starting Xvfb :$num (screen $screen, dpi $dpi)"
Xvfb ":$num" -displayfd 3 3>"$ready" \
	-screen 0 "$screen" -dpi "$dpi" \
	-nolisten tcp -nolisten local \
	-noreset +extension GLX +extension Composite +extension RANDR \
	</dev/null &
xvfb_pid=$!
# Read the number Xvfb writes; give up if Xvfb exits first (the fifo then
# gives EOF) or after 30 s.
got=''
read -r -t 30 got <"$ready"
rm -f "$ready"
if [ "$got" != "$num" ] || ! kill -0 "$xvfb_pid" 2>/dev/null; then
	stop
	die "Xvfb :$num did not start (got '$got')"
fi
log "Xvfb ready on :$num (pid $xvfb_pid), socket $x11/X$num"

# Start the Xpra server on that display: seamless (`start`), TCP with file
# auth and AES on the pod IP (websockets of the HTML5 client too), the HTML5
# client on the same port, and every desktop integration a pod has no use
# for switched off.
log "starting xpra on $bind_ip:$port${encryption:+ (AES)}"
"$xpra" start ":$num" --use-display=yes --daemon=no \
	--bind=none --socket-dirs="$run/sockets" \
	--bind-tcp="$bind_ip:$port" --tcp-auth="file:filename=$pwfile" "${encryption[@]}" \
	--html=on \
	--exit-with-children=no --start-new-commands=no \
	--sharing=no --opengl=no \
	--mdns=no --notifications=no --dbus-launch= --dbus-proxy=no --dbus-control=no \
	--pulseaudio=no --speaker=off --microphone=off --webcam=no --printing=no \
	--file-transfer=no --open-files=no --open-url=no --systemd-run=no \
	--system-tray=no --xsettings=no \
	</dev/null &
xpra_pid=$!

# Wait for either child to end; `wait -n` returns early on a trapped signal,
# which on_term handles.
while :; do
	wait -n "$xvfb_pid" "$xpra_pid"
	rc=$?
	[ -n "$stopping" ] && exit 0
	if ! kill -0 "$xpra_pid" 2>/dev/null; then
		log "xpra exited (rc $rc); stopping Xvfb"
		stop
		exit $((rc == 0 ? 1 : rc))
	fi
	if ! kill -0 "$xvfb_pid" 2>/dev/null; then
		log "Xvfb exited (rc $rc); stopping xpra"
		stop
		exit 1
	fi
done
