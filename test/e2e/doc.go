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
// TestDesktopStartupTimes is a benchmark, skipped unless KUBEDESK_E2E_RUNS is
// set: Start clicked → JupyterLab loaded, with its breakdown.
package e2e
