// Package agent is the launcher agent: the long-lived process in a desktop
// session pod (kubedesk-launcher) that turns menu clicks into app pods and
// puts their windows on the user's desktop.
//
// # Parts
//
// Each part is a Start(ctx) error that blocks until ctx ends; Agent.Start
// runs them in an errgroup.
//
//   - menu: GET /api/v1/session/catalog at start (retrying every 2 s until
//     it works) and every KUBEDESK_MENU_INTERVAL, then menu.Write into the
//     user's XDG data and config homes.
//   - launch API: HTTP on a Unix socket (package launchapi; the launch CLI
//     is its client). POST /apps, GET /apps, GET /apps/{id} and DELETE
//     /apps/{id} are forwarded to the service's /api/v1/session/apps with
//     the session token, GET /catalog to its /api/v1/session/catalog
//     (answered as sessionapi.CatalogApp: no image, command or resources);
//     the service's error code and message come back unchanged. No TCP:
//     only the socket's 0600 mode and an SO_PEERCRED check that the caller
//     runs as the agent's uid guard it.
//   - supervisor: follows GET /api/v1/session/apps (every 250 ms while an
//     app is starting, else every 5 s: PollFast and PollSlow; and at once
//     after a launch, a stop or an attach that ended). For every running
//     app with an Xpra address it runs
//     `xpra attach tcp://host:port/ --password-file=F` with the desktop's
//     DISPLAY and XAUTHORITY; F is a 0600 file in the socket's folder,
//     written for that attach and removed after it, so the password is
//     never in argv or the environment (and a missing one would make xpra
//     open a dialog and hang). When the attach ends while the app still
//     runs (dropped connection; Xpra 3.1 clients do not reconnect by
//     themselves) it is started again after a backoff (0.5 s doubling to
//     30 s); when the app is no longer running it is stopped. While an HTML5
//     viewer has the app open the desktop's attach waits, because Xpra gives
//     the session to the newest client and the two would take it from each
//     other: a viewer that opens ends the running attach, and the proxy
//     connects the browser only once it has ended (at most 6 s), so an
//     attach still connecting cannot win. With KUBEDESK_APP_IDLE_TIMEOUT,
//     an app that has had no client (neither attach nor viewer) that long
//     is stopped through the service. An attach counts as a client once
//     it has connected (xpra logs "Attached to …", or it has run for 10 s),
//     so one that keeps failing (a server that does not answer, another
//     Xpra major) neither keeps the app from going idle nor the session
//     from being culled.
//   - activity: once per KUBEDESK_ACTIVITY_INTERVAL in which an app had a
//     client (a connected attach or a viewer), POST
//     /hub/api/users/{user}/activity (hubapi.ReportActivity; the URL
//     JUPYTERHUB_ACTIVITY_URL names), so the hub's idle culler does not
//     stop a session that is only used through app windows.
//   - HTML5 proxy: GET and WebSocket /apps/{id}/… on the pod IP,
//     reverse-proxied to the app's Xpra server (which serves its own HTML5
//     client on the same port). Only the session's owner passes: a hub
//     token in "Authorization: token …" (or Bearer), or in ?token= once
//     (the agent then sets its own HttpOnly cookie, an opaque id, so the
//     page's assets and its websocket need no header), checked with
//     hubapi.Identify; the owner must be the user JUPYTERHUB_USER (kind
//     user) and the token must carry access to this server
//     (hubapi.HasAccess). The session server's own JUPYTERHUB_API_TOKEN
//     passes that check as it is (JupyterHub 4, 5 and 6 give it its
//     owner's identity and access:servers!server=<user>/<server>; hubapi's
//     TestJupyterHub checks it), so JupyterLab's server extension calls the
//     proxy with it. No token or an unknown, expired or revoked one: 401;
//     anyone else's: 403. The hub's credentials are stripped before the
//     request reaches the app pod, and so is the Referer. The Xpra password
//     never appears in a URL (the browser's history, access logs,
//     Referer): the proxy puts it in the client's page it passes on, a
//     script at the top of the head that sets sessionStorage's "password",
//     where the client Xpra 3.1 serves and the separate xpra-html5 client
//     look when the URL has none (they remove it once read); that page
//     goes out with no-store, no-referrer and without Xpra's
//     Access-Control-Allow-Origin: *. The agent also answers
//     /apps/{id}/default-settings.txt itself with the password, which
//     xpra-html5 (Xpra 5 and later) reads; a ?password= in a request is
//     stripped before it goes on to the app. In the product
//     the browser reaches the proxy through JupyterLab's server extension
//     (kubedesk-jupyterlab: <prefix>kubedesk/apps/{id}/view/, which calls
//     it with the server's own token); it listens on
//     the pod IP, not on 0.0.0.0, and every redirect it sends is relative.
//
// # Environment
//
//	KUBEDESK_SERVICE_URL          (required) the spawner service, e.g. http://kubedesk-spawner.jhub:8080
//	KUBEDESK_SESSION_TOKEN_FILE   /etc/kubedesk/session/token; read again on every call (the kubelet refreshes it)
//	KUBEDESK_LAUNCHER_SOCKET      /tmp/kubedesk/launcher.sock; the launch API (0600); the launch CLI reads it too
//	KUBEDESK_DESKTOP_ENV          /tmp/kubedesk/desktop.env; DISPLAY=… and XAUTHORITY=… lines, read when DISPLAY is unset
//	DISPLAY, XAUTHORITY           the desktop's X display; unset: from KUBEDESK_DESKTOP_ENV before each attach
//	KUBEDESK_LAUNCHER_PROXY_ADDR  $KUBEDESK_POD_IP:8899 (127.0.0.1:8899 without a pod IP); "off" disables the HTML5 proxy
//	KUBEDESK_POD_IP               the pod's IP (set on session pods), for the proxy's default address
//	JUPYTERHUB_API_URL            the hub's API; unset: no activity reports and no HTML5 proxy
//	JUPYTERHUB_API_TOKEN          the server's hub token, for activity reports and token checks
//	JUPYTERHUB_USER               the session's owner, the only user the proxy lets in
//	JUPYTERHUB_SERVER_NAME        "" (the default server); the server whose access scope the proxy requires
//	XPRA_COMMAND                  xpra; split on spaces. Debian's xpra is a script for /usr/bin/python3,
//	                              not the first python3 on PATH: with a venv first on PATH use
//	                              "/usr/bin/python3 /usr/bin/xpra"
//	KUBEDESK_XPRA_ATTACH_ARGS     ""; more xpra attach options, split on spaces (after AttachOptions)
//	KUBEDESK_APP_IDLE_TIMEOUT     0 (off); stop apps with no client attached this long, e.g. 30m
//	KUBEDESK_MENU_INTERVAL        5m; how often the menu is rebuilt from the catalog (0: only at start)
//	KUBEDESK_ACTIVITY_INTERVAL    1m; the least time between two activity reports (at least 1s)
//	XDG_DATA_HOME, XDG_CONFIG_HOME  ~/.local/share, ~/.config; where the menu goes (package menu)
//
// JUPYTERHUB_ACTIVITY_URL and JUPYTERHUB_SERVICE_PREFIX are not read: the
// activity URL is the API URL's /users/{user}/activity, and the proxy's
// paths are relative to whatever prefix a proxy in front strips.
package agent

// Usage is kubedesk-launcher's help text.
const Usage = `kubedesk-launcher: the launcher agent of a kubedesk desktop session.

It writes the Applications menu from the session's catalog, serves the
launch CLI on a Unix socket, attaches running apps to the desktop with
xpra, reports activity to the hub and proxies apps' Xpra HTML5 client.
It takes no arguments; its environment configures it (see the package
documentation of kubedesk.dev/kubedesk/launcher/agent):

  KUBEDESK_SERVICE_URL (required), KUBEDESK_SESSION_TOKEN_FILE,
  KUBEDESK_LAUNCHER_SOCKET, KUBEDESK_DESKTOP_ENV, DISPLAY, XAUTHORITY,
  KUBEDESK_LAUNCHER_PROXY_ADDR, KUBEDESK_POD_IP, JUPYTERHUB_API_URL,
  JUPYTERHUB_API_TOKEN, JUPYTERHUB_USER, JUPYTERHUB_SERVER_NAME,
  XPRA_COMMAND, KUBEDESK_XPRA_ATTACH_ARGS, KUBEDESK_APP_IDLE_TIMEOUT,
  KUBEDESK_MENU_INTERVAL, KUBEDESK_ACTIVITY_INTERVAL
`
