package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// Named timeouts of the demo test.
const (
	// demoStartTimeout bounds `hack/demo.sh` until its hub answers (its
	// installs are done by make deps; the service and hub start).
	demoStartTimeout = 5 * time.Minute
	// demoRealNodeStartTimeout is demoStartTimeout on the real node, whose
	// first start builds every image and the node's binaries (~15 min cold).
	demoRealNodeStartTimeout = 30 * time.Minute
	// demoStopTimeout bounds Ctrl-C → the demo exited (the hub stops every
	// server through the service, then the service stops).
	demoStopTimeout = 3 * time.Minute
)

// demo is hack/demo.sh, run as a new user runs it, on ports of its own.
type demo struct {
	URL, Password string
	// State is its KUBEDESK_DEMO_STATE: logs, the service's config files.
	State string
	cmd   *exec.Cmd
	done  chan struct{}
	log   string
}

// startDemo runs `hack/demo.sh` with its own namespace, state folder and
// free ports, and waits until its hub answers. The demo's configuration is
// its own: the test sets only where it runs, and env (e.g.
// KUBEDESK_DEMO_NODE=real) what a user would set.
func startDemo(t *testing.T, ns string, env ...string) *demo {
	t.Helper()
	root := repoRoot(t)
	state := t.TempDir()
	port := freePort(t)
	hubIP := "127.0.0.1"
	if slices.Contains(env, "KUBEDESK_DEMO_NODE=real") {
		hubIP = "10.250.0.2" // the hub runs in the real node's network namespace
	}
	d := &demo{URL: fmt.Sprintf("http://%s:%d", hubIP, port), Password: randomHex(t, 8), State: state,
		done: make(chan struct{}), log: filepath.Join(state, "demo.log")}
	logf, err := os.Create(d.log)
	require.NoError(t, err)
	defer logf.Close()
	d.cmd = exec.Command(filepath.Join(root, "hack", "demo.sh"))
	d.cmd.Dir = root
	d.cmd.Env = append(os.Environ(),
		"KUBEDESK_DEMO_NAMESPACE="+ns, "KUBEDESK_DEMO_STATE="+state, "KUBEDESK_DEMO_PASSWORD="+d.Password,
		fmt.Sprintf("KUBEDESK_DEMO_PORT=%d", port),
		fmt.Sprintf("KUBEDESK_DEMO_HUB_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBEDESK_DEMO_PROXY_API_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBEDESK_DEMO_SERVICE_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBEDESK_DEMO_OPS_PORT=%d", freePort(t)),
	)
	d.cmd.Env = append(d.cmd.Env, env...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// Its own process group, as a terminal gives it; Ctrl-C is a SIGINT.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, d.cmd.Start())
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.interrupt(t)
		// Whatever the demo left (a failed test), so no process outlives it.
		for _, pid := range d.children() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		if t.Failed() {
			for _, f := range []string{d.log, filepath.Join(state, "spawner.log"), filepath.Join(state, "jupyterhub.log")} {
				b, _ := os.ReadFile(f)
				t.Logf("%s (last 6000 bytes):\n%s", f, b[max(0, len(b)-6000):])
			}
		}
	})
	timeout := demoStartTimeout
	if strings.HasPrefix(d.URL, "http://10.250.") {
		// The real node's first start builds the images and the kubelet.
		timeout = demoRealNodeStartTimeout
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.log)
			t.Fatalf("hack/demo.sh exited during start (%s):\n%s", d.cmd.ProcessState, b)
		default:
		}
		if resp, err := http.Get(d.URL + "/hub/api"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		require.True(t, time.Now().Before(deadline), "the demo's hub did not answer within %s", timeout)
		time.Sleep(200 * time.Millisecond)
	}
}

// children are the pids of what the demo started (it runs each in a
// session of its own, so they are not in its process group).
func (d *demo) children() []int {
	data, _ := os.ReadFile(filepath.Join(d.State, "children"))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// interrupt is Ctrl-C in the demo's terminal; it returns once the demo
// exited.
func (d *demo) interrupt(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-d.done:
	case <-time.After(demoStopTimeout):
		t.Errorf("the demo did not stop within %s of Ctrl-C", demoStopTimeout)
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// catalog is what the demo's service loaded: the chart's catalog file and
// the Neurodesk import, from the files the demo wrote.
func (d *demo) catalog(t *testing.T) (own, neurodesk *catalog.Catalog) {
	t.Helper()
	dir := filepath.Join(d.State, "service-config")
	own, problems := catalog.Load(filepath.Join(dir, "catalog.yaml"))
	require.Empty(t, problems)
	data, err := os.ReadFile(filepath.Join(dir, "neurodesk-apps.json"))
	require.NoError(t, err, "the demo passes a Neurodesk sample")
	neurodesk, problems = catalog.ImportNeurodesk(data, "neurodesk-apps.json", catalog.NeurodeskOptions{})
	require.Empty(t, problems)
	return own, neurodesk
}

// TestDemo is `make demo` as a new user meets it: hack/demo.sh itself,
// with its own configuration (examples/demo/values.yaml through the chart),
// driven in headless Chromium.
//   - Log in, choose the Desktop profile on the hub's spawn page, Start: the
//     progress page shows the service's messages; JupyterLab's Launcher has
//     a tile for each app of the demo's catalog and of its Neurodesk sample.
//   - The new home has ~/examples: the notebooks and the sample brain.
//   - The desktop (JupyterLab's Desktop tile): the Applications menu,
//     opened by clicks in noVNC and read by OCR, lists "Kubedesk Apps" with
//     the catalog's categories; a click through a category and an app
//     starts it, and its window appears on the session's X display, by
//     name; its pod runs the app's own image beside the Xpra sidecar.
//   - The file manager's view (GIO): the sample brain is NIfTI, and MRIcron
//     is offered for it.
//   - Each demo app, started by its menu entry's command, puts a window on
//     the desktop (click → window timed; KUBEDESK_E2E_RUNS repeats).
//   - The example notebook, run as it is, opens MRIcron on the sample file:
//     the file's path is on the app pod's command line.
//   - Ctrl-C to the demo leaves no pod in its namespace and no process of
//     the session or of the demo.
//
// Screenshots (test/artifacts/demo-*.png) are the README's.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end on the dev node")
	}
	runs := 1
	if n, err := strconv.Atoi(os.Getenv("KUBEDESK_E2E_RUNS")); err == nil && n > 0 {
		runs = n
	}
	c := devcluster.Start(t)
	requireDesktopEnv(t)
	requireJupyterLabExt(t)
	for _, tool := range []string{"tesseract", "convert", "nsenter", "setpriv"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is needed (hack/desktop-env.sh)", tool)
	}
	buildDesktopBin(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	artifacts := artifactsDir(t)

	d := startDemo(t, ns)
	timeline := watchPods(t, c.Client, ns)
	own, neurodesk := d.catalog(t)
	require.Positive(t, own.Len(), "the demo has apps of its own")
	require.Positive(t, neurodesk.Len(), "and Neurodesk's")

	// The hub's spawn page, its progress, JupyterLab's tiles.
	const user = "ada"
	lab := startLab(t)
	spawned := lab.do(map[string]any{
		"cmd": "spawn", "hub": d.URL, "user": user, "password": d.Password, "profile": "desktop",
		"progressShot": filepath.Join(artifacts, "demo-spawn-progress.png"),
		"labShot":      filepath.Join(artifacts, "demo-jupyterlab.png"),
		"expect":       "MRIcron",
	})
	t.Logf("progress messages: %q", spawned.Messages)
	assert.NotEmpty(t, spawned.Messages, "the progress page shows the service's messages")
	var tiles []string
	for _, tile := range spawned.Tiles {
		tiles = append(tiles, tile.Section+"/"+tile.Label)
	}
	t.Logf("Launcher tiles: %q", tiles)
	for _, a := range append(own.Apps(), neurodesk.Apps()...) {
		assert.True(t, slices.ContainsFunc(tiles, func(s string) bool { return strings.HasSuffix(s, "/"+a.Name+" "+a.Version) }),
			"a Launcher tile for %s %s", a.Name, a.Version)
	}

	session, err := c.Client.CoreV1().Pods(ns).Get(ctx, "jupyter-"+user, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, devcluster.DevnodeName, session.Spec.NodeName)
	pid, err := devcluster.ContainerPID(session, "notebook")
	require.NoError(t, err)
	sessionProcs, err := devcluster.ContainerProcesses(pid)
	require.NoError(t, err)
	s := &sessionShell{t: t, pid: pid}
	s.waitForAgent()
	home := s.getenv("HOME")
	for _, f := range []string{"examples/data/brain.nii.gz", "examples/notebooks/open-a-viewer.ipynb"} {
		_, err := os.Stat(devcluster.ContainerFile(pid, filepath.Join(home, f)))
		assert.NoError(t, err, "a new home has ~/%s", f)
	}

	// The desktop's Applications menu, by clicks, read off the screen.
	lab.do(map[string]any{"cmd": "desktop", "screenshot": filepath.Join(artifacts, "demo-desktop.png")})
	x := sessionDisplay(t, pid)
	menu := &desktopMenu{t: t, lab: lab, x: x, shots: filepath.Join(artifacts, "demo-menu")}
	require.NoError(t, os.MkdirAll(menu.shots, 0o755))
	// The agent's menu is written (entries, then the merged menu), as a
	// user who opens the menu a few seconds after the desktop finds it.
	s.menuEntry("kubedesk-mtpaint_3.40.desktop")
	waitForFile(t, devcluster.ContainerFile(pid, filepath.Join(home, ".config", "menus", "applications-merged", "kubedesk-apps.menu")), agentTimeout)
	menu.openApplications("Kubedesk Apps")
	right, _ := menu.click("Kubedesk Apps", 0)
	_, _, lines := menu.find("Graphics", right)
	var read []string
	for _, l := range lines {
		read = append(read, strings.ToLower(l.text()))
	}
	t.Logf("Kubedesk Apps menu: %q", read)
	for _, cat := range []string{"neuroimaging", "graphics", "data analysis", "utilities", "image segmentation"} {
		assert.True(t, slices.ContainsFunc(read, func(s string) bool { return strings.Contains(s, cat) }),
			"the Kubedesk Apps menu lists the category %q", cat)
	}
	const menuApp, menuAppWindow = "mtPaint", "mtPaint 3.40"
	right, _ = menu.click("Graphics", right)
	right, _ = menu.click(menuApp, right)
	l, _, _ := menu.find(menuAppWindow, right)
	lab.do(map[string]any{"cmd": "desktop-shot", "screenshot": filepath.Join(artifacts, "demo-desktop-menu.png")})
	cx, cy := l.centre()
	clicked := time.Now()
	lab.do(map[string]any{"cmd": "desktop-click", "x": cx, "y": cy})
	mapped := x.waitForWindow(menuAppWindow, clicked.Add(windowTimeout))
	t.Logf("menu click → %s window mapped: %s", menuApp, mapped.Sub(clicked).Round(time.Millisecond))
	lab.do(map[string]any{"cmd": "desktop-shot", "screenshot": filepath.Join(artifacts, "demo-desktop-app.png")})
	app := appPod(t, timeline, "kubedesk/mtpaint:3.40", clicked)
	appNow, err := c.Client.CoreV1().Pods(ns).Get(ctx, app.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, session.Spec.NodeName, appNow.Spec.NodeName, "the app pod runs next to its session")
	assert.Equal(t, "kubedesk/mtpaint:3.40", appContainer(t, app).Image, "the app's own image")
	s.run("launch", "--stop", app.Name)
	x.waitForNoWindow(menuAppWindow, time.Now().Add(appGoneTimeout))

	// The desktop's file manager sees the sample brain as NIfTI and offers
	// MRIcron for it (asked through GIO, as Thunar asks): the agent typed
	// the catalog's extensions in the user's MIME database.
	brain := filepath.Join(home, "examples", "data", "brain.nii.gz")
	assert.Contains(t, s.run("gio", "info", "-a", "standard::content-type", brain), "application/x-nifti")
	assert.Contains(t, s.run("gio", "mime", "application/x-nifti"), "kubedesk-mricron_1.2.20211006.desktop",
		"Open With offers MRIcron for NIfTI files")

	// Every demo app from its menu entry's command, as a click runs it, with
	// the sample brain for the apps that open NIfTI, as the file manager's
	// "Open With" runs it (the entry's Exec with %F): its window on the
	// desktop.
	for _, a := range own.Apps() {
		cmd := s.menuEntry("kubedesk-" + a.ID + "_" + a.Version + ".desktop")
		if slices.Contains(a.FileTypes, ".nii.gz") {
			cmd = append(cmd, brain)
		}
		var times []time.Duration
		for run := range runs {
			before := len(x.windows(""))
			t0 := time.Now()
			id := s.launch(cmd...)
			at := x.waitForNewWindow(before, t0.Add(windowTimeout))
			times = append(times, at.Sub(t0))
			if run == 0 {
				time.Sleep(2 * time.Second) // drawn, not only mapped
				lab.do(map[string]any{"cmd": "desktop-shot", "screenshot": filepath.Join(artifacts, "demo-desktop-"+a.ID+".png")})
			}
			s.run("launch", "--stop", id)
			waitPodGone(t, c, ns, id)
		}
		t.Logf("click → window, %s %s: %s", a.Name, strings.Join(cmd[1:], " "), medianOf(times))
	}

	// The example notebook as it is: MRIcron on the sample file.
	nbStart := time.Now()
	nb := lab.do(map[string]any{"cmd": "run-notebook", "path": "examples/notebooks/open-a-viewer.ipynb", "done": "ended"})
	t.Logf("notebook outputs:\n%s", strings.Join(nb.Outputs, "\n---\n"))
	viewer := appPod(t, timeline, "kubedesk/mricron:1.2.20211006", nbStart)
	ctr := appContainer(t, viewer)
	cmdline := append(slices.Clone(ctr.Command), ctr.Args...)
	t.Logf("the viewer's command line: %q", cmdline)
	assert.Contains(t, cmdline, brain, "the sample file on the viewer's command line")

	// JupyterLab's "Open with" on the sample file in the file browser.
	openStart := time.Now()
	opened := lab.do(map[string]any{"cmd": "open-with", "file": "examples/data/brain.nii.gz", "label": "Open with MRIcron", "write": false})
	require.NotEmpty(t, opened.ID, "Open with MRIcron started an app (notice: %q)", opened.Notice)
	ctr = appContainer(t, appPod(t, timeline, "kubedesk/mricron:1.2.20211006", openStart))
	assert.Contains(t, append(slices.Clone(ctr.Command), ctr.Args...), brain, "Open with puts the file on the viewer's command line")
	s.run("launch", "--stop", opened.ID)
	waitPodGone(t, c, ns, opened.ID)

	// Ctrl-C: nothing is left.
	d.interrupt(t)
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, podNames(pods.Items), "pods left after Ctrl-C")
	for _, p := range sessionProcs {
		assert.False(t, p.Alive(), "session process %d (%s) left after Ctrl-C", p.PID, p.Cmd)
	}
	for _, pid := range d.children() {
		assert.Error(t, syscall.Kill(pid, 0), "the demo's process %d left after Ctrl-C", pid)
	}
}

// appPod waits for the app pod of image created after since, as the watch
// saw it.
func appPod(t *testing.T, tl *podTimeline, image string, since time.Time) podTimes {
	t.Helper()
	deadline := time.Now().Add(windowTimeout)
	for {
		tl.mu.Lock()
		for _, p := range tl.pods {
			if !p.Created.Before(since.Add(-time.Second)) && slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Image == image }) {
				tl.mu.Unlock()
				return *p
			}
		}
		tl.mu.Unlock()
		require.True(t, time.Now().Before(deadline), "no app pod of %s since %s", image, since.Format(time.TimeOnly))
		time.Sleep(100 * time.Millisecond)
	}
}

func appContainer(t *testing.T, p podTimes) corev1.Container {
	t.Helper()
	for _, c := range p.Spec.Containers {
		if c.Name == "app" {
			return c
		}
	}
	t.Fatalf("pod %s has no app container", p.Name)
	return corev1.Container{}
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func waitForFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "no %s within %s", path, timeout)
		time.Sleep(100 * time.Millisecond)
	}
}

func waitPodGone(t *testing.T, c *devcluster.Cluster, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(appGoneTimeout)
	for {
		if _, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "app pod %s still there %s after its stop", name, appGoneTimeout)
		time.Sleep(100 * time.Millisecond)
	}
}

func medianOf(d []time.Duration) string {
	var parts []string
	for _, v := range d {
		parts = append(parts, v.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("median %s of %d (%s)", median(d).Round(time.Millisecond), len(d), strings.Join(parts, ", "))
}
