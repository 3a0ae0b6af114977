package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// Named timeouts of the launch test.
const (
	// sessionReadyTimeout bounds spawn → Ready of the desktop session.
	sessionReadyTimeout = 3 * time.Minute
	// agentTimeout bounds session Ready → the launcher agent's socket and
	// menu entry (the agent starts with the desktop, before the server).
	agentTimeout = time.Minute
	// windowTimeout bounds `launch` → the app's window mapped on the
	// session's display (service, app pod start, xpra attach).
	windowTimeout = time.Minute
	// drawnTimeout bounds window mapped → its content (the prompt) drawn.
	drawnTimeout = 20 * time.Second
	// appGoneTimeout bounds a stop → the app pod gone and its window unmapped.
	appGoneTimeout = time.Minute
)

// launchRuns is how many launch → window → close cycles the test makes;
// KUBEDESK_E2E_RUNS overrides it (make bench-launch: 10).
const launchRuns = 3

// launchCatalog is the service's catalog: one xterm whose title is fixed
// (allowTitleOps off, or the shell renames it), so the test finds its window
// by name on the session's display.
const launchCatalog = `
- id: xterm
  name: XTerm
  version: "1"
  categories: [system]
  image: kubedesk/example-xterm:1
  command: [xterm, -xrm, "XTerm*allowTitleOps: false", -T, TITLE]
`

// launchProfiles is the demo's desktop profile (the real desktop image on
// the dev node) whose launcher agent reports activity every second, so the
// test sees the hub's last_activity move within seconds.
const launchProfiles = `
- display_name: Desktop
  slug: desktop
  default: true
  kubespawner_override:
    image: kubedesk/desktop:latest
    node_selector:
      kubedesk.dev/devnode: "true"
    tolerations:
      - key: kubedesk.dev/devnode
        operator: Exists
        effect: NoSchedule
    environment:
      KUBEDESK_ACTIVITY_INTERVAL: 1s
`

// sessionTokenTTL is the service's session_token_ttl here: short, so the
// service renews the session's token (below half of it) during the test.
const sessionTokenTTL = 30 * time.Second

// activityTimeout bounds an app attached → the hub's last_activity for its
// user moved (the agent reports every KUBEDESK_ACTIVITY_INTERVAL, 1 s here).
const activityTimeout = 30 * time.Second

// TestLaunchFromDesktop is the launcher's end to end through a real
// JupyterHub (the demo's configuration) on the dev node. The hub spawns
// alice's session (REST API, as an admin; the real desktop image: X, XFCE,
// JupyterLab, the launcher agent with the hub's environment). Inside the
// session, as its user, the command of the Applications menu entry the
// agent wrote (`launch xterm 1`) runs; then:
//   - the app pod in the API server: image, command, the Xpra sidecar, owner,
//     node, security context, no service account token, its Secret (the
//     Xpra password) and NetworkPolicy (ingress only from the session pod);
//   - its window mapped on the session's X display (by name, through the X
//     server), drawn, and a screenshot of that display;
//   - the hub's last_activity for alice moves while the app is attached;
//   - the same app through the agent's HTML5 proxy in headless Chromium,
//     with a hub token of alice's in ?token=: the Xpra window in the page,
//     drawn, and a screenshot; when the browser leaves, the window comes
//     back on the desktop;
//   - the app closed: by `launch --stop`, or (every other run) by ending its
//     process, as a user closing the window does: its pod, window and
//     processes go.
//
// The service's session tokens live sessionTokenTTL here, so during the
// test it renews the session's token in its Secret, the dev node refreshes
// the pod's token file (as a kubelet), and launches go on working.
// Each launch is timed (logged, never asserted; make bench-launch runs 10).
// Last, a launched app and the session are stopped through the hub: no app
// pod, Secret, NetworkPolicy or process is left.
func TestLaunchFromDesktop(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end on the dev node")
	}
	runs := launchRuns
	if n, err := strconv.Atoi(os.Getenv("KUBEDESK_E2E_RUNS")); err == nil && n > 0 {
		runs = n
	}
	c := devcluster.Start(t)
	requireDesktopEnv(t)
	for _, tool := range []string{"nsenter", "setpriv", "xpra", "import"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is needed (util-linux, xpra, imagemagick: hack/desktop-env.sh)", tool)
	}
	buildDesktopBin(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	title := "kubedesk-e2e-" + randomHex(t, 4)
	catalogFile := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(catalogFile, []byte(strings.Replace(launchCatalog, "TITLE", title, 1)), 0o600))
	svc := spawnertest.Start(t, spawnertest.Options{
		// The demo's settings, with this test's profile and catalog alone.
		Kubeconfig: c.Kubeconfig, Namespace: ns, Chart: spawnertest.DemoChart(), Profiles: launchProfiles,
		Env: []string{"KUBEDESK_CATALOG_FILE=" + catalogFile, "KUBEDESK_NEURODESK_APPS_FILE=",
			"KUBEDESK_SESSION_TOKEN_TTL=" + sessionTokenTTL.String()},
	})
	h := startDemoHub(t, svc)
	timeline := watchPods(t, c.Client, ns)

	// The session, spawned by the hub.
	const user = "alice"
	admin, session, s := spawnDesktop(t, c, ns, h, svc, user)
	pid := s.pid
	sessionProcs, err := devcluster.ContainerProcesses(pid)
	require.NoError(t, err)
	firstToken := sessionToken(t, c, session)
	require.NotEmpty(t, s.getenv("JUPYTERHUB_API_URL"), "the agent has the hub's environment")
	x := sessionDisplay(t, pid)

	// The menu entry's command, as the desktop's menu runs it.
	entry := s.menuEntry("kubedesk-xterm_1.desktop")
	t.Logf("menu entry: Exec=%s", strings.Join(entry, " "))
	require.Equal(t, []string{"launch", "xterm", "1"}, entry)

	var times []launchTimes
	for run := range runs {
		clicked := time.Now()
		id := s.launch(entry...)
		mapped := x.waitForWindow(title, clicked.Add(windowTimeout))
		lt := launchTimes{Clicked: clicked, Mapped: mapped}
		p, ok := timeline.get(id)
		require.True(t, ok, "the app pod %s was seen by the watch", id)
		lt.Pod = p
		times = append(times, lt)
		t.Logf("launch %d (%s): %s", run, id, lt)

		pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, id, metav1.GetOptions{})
		require.NoError(t, err)
		if run == 0 {
			checkAppPod(t, c, pod, session, title)
			// Mapped is not drawn: xpra paints the window's pixels after it
			// maps it. The xterm's prompt makes more than one colour.
			drawn := x.waitForDrawn(title, time.Now().Add(drawnTimeout))
			t.Logf("launch %d: window drawn (%d colours) %v after it was mapped", run, drawn.colours, drawn.at.Sub(mapped).Round(time.Millisecond))
			shot := filepath.Join(artifactsDir(t), "launch-xterm.png")
			x.screenshot(shot)
			t.Logf("screenshot of the session's display: %s", shot)

			admin.waitForActivity(t, user)
			viewInBrowser(t, admin, session, id, title)
			// The browser left: the desktop's attach, which waited while
			// the browser had the app, takes it back.
			x.waitForWindow(title, time.Now().Add(windowTimeout))
		}
		appProcs := podProcesses(t, pod)

		stopAt := time.Now()
		if run%2 == 0 {
			out := s.run("launch", "--stop", id)
			assert.Contains(t, out, "Stopping "+id)
		} else {
			// The user closes the app: its process ends, the sidecar ends
			// with it, the pod ends and the service deletes it.
			appPID, err := devcluster.ContainerPID(pod, "app")
			require.NoError(t, err)
			require.NoError(t, syscall.Kill(appPID, syscall.SIGTERM))
		}
		waitGone(t, c, ns, id, appGoneTimeout)
		x.waitForNoWindow(title, time.Now().Add(appGoneTimeout))
		waitProcessesGone(t, appProcs)
		t.Logf("launch %d: closed; pod, window and processes gone after %v", run, time.Since(stopAt).Round(time.Millisecond))
	}
	logLaunchTimes(t, times)

	// The session outlived its first token's renewal point: the service
	// renewed it in the Secret, the dev node (as a kubelet) refreshed the
	// mounted file, and the agent, which reads it on every call, went on.
	file := devcluster.ContainerFile(pid, "/etc/kubedesk/session/token")
	deadline := time.Now().Add(2 * sessionTokenTTL)
	for {
		current := sessionToken(t, c, session)
		inPod, err := os.ReadFile(file)
		require.NoError(t, err)
		if current != firstToken && string(inPod) == current {
			t.Logf("the session's token was renewed and its file in the pod refreshed (the service renews below half of %s)", sessionTokenTTL)
			break
		}
		require.True(t, time.Now().Before(deadline), "the session's token was not renewed into the pod's file within %s", 2*sessionTokenTTL)
		time.Sleep(200 * time.Millisecond)
	}

	// A running app, then the hub stops the session: the app goes with it.
	id := s.launch(entry...)
	x.waitForWindow(title, time.Now().Add(windowTimeout))
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, id, metav1.GetOptions{})
	require.NoError(t, err)
	appProcs := podProcesses(t, pod)
	_, err = admin.StopServer(ctx, user, "")
	require.NoError(t, err)
	admin.waitForServer(t, user, false, podGoneTimeout)
	deadline = time.Now().Add(podGoneTimeout)
	for {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		secrets, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		policies, err := c.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		var left []string
		for _, p := range pods.Items {
			left = append(left, "pod/"+p.Name)
		}
		for _, s := range secrets.Items {
			left = append(left, "secret/"+s.Name)
		}
		for _, np := range policies.Items {
			left = append(left, "networkpolicy/"+np.Name)
		}
		if len(left) == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "left %s after the session's stop: %q", podGoneTimeout, left)
		time.Sleep(200 * time.Millisecond)
	}
	waitProcessesGone(t, append(sessionProcs, appProcs...))
}

// sessionToken is the launcher token in the session's Secret.
func sessionToken(t *testing.T, c *devcluster.Cluster, session *corev1.Pod) string {
	t.Helper()
	secret, err := c.Client.CoreV1().Secrets(session.Namespace).Get(t.Context(), session.Name, metav1.GetOptions{})
	require.NoError(t, err)
	tok := string(secret.Data["KUBEDESK_SESSION_TOKEN"])
	require.NotEmpty(t, tok, "the session's Secret has a launcher token")
	return tok
}

// viewInBrowser opens app id through the session's HTML5 proxy
// (<pod IP>:8899/apps/<id>/) in headless Chromium, with a fresh hub token
// of the session's owner in ?token= (as a link from JupyterLab has), and
// waits for the app's window in the Xpra HTML5 client, drawn.
func viewInBrowser(t *testing.T, admin *hubAdmin, session *corev1.Pod, id, title string) {
	t.Helper()
	owner := session.Labels["hub.jupyter.org/username"]
	require.NotEmpty(t, owner)
	token := admin.newToken(t, owner)
	u := fmt.Sprintf("http://%s/apps/%s/?token=%s", net.JoinHostPort(session.Status.PodIP, "8899"), id, url.QueryEscape(token))
	shot := filepath.Join(artifactsDir(t), "launch-xterm-html5.png")
	cmd := exec.Command("node", filepath.Join(repoRoot(t), "test", "browser", "xpra-html5.mjs"), u, title, shot)
	out, err := cmd.Output()
	var res struct {
		OK         bool   `json:"ok"`
		MS         int64  `json:"ms"`
		Error      string `json:"error"`
		Page       string `json:"page"`
		URL        string `json:"url"`
		SecretURLs int    `json:"secretURLs"`
		Window     struct {
			Title         string `json:"title"`
			Width, Height int
			Colors        int `json:"colors"`
		} `json:"window"`
	}
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(out), &res), "xpra-html5.mjs said %s (%v)", out, err)
	require.True(t, res.OK, "the app's window in the HTML5 client at %s: %s; page: %q", res.URL, res.Error, res.Page)
	assert.Contains(t, res.Window.Title, title)
	assert.Greater(t, res.Window.Colors, 1, "the window's canvas is drawn")
	assert.Zero(t, res.SecretURLs, "requests with an Xpra password or key in their URL (page at %s)", res.URL)
	t.Logf("HTML5 view: window %q %dx%d (%d colours) %d ms after opening the page; screenshot %s",
		res.Window.Title, res.Window.Width, res.Window.Height, res.Window.Colors, res.MS, shot)
}

// buildDesktopBin builds kubedesk-launcher and launch into
// .cache/desktop-bin, which hack/devnode/images.yaml puts on the desktop's
// PATH (hack/dev-cluster.sh up builds them too): the test runs the agent of
// this checkout. A binary is replaced by a rename, so a running agent keeps
// its own.
func buildDesktopBin(t *testing.T) {
	t.Helper()
	root := repoRoot(t)
	dest := filepath.Join(root, ".cache", "desktop-bin")
	tmp := t.TempDir()
	cmd := exec.Command("go", "build", "-o", tmp+"/", "./cmd/kubedesk-launcher", "./cmd/launch")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	require.NoError(t, os.MkdirAll(dest, 0o755))
	require.NoError(t, os.Chmod(dest, 0o755))
	for _, name := range []string{"kubedesk-launcher", "launch"} {
		data, err := os.ReadFile(filepath.Join(tmp, name))
		require.NoError(t, err)
		if old, err := os.ReadFile(filepath.Join(dest, name)); err == nil && bytes.Equal(old, data) {
			continue
		}
		next := filepath.Join(dest, "."+name+".new")
		require.NoError(t, os.WriteFile(next, data, 0o755))
		require.NoError(t, os.Chmod(next, 0o755))
		require.NoError(t, os.Rename(next, filepath.Join(dest, name)))
	}
}

// sessionShell runs commands inside a session pod on the dev node as its
// user would: in the desktop container's mount namespace (its /tmp, its
// home), as uid 1000 gid 100, with the launcher agent's environment (the
// desktop's: PATH, HOME, DISPLAY, XAUTHORITY...).
type sessionShell struct {
	t   *testing.T
	pid int
	env []string
}

// waitForAgent waits for the agent's socket and reads its environment.
func (s *sessionShell) waitForAgent() {
	t := s.t
	t.Helper()
	sock := devcluster.ContainerFile(s.pid, "/tmp/kubedesk/launcher.sock")
	deadline := time.Now().Add(agentTimeout)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			procs, _ := devcluster.ContainerProcesses(s.pid)
			t.Fatalf("no launcher socket %s after %s; session processes: %v", sock, agentTimeout, procs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	procs, err := devcluster.ContainerProcesses(s.pid)
	require.NoError(t, err)
	for _, p := range procs {
		if strings.HasSuffix(strings.Fields(p.Cmd)[0], "/kubedesk-launcher") || strings.Fields(p.Cmd)[0] == "kubedesk-launcher" {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID))
			require.NoError(t, err)
			for _, kv := range strings.Split(string(data), "\x00") {
				if kv != "" {
					s.env = append(s.env, kv)
				}
			}
			return
		}
	}
	t.Fatalf("the socket exists but no kubedesk-launcher process runs in the session: %v", procs)
}

func (s *sessionShell) getenv(key string) string {
	for _, kv := range s.env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// menuEntry waits for the agent's menu entry in the session's home and
// returns its Exec command, field codes (%F) left out.
func (s *sessionShell) menuEntry(name string) []string {
	t := s.t
	t.Helper()
	home := s.getenv("HOME")
	require.NotEmpty(t, home, "the agent's HOME")
	file := devcluster.ContainerFile(s.pid, filepath.Join(home, ".local", "share", "applications", name))
	deadline := time.Now().Add(agentTimeout)
	var data []byte
	for {
		var err error
		if data, err = os.ReadFile(file); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "no menu entry %s after %s: %v", file, agentTimeout, err)
		time.Sleep(100 * time.Millisecond)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Exec="); ok {
			var out []string
			for _, f := range strings.Fields(v) {
				if !strings.HasPrefix(f, "%") {
					out = append(out, strings.Trim(f, `"`))
				}
			}
			return out
		}
	}
	t.Fatalf("%s has no Exec line:\n%s", file, data)
	return nil
}

// run runs a command in the session and returns its output.
func (s *sessionShell) run(args ...string) string {
	t := s.t
	t.Helper()
	full := append([]string{
		"--mount", "--target", strconv.Itoa(s.pid), "--",
		"setpriv", "--reuid", "1000", "--regid", "100", "--groups", "100", "--",
		// In the home, as a terminal would be (nsenter's --wd opens its
		// directory before it enters the namespace: the host's, not the pod's).
		"env", "-i", "--chdir=" + s.getenv("HOME"),
	}, s.env...)
	full = append(full, args...)
	cmd := exec.Command("nsenter", full...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s in the session: %s", strings.Join(args, " "), out)
	return string(out)
}

var launchedID = regexp.MustCompile(`\(id ([a-z0-9.-]+)\)`)

// launch runs a launch command and returns the app's id (its pod's name).
func (s *sessionShell) launch(args ...string) string {
	s.t.Helper()
	out := s.run(args...)
	m := launchedID.FindStringSubmatch(out)
	require.NotNil(s.t, m, "launch said: %s", out)
	return m[1]
}

// xDisplay is the session's X server, reached from the host (the dev
// node's pods share its network namespace, so its abstract X socket).
type xDisplay struct {
	t   *testing.T
	env []string
}

// sessionDisplay reads the DISPLAY and XAUTHORITY the session published in
// its /tmp/kubedesk/desktop.env.
func sessionDisplay(t *testing.T, pid int) *xDisplay {
	t.Helper()
	data, err := os.ReadFile(devcluster.ContainerFile(pid, "/tmp/kubedesk/desktop.env"))
	require.NoError(t, err, "the session publishes desktop.env")
	vars := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	require.NotEmpty(t, vars["DISPLAY"], "desktop.env: %s", data)
	cookie, err := os.ReadFile(devcluster.ContainerFile(pid, vars["XAUTHORITY"]))
	require.NoError(t, err)
	xauth := filepath.Join(t.TempDir(), "Xauthority")
	require.NoError(t, os.WriteFile(xauth, cookie, 0o600))
	return &xDisplay{t: t, env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "DISPLAY=" + vars["DISPLAY"], "XAUTHORITY=" + xauth}}
}

func (x *xDisplay) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = x.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// windows lists the visible windows whose name matches.
func (x *xDisplay) windows(name string) []string {
	out, err := x.run("xdotool", "search", "--onlyvisible", "--name", regexp.QuoteMeta(name))
	if err != nil {
		return nil // xdotool exits 1 when nothing matches
	}
	return strings.Fields(out)
}

// waitForWindow waits for a visible window named name and returns when it
// was first seen.
func (x *xDisplay) waitForWindow(name string, deadline time.Time) time.Time {
	x.t.Helper()
	for {
		if len(x.windows(name)) > 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			tree, _ := x.run("xwininfo", "-root", "-tree")
			x.t.Fatalf("no window named %q on %s:\n%s", name, x.env[1], tree)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type drawnWindow struct {
	at      time.Time
	colours int
}

// waitForDrawn waits until the window named name shows more than one
// colour (a blank window has one), counted by ImageMagick in a capture of
// the window alone.
// waitForNewWindow waits until more windows are visible than before (the
// count of x.windows("")), and returns when.
func (x *xDisplay) waitForNewWindow(before int, deadline time.Time) time.Time {
	x.t.Helper()
	for {
		if len(x.windows("")) > before {
			return time.Now()
		}
		require.True(x.t, time.Now().Before(deadline), "no new window on the session's display")
		time.Sleep(20 * time.Millisecond)
	}
}

func (x *xDisplay) waitForDrawn(name string, deadline time.Time) drawnWindow {
	x.t.Helper()
	var last string
	for {
		if ids := x.windows(name); len(ids) > 0 {
			out, err := x.run("sh", "-c", `import -window "$1" png:- | identify -format %k -`, "sh", ids[0])
			last = out
			if n, perr := strconv.Atoi(strings.TrimSpace(out)); err == nil && perr == nil && n > 1 {
				return drawnWindow{time.Now(), n}
			}
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("window %q on %s still blank (colours: %q)", name, x.env[1], last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (x *xDisplay) waitForNoWindow(name string, deadline time.Time) {
	x.t.Helper()
	for len(x.windows(name)) > 0 {
		if time.Now().After(deadline) {
			x.t.Fatalf("window %q still on %s", name, x.env[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (x *xDisplay) screenshot(path string) {
	x.t.Helper()
	out, err := x.run("import", "-window", "root", path)
	require.NoError(x.t, err, "import: %s", out)
}

// checkAppPod checks the app pod's spec: the catalog's image and command,
// the Xpra sidecar, owned by the session pod, next to it on the dev node,
// running with the session pods' security defaults; and its Secret (the
// Xpra password) and NetworkPolicy (ingress to Xpra only from the session
// pod), both owned by the app pod.
func checkAppPod(t *testing.T, c *devcluster.Cluster, pod, session *corev1.Pod, title string) {
	t.Helper()
	ctx := t.Context()
	require.Len(t, pod.OwnerReferences, 1)
	owner := pod.OwnerReferences[0]
	assert.Equal(t, session.UID, owner.UID, "owned by the session pod")
	assert.Equal(t, "Pod", owner.Kind)
	assert.True(t, owner.Controller != nil && *owner.Controller)
	assert.Equal(t, devcluster.DevnodeName, pod.Spec.NodeName, "next to the session")
	assert.Equal(t, corev1.PodRunning, pod.Status.Phase)
	assert.Equal(t, session.Name, pod.Labels["kubedesk.dev/session"])
	assert.Equal(t, "xterm", pod.Labels["kubedesk.dev/app"])
	require.NotNil(t, pod.Spec.AutomountServiceAccountToken)
	assert.False(t, *pod.Spec.AutomountServiceAccountToken, "no Kubernetes token in the app pod")
	require.NotNil(t, pod.Spec.SecurityContext)
	assert.Equal(t, ptr(true), pod.Spec.SecurityContext.RunAsNonRoot)

	var app, xpra *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "app" {
			app = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == "xpra" {
			xpra = &pod.Spec.InitContainers[i]
		}
	}
	require.NotNil(t, app, "the app container")
	require.NotNil(t, xpra, "the xpra sidecar")
	assert.Equal(t, "kubedesk/example-xterm:1", app.Image)
	assert.Equal(t, []string{"xterm", "-xrm", "XTerm*allowTitleOps: false", "-T", title}, app.Command)
	// The chart's Xpra image (helm/kubedesk's spawner.apps.xpraImage).
	assert.Equal(t, "kubedesk/xpra-sidecar:0.1.0", xpra.Image)
	require.NotNil(t, xpra.RestartPolicy, "the sidecar is a native sidecar")
	assert.Equal(t, corev1.ContainerRestartPolicyAlways, *xpra.RestartPolicy)
	for _, ctr := range []*corev1.Container{app, xpra} {
		sc := ctr.SecurityContext
		require.NotNil(t, sc, "container %s", ctr.Name)
		assert.Equal(t, ptr(false), sc.AllowPrivilegeEscalation, "container %s", ctr.Name)
		assert.Equal(t, ptr(true), sc.RunAsNonRoot, "container %s", ctr.Name)
		require.NotNil(t, sc.Capabilities, "container %s", ctr.Name)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, "container %s", ctr.Name)
		require.NotNil(t, sc.SeccompProfile, "container %s", ctr.Name)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type, "container %s", ctr.Name)
	}

	ownedByPod := func(refs []metav1.OwnerReference) bool {
		return len(refs) == 1 && refs[0].UID == pod.UID && refs[0].Kind == "Pod"
	}
	secret, err := c.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err, "the app's Secret")
	assert.NotEmpty(t, secret.Data["password"], "the Xpra password")
	assert.True(t, ownedByPod(secret.OwnerReferences), "the Secret is owned by the app pod: %+v", secret.OwnerReferences)

	np, err := c.Client.NetworkingV1().NetworkPolicies(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err, "the app's NetworkPolicy")
	assert.True(t, ownedByPod(np.OwnerReferences), "the NetworkPolicy is owned by the app pod: %+v", np.OwnerReferences)
	selects := func(sel map[string]string, labels map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	assert.True(t, selects(np.Spec.PodSelector.MatchLabels, pod.Labels), "the policy selects the app pod: %v", np.Spec.PodSelector.MatchLabels)
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
	require.Len(t, np.Spec.Ingress, 1)
	in := np.Spec.Ingress[0]
	require.Len(t, in.From, 1)
	require.NotNil(t, in.From[0].PodSelector)
	assert.True(t, selects(in.From[0].PodSelector.MatchLabels, session.Labels), "ingress only from the session pod: %v", in.From[0].PodSelector.MatchLabels)
	require.Len(t, in.Ports, 1)
	assert.Equal(t, 14500, in.Ports[0].Port.IntValue(), "only Xpra's port")
}

func ptr[T any](v T) *T { return &v }

// podProcesses lists the processes of every running container of a dev
// node pod (native sidecars included).
func podProcesses(t *testing.T, pod *corev1.Pod) []devcluster.Process {
	t.Helper()
	var out []devcluster.Process
	for _, cs := range append(slicesClone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		rest, ok := strings.CutPrefix(cs.ContainerID, "devnode://")
		if !ok || cs.State.Running == nil {
			continue
		}
		pid, err := strconv.Atoi(rest)
		require.NoError(t, err)
		procs, err := devcluster.ContainerProcesses(pid)
		require.NoError(t, err)
		out = append(out, procs...)
	}
	require.NotEmpty(t, out, "pod %s has running containers", pod.Name)
	return out
}

func slicesClone(s []corev1.ContainerStatus) []corev1.ContainerStatus {
	return append([]corev1.ContainerStatus(nil), s...)
}

func waitGone(t *testing.T, c *devcluster.Cluster, ns, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		require.True(t, time.Now().Before(deadline), "pod %s still there after %s (err %v)", name, timeout, err)
		time.Sleep(100 * time.Millisecond)
	}
}

func waitProcessesGone(t *testing.T, procs []devcluster.Process) {
	t.Helper()
	deadline := time.Now().Add(processGoneTimeout)
	for {
		var alive []string
		for _, p := range procs {
			if p.Alive() {
				alive = append(alive, fmt.Sprintf("%d %s", p.PID, p.Cmd))
			}
		}
		if len(alive) == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "processes left: %q", alive)
		time.Sleep(100 * time.Millisecond)
	}
}

// launchTimes is one launch: the menu click (the launch command started),
// the app pod's steps as the watch saw them, the window mapped.
type launchTimes struct {
	Clicked, Mapped time.Time
	Pod             podTimes
}

func (l launchTimes) Total() time.Duration    { return l.Mapped.Sub(l.Clicked) }
func (l launchTimes) Service() time.Duration  { return l.Pod.Created.Sub(l.Clicked) }
func (l launchTimes) PodStart() time.Duration { return l.Pod.Ready.Sub(l.Pod.Created) }
func (l launchTimes) Attach() time.Duration   { return l.Mapped.Sub(l.Pod.Ready) }

func (l launchTimes) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("click → window mapped %v = service (POST → pod created) %v + pod start (→ Ready: sidecar's Xpra up) %v [scheduled %v, running %v] + attach (→ window mapped) %v",
		r(l.Total()), r(l.Service()), r(l.PodStart()), r(l.Pod.Scheduled.Sub(l.Pod.Created)), r(l.Pod.Running.Sub(l.Pod.Created)), r(l.Attach()))
}

// median is the middle of v (the mean of the two middle ones when v has an
// even length); v is not changed.
func median(v []time.Duration) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// logLaunchTimes logs the median and the 95th percentile (nearest rank: of
// 10 launches, the slowest) of each step.
func logLaunchTimes(t *testing.T, runs []launchTimes) {
	t.Helper()
	stat := func(f func(launchTimes) time.Duration) (med, p95 time.Duration) {
		v := make([]time.Duration, len(runs))
		for i, l := range runs {
			v[i] = f(l)
		}
		slices.Sort(v)
		rank := (95*len(v) + 99) / 100 // ceil(0.95 n)
		return median(v).Round(time.Millisecond), v[rank-1].Round(time.Millisecond)
	}
	for _, row := range []struct {
		name string
		f    func(launchTimes) time.Duration
	}{
		{"click → window mapped                  ", launchTimes.Total},
		{"  service (click → pod created)        ", launchTimes.Service},
		{"  pod start → Xpra ready (pod Ready)   ", launchTimes.PodStart},
		{"  attach (Ready → window mapped)       ", launchTimes.Attach},
	} {
		med, p95 := stat(row.f)
		t.Logf("%s median %v, p95 %v (%d launches)", row.name, med, p95, len(runs))
	}
}

// get is the times of the pod named name, once it was Ready.
func (tl *podTimeline) get(name string) (podTimes, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		tl.mu.Lock()
		for _, p := range tl.pods {
			if p.Name == name && !p.Ready.IsZero() {
				tl.mu.Unlock()
				return *p, true
			}
		}
		tl.mu.Unlock()
		if time.Now().After(deadline) {
			return podTimes{}, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
