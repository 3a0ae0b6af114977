// Package e2e holds end-to-end tests that put real components together: a
// real JupyterHub (from PyPI) with the KubedeskSpawner class, the spawner
// service binary, and the dev cluster's kube-apiserver. They skip under
// -short and expect hack/python-env.sh to have built the environments (make
// test does).
//
// TestDesktopThroughJupyterHub is the user's way through, in headless
// Chromium (test/browser/hub-session.mjs): the demo's hub configuration and
// profiles (examples/demo), a real desktop on the dev node (devnode-0), its
// X server checked from the host, stop from the hub's home page, the home
// directory kept. It also needs hack/desktop-env.sh (the desktop's packages,
// .cache/venv-desktop, Chromium) and root. Screenshots go to test/artifacts/.
//
// TestLaunchFromDesktop is the launcher's way through on the dev node,
// without a hub: a session spawned through the service, the menu entry's
// `launch xterm 1` run inside it as its user, the app pod's spec, its window
// mapped and drawn on the session's display (screenshot
// test/artifacts/launch-xterm.png), stop, and the session's stop taking its
// apps along; it logs click → window mapped with its breakdown.
//
// TestJupyterLab is the JupyterLab extension's way through (jupyterlab-ext/,
// installed into .cache/venv-desktop by hack/desktop-env.sh), in headless
// Chromium (test/browser/jupyterlab.mjs): Launcher tiles from the catalog,
// an app started from its tile and shown in a JupyterLab tab (screenshot
// test/artifacts/jupyterlab-xterm.png), stopped from the Running apps
// panel, the quota, unknown-app and failed-start messages there, and a
// notebook that launches, waits for and stops an app through the Jupyter
// server.
//
// TestHubDeletingServersDeletesTheirHomes and TestOrphansAreCollected are
// cleanup through real JupyterHubs (4, 5 and 6) with the kubedesk shim, on
// kwok's pods: removing a named server deletes its home PVC and no other,
// deleting the user deletes the rest (delete_forever), a stop keeps them;
// the service's orphan collection, with the hub service and role of the
// chart's Zero to JupyterHub example, stops sessions the hub does not have
// once older than the grace period (their Secrets go, their homes stay),
// keeps the hub's own, and in dry-run mode keeps its orphan and counts it
// once.
//
// TestDesktopStartupTimes is a benchmark, skipped unless KUBEDESK_E2E_RUNS is
// set: Start clicked → JupyterLab loaded, with its breakdown.
package e2e
