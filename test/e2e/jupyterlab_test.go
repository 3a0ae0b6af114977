package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// jupyterlabStepTimeout bounds one browser step of the JupyterLab test: an
// app pod starting and its window drawn in a tab, or a notebook that waits
// for an app twice (the script's own limit is 180 s a step).
const jupyterlabStepTimeout = 5 * time.Minute

// jupyterlabCatalog is the service's catalog for the JupyterLab test: the
// xterm of the launch test (its window found by its fixed title), opening
// text files, and an app whose image no registry has, which fails to start.
const jupyterlabCatalog = `
- id: xterm
  name: XTerm
  version: "1"
  categories: [system]
  image: kubedesk/example-xterm:1
  command: [xterm, -xrm, "XTerm*allowTitleOps: false", -T, TITLE]
  file_types: [.txt]
- id: broken
  name: Broken
  version: "1"
  categories: [testing]
  image: kubedesk/no-such-image:1
  command: [broken]
  file_types: [.txt]
`

// TestJupyterLab is the JupyterLab extension's end to end (issue 5) in
// headless Chromium (test/browser/jupyterlab.mjs) through a real JupyterHub
// (the demo's configuration) on the dev node, in the desktop's own
// JupyterLab (.cache/venv-desktop, with kubedesk-jupyterlab installed by
// hack/desktop-env.sh as the image installs it). The service lets a session
// run one app at a time, so a second launch is over its quota.
//   - The Launcher shows the catalog's apps as tiles, by category, with
//     their versions.
//   - The XTerm tile starts an app: its pod appears in the API server, the
//     Running apps panel lists it running, and "Open in tab" shows its
//     window in a JupyterLab tab, drawn (screenshot
//     test/artifacts/jupyterlab-xterm.png).
//   - "Show on desktop": the tab closes, the desktop opens in a browser
//     tab, and the window, off the desktop while the JupyterLab tab had it,
//     is mapped on the session's X display again.
//   - The tile again: the panel says, in the service's words, that the
//     quota is reached; no second pod.
//   - "Stop" in the panel: the pod goes, the panel says it stopped.
//   - The Broken tile: the panel shows the app failed, with the reason.
//   - "Open with Broken" on a text file in the file browser: the app's pod
//     has the file's absolute path on its command line.
//   - "Launch App by Name…" with an app the catalog lacks: the panel says so.
//   - Notebooks run through the Jupyter server: launch("xterm") and
//     wait_ready() return a running app whose pod exists; unknown app and
//     quota raise LaunchError with the service's words; the handle's
//     "Open in a JupyterLab tab" button shows the window in a tab
//     (test/artifacts/jupyterlab-notebook-tab.png); in a second notebook,
//     running() finds the app and stop() returns once its pod is gone; the
//     broken app raises LaunchError "failed" with the reason.
func TestJupyterLab(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end on the dev node")
	}
	c := devcluster.Start(t)
	requireDesktopEnv(t)
	requireJupyterLabExt(t)
	buildDesktopBin(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	title := "kubedesk-lab-" + randomHex(t, 4)
	catalogFile := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(catalogFile, []byte(strings.Replace(jupyterlabCatalog, "TITLE", title, 1)), 0o600))
	svc := spawnertest.Start(t, spawnertest.Options{
		// The demo's settings (profiles, Xpra image, session URL), with
		// this test's catalog alone.
		Kubeconfig: c.Kubeconfig, Namespace: ns, Chart: spawnertest.DemoChart(),
		Env: []string{"KUBEDESK_CATALOG_FILE=" + catalogFile, "KUBEDESK_NEURODESK_APPS_FILE=",
			"KUBEDESK_MAX_APPS_PER_SESSION=1"},
	})
	h := startDemoHub(t, svc)

	const user = "alice"
	_, session, s := spawnDesktop(t, c, ns, h, svc, user)
	pid := s.pid

	lab := startLab(t)
	opened := lab.do(map[string]any{"cmd": "open", "hub": h.URL, "user": user, "password": h.Password, "expect": "XTerm 1"})
	var tiles []string
	for _, tile := range opened.Tiles {
		tiles = append(tiles, tile.Section+"/"+tile.Label)
	}
	assert.Contains(t, tiles, "System/XTerm 1", "the catalog's apps as Launcher tiles, by category, with versions")
	assert.Contains(t, tiles, "Testing/Broken 1")

	// A tile starts an app; its pod is in the API server; its window in a tab.
	started := lab.do(map[string]any{"cmd": "click-tile", "label": "XTerm 1"})
	require.NotEmpty(t, started.ID, "the panel lists the new app (notice: %q)", started.Notice)
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, started.ID, metav1.GetOptions{})
	require.NoError(t, err, "the app's pod")
	assert.Equal(t, "xterm", pod.Labels["kubedesk.dev/app"])
	assert.Equal(t, session.Name, pod.Labels["kubedesk.dev/session"])
	running := lab.do(map[string]any{"cmd": "wait-status", "id": started.ID, "status": "running"})
	assert.Equal(t, "Running", running.Text)
	shot := filepath.Join(artifactsDir(t), "jupyterlab-xterm.png")
	view := lab.do(map[string]any{"cmd": "open-tab", "id": started.ID, "title": title, "screenshot": shot})
	assert.Contains(t, view.Window.Title, title)
	assert.Greater(t, view.Window.Colors, 1, "the window is drawn in the tab")
	assert.Zero(t, view.SecretURLs, "requests with an Xpra password or key in their URL (tab at %s)", view.URL)
	t.Logf("the app's window in a JupyterLab tab: %q %dx%d, %d colours; screenshot %s",
		view.Window.Title, view.Window.Width, view.Window.Height, view.Window.Colors, shot)
	// Xpra serves one client: while the tab has the app, its window is not
	// on the desktop; "Show on desktop" closes the tab and the agent's
	// attach brings the window back there.
	x := sessionDisplay(t, pid)
	x.waitForNoWindow(title, time.Now().Add(windowTimeout))
	onDesktop := lab.do(map[string]any{"cmd": "show-on-desktop", "id": started.ID})
	assert.True(t, strings.HasSuffix(onDesktop.URL, "/user/"+user+"/desktop/"), "opened the desktop: %s", onDesktop.URL)
	x.waitForWindow(title, time.Now().Add(windowTimeout))

	// Over the quota: the service's words in the panel, and no second pod.
	refused := lab.do(map[string]any{"cmd": "click-tile", "label": "XTerm 1"})
	assert.Empty(t, refused.ID)
	assert.Equal(t, "XTerm 1 could not be started: This session already runs or starts 1 app, the most it may; close one first.", refused.Notice)
	requireAppPods(t, c, ns, started.ID)

	stopped := lab.do(map[string]any{"cmd": "stop", "id": started.ID})
	assert.Equal(t, "Ended: Stopped", stopped.Text)
	waitGone(t, c, ns, started.ID, appGoneTimeout)

	broken := lab.do(map[string]any{"cmd": "click-tile", "label": "Broken 1"})
	require.NotEmpty(t, broken.ID, "the panel lists the broken app (notice: %q)", broken.Notice)
	failed := lab.do(map[string]any{"cmd": "wait-status", "id": broken.ID, "status": "failed"})
	assert.Regexp(t, `^Failed: The app could not start: .*kubedesk/no-such-image:1`, failed.Text)

	// "Open with" on a file: the app's pod gets the file's absolute path.
	openWith := lab.do(map[string]any{"cmd": "open-with", "file": "notes.txt", "label": "Open with Broken"})
	require.NotEmpty(t, openWith.ID, "the panel lists the app opened on the file (notice: %q)", openWith.Notice)
	pod, err = c.Client.CoreV1().Pods(ns).Get(ctx, openWith.ID, metav1.GetOptions{})
	require.NoError(t, err, "the pod of the app opened on the file")
	var argv []string
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name == "app" {
			argv = append(append(argv, ctr.Command...), ctr.Args...)
		}
	}
	require.NotEmpty(t, argv)
	assert.Regexp(t, `^/.*/notes\.txt$`, argv[len(argv)-1], "the file, absolute, on the app's command line: %q", argv)
	lab.do(map[string]any{"cmd": "wait-status", "id": openWith.ID, "status": "failed"})

	unknown := lab.do(map[string]any{"cmd": "launch-by-name", "name": "no-such-app"})
	assert.Regexp(t, `^no-such-app could not be started: .*no-such-app`, unknown.Notice)

	// Notebooks, run through the Jupyter server: the first launches and
	// waits, and meets the refusals; its output's button opens the app in a
	// JupyterLab tab; a second notebook (another kernel) finds it running,
	// stops it, and meets the app that fails to start.
	nb := lab.do(map[string]any{"cmd": "notebook", "path": "kubedesk-e2e.ipynb", "done": "KUBEDESK-PART1", "cells": []string{
		"from kubedesk_jupyterlab import apps, launch, LaunchError\n" +
			"print('APPS', sorted({a.id for a in apps()}))\n" +
			"viewer = launch('xterm', wait=False)\n" +
			"viewer.wait_ready()\n" +
			"print('READY', viewer.id, viewer.status)\n" +
			"viewer",
		"for name in ['no-such-app', 'xterm']:\n" +
			"    try:\n" +
			"        launch(name)\n" +
			"        print('LAUNCHED', name)\n" +
			"    except LaunchError as e:\n" +
			"        print('REFUSED', name, e.code, '-', e)\n" +
			"print('KUBEDESK-PART1')",
	}})
	t.Logf("notebook outputs:\n%s", strings.Join(nb.Outputs, "\n"))
	require.Len(t, nb.Outputs, 2)
	assert.Contains(t, nb.Outputs[0], "APPS ['broken', 'xterm']")
	ready := regexp.MustCompile(`READY (\S+) running`).FindStringSubmatch(nb.Outputs[0])
	require.NotNil(t, ready, "launch and wait_ready in the notebook: %s", nb.Outputs[0])
	nbApp := ready[1]
	assert.Contains(t, nb.Outputs[0], "Open xterm 1", "the handle's rich display: a link to its window")
	_, err = c.Client.CoreV1().Pods(ns).Get(ctx, nbApp, metav1.GetOptions{})
	require.NoError(t, err, "the notebook's app pod")
	assert.Contains(t, nb.Outputs[1], "REFUSED no-such-app unknown_app - ")
	assert.Contains(t, nb.Outputs[1], "REFUSED xterm quota - This session already runs or starts 1 app, the most it may; close one first.")

	shot = filepath.Join(artifactsDir(t), "jupyterlab-notebook-tab.png")
	view = lab.do(map[string]any{"cmd": "open-from-output", "label": "Open in a JupyterLab tab", "id": nbApp, "title": title, "screenshot": shot})
	assert.Contains(t, view.Window.Title, title)
	assert.Greater(t, view.Window.Colors, 1, "the window is drawn in the tab the notebook's button opened")

	nb = lab.do(map[string]any{"cmd": "notebook", "path": "kubedesk-e2e-2.ipynb", "done": "KUBEDESK-DONE", "cells": []string{
		"from kubedesk_jupyterlab import launch, running, LaunchError\n" +
			"[viewer] = running()\n" +
			"print('RUNNING', viewer.id)\n" +
			"viewer.stop()\n" +
			"print('STOPPED', viewer.id, viewer.status)",
		"try:\n" +
			"    launch('broken')\n" +
			"    print('LAUNCHED broken')\n" +
			"except LaunchError as e:\n" +
			"    print('REFUSED broken', e.code, '-', e)\n" +
			"print('KUBEDESK-DONE')",
	}})
	t.Logf("notebook outputs:\n%s", strings.Join(nb.Outputs, "\n"))
	require.Len(t, nb.Outputs, 2)
	assert.Contains(t, nb.Outputs[0], "RUNNING "+nbApp)
	assert.Contains(t, nb.Outputs[0], fmt.Sprintf("STOPPED %s ended", nbApp))
	_, err = c.Client.CoreV1().Pods(ns).Get(ctx, nbApp, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "stop() returned with the pod gone: %v", err)
	assert.Regexp(t, `REFUSED broken failed - broken 1 failed to start: The app could not start: .*kubedesk/no-such-image:1`, nb.Outputs[1])
}

// requireJupyterLabExt checks that the desktop's environment has the
// extension, as hack/desktop-env.sh installs it.
func requireJupyterLabExt(t *testing.T) {
	t.Helper()
	python := filepath.Join(repoRoot(t), ".cache", "venv-desktop", "bin", "python")
	out, err := exec.Command(python, "-c", "import kubedesk_jupyterlab, jupyter_core.paths as p, os; "+
		"print(any(os.path.isdir(os.path.join(d, 'labextensions', '@kubedesk', 'jupyterlab')) for d in p.jupyter_path()))").CombinedOutput()
	require.NoError(t, err, "kubedesk-jupyterlab in .cache/venv-desktop (run hack/desktop-env.sh venv): %s", out)
	require.Equal(t, "True", strings.TrimSpace(string(out)), "the labextension in .cache/venv-desktop (run hack/desktop-env.sh venv)")
}

// requireAppPods checks that the namespace's app pods are exactly names.
func requireAppPods(t *testing.T, c *devcluster.Cluster, ns string, names ...string) {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=app"})
	require.NoError(t, err)
	var got []string
	for _, p := range pods.Items {
		got = append(got, p.Name)
	}
	require.ElementsMatch(t, names, got, "the app pods")
}

// labDriver runs test/browser/jupyterlab.mjs and sends it one command at a
// time.
type labDriver struct {
	t   *testing.T
	in  *json.Encoder
	out *bufio.Scanner
}

// labAnswer is one answer line of jupyterlab.mjs.
type labAnswer struct {
	OK         bool   `json:"ok"`
	Error      string `json:"error"`
	URL        string `json:"url"`
	Panel      string `json:"panel"`
	Screenshot string `json:"screenshot"`
	Tiles      []struct {
		Section string `json:"section"`
		Label   string `json:"label"`
	} `json:"tiles"`
	ID     string `json:"id"`
	Notice string `json:"notice"`
	Text   string `json:"text"`
	Window struct {
		Title  string `json:"title"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
		Colors int    `json:"colors"`
	} `json:"window"`
	Outputs []string `json:"outputs"`
	// open-tab, open-from-output: requests whose URL had a password=.
	SecretURLs int `json:"secretURLs"`
	// spawn: the progress page's messages.
	Messages []string `json:"messages"`
	// desktop: noVNC's status line.
	Status string `json:"status"`
}

func startLab(t *testing.T) *labDriver {
	t.Helper()
	root := repoRoot(t)
	for _, need := range []string{"/usr/bin/chromium", filepath.Join(root, "test", "browser", "node_modules", "playwright-core")} {
		_, err := os.Stat(need)
		require.NoError(t, err, "run hack/desktop-env.sh browser first (make deps does)")
	}
	cmd := exec.Command("node", filepath.Join(root, "test", "browser", "jupyterlab.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBEDESK_ARTIFACTS="+artifactsDir(t))
	stderr := &spawnertest.SyncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("jupyterlab.mjs stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	return &labDriver{t: t, in: json.NewEncoder(stdin), out: sc}
}

// do sends one command and fails the test unless the browser did it.
func (l *labDriver) do(req map[string]any) labAnswer {
	l.t.Helper()
	require.NoError(l.t, l.in.Encode(req))
	lines := make(chan string, 1)
	go func() {
		if l.out.Scan() {
			lines <- l.out.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		require.True(l.t, ok, "jupyterlab.mjs exited during %v", req["cmd"])
		var a labAnswer
		require.NoError(l.t, json.Unmarshal([]byte(line), &a), "jupyterlab.mjs said %s", line)
		require.True(l.t, a.OK, "browser step %v failed at %s: %s\npanel: %q\nscreenshot: %s", req["cmd"], a.URL, a.Error, a.Panel, a.Screenshot)
		return a
	case <-time.After(jupyterlabStepTimeout):
		l.t.Fatalf("browser step %v: no answer within %s", req["cmd"], jupyterlabStepTimeout)
		return labAnswer{}
	}
}
