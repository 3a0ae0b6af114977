// Package xprasidecar tests the kubedesk/xpra-sidecar image's entrypoint the
// way the cluster runs it: an app pod, as the spawner service builds it, on
// the dev node (hack/devnode), whose containers are processes on this host.
package xprasidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"kubedesk.dev/kubedesk/test/devcluster"
)

// Debian's xpra runs on /usr/bin/python3 (its shebang); the python3 first on
// this machine's PATH (pyenv) cannot import it, so every xpra subprocess gets
// a PATH without it and no PYTHON* variables.
const (
	xpraBin  = "/usr/bin/xpra"
	hostPath = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
	// appPodGolden is podspec.AppPod's output, byte for byte (podspec's
	// TestAppPodGolden keeps it so). spawner/internal/podspec cannot be
	// imported from here (Go's internal rule), so the test starts from
	// the very pod the service builds and changes only what a test must:
	// names, owner, image and command, placement.
	appPodGolden = "../../spawner/internal/podspec/testdata/pod-app-itksnap.golden.yaml"
	xpraPort     = 14500
)

func TestSidecarOnDevnode(t *testing.T) {
	c := devcluster.Start(t) // skips under -short
	requireTools(t, xpraBin, "/usr/bin/Xvfb", "/usr/bin/xterm", "/usr/bin/xdotool", "/usr/bin/import")
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	session := sessionStandIn(ctx, t, c.Client, ns)

	// Two apps at once, both on display :100 (what the service sets today):
	// on the dev node all pods share the host's network namespace, so this
	// also shows that each app reaches only its own pod's X server.
	a := startApp(ctx, t, c.Client, session, "a")
	b := startApp(ctx, t, c.Client, session, "b")
	for _, app := range []*appPod{a, b} {
		app.waitReady(ctx, t, c.Client)
		t.Logf("timing: pod %s create → sidecar ready %v, → app running %v",
			app.pod.Name, app.sidecarReady.Round(time.Millisecond), app.appRunning.Round(time.Millisecond))
	}

	desktop := startXvfb(t)
	t.Logf("user desktop: Xvfb %s", desktop)
	home := t.TempDir()

	// The stream is AES, keyed per app: a client needs the right password
	// and the right key (and gets no dialog: --password-file is given).
	write := func(name, secret string) string {
		f := filepath.Join(home, name)
		require.NoError(t, os.WriteFile(f, []byte(secret), 0o600)) // no newline: read byte for byte
		return f
	}
	pw, wrong := write("password-a", a.password), write("wrong", "not-the-password")
	key, wrongKey := write("key-a", a.key), write("key-b", b.key)
	aes := func(keyFile string) string { return "--encryption-keyfile=" + keyFile }
	for _, c := range []struct {
		name string
		args []string
		want string // in xpra's output; "" for success
	}{
		{"a wrong password", []string{"--password-file=" + wrong, "--encryption=AES", aes(key)}, "authentication failed"},
		{"no key", []string{"--password-file=" + pw}, "missing encryption tokens"},
		{"another app's key", []string{"--password-file=" + pw, "--encryption=AES", aes(wrongKey)}, "wrong key"},
		{"password and key", []string{"--password-file=" + pw, "--encryption=AES", aes(key)}, ""},
	} {
		out, err := xpraCmd(ctx, home, desktop, append([]string{"info", a.uri()}, c.args...)...).CombinedOutput()
		if c.want == "" {
			require.NoError(t, err, "xpra info with %s:\n%s", c.name, out)
			continue
		}
		require.Error(t, err, "xpra info with %s must fail:\n%s", c.name, out)
		require.Contains(t, string(out), c.want, c.name)
	}

	// Attach a's windows into the desktop, as the agent does.
	attachStart := time.Now()
	attach := xpraCmd(context.Background(), home, desktop, "attach", a.uri(), "--password-file="+pw,
		"--encryption=AES", aes(key),
		"--opengl=no", "--tray=no", "--system-tray=no", "--notifications=no", "--speaker=off", "--microphone=off",
		"--webcam=no", "--printing=no", "--file-transfer=no", "--dbus-proxy=no", "--mmap=no")
	var attachLog bytes.Buffer
	attach.Stdout, attach.Stderr = &attachLog, &attachLog
	attach.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, attach.Start())
	attachDone := make(chan error, 1)
	go func() { attachDone <- attach.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-attach.Process.Pid, syscall.SIGKILL)
		err := <-attachDone // killed here, or the exit the test already saw
		if t.Failed() {
			t.Logf("xpra attach (%v) output:\n%s", err, attachLog.String())
		}
	})

	win := waitWindow(ctx, t, desktop, a.title)
	t.Logf("timing: attach → window %q (id %s) visible %v", a.title, win, time.Since(attachStart).Round(time.Millisecond))
	// Pod b's xterm is on its own :100; it must not show up here.
	require.Empty(t, searchWindows(desktop, b.title), "pod b's window reached pod a's display")
	getName := exec.Command("xdotool", "getwindowname", win)
	getName.Env = []string{"PATH=" + hostPath, "DISPLAY=" + desktop}
	name, _ := getName.Output()
	t.Logf("window name on the desktop: %q", strings.TrimSpace(string(name)))
	require.Contains(t, string(name), a.title)

	time.Sleep(500 * time.Millisecond) // let the first frame paint
	shot := filepath.Join(artifactsDir(t), "xpra-sidecar-attach.png")
	shotCmd := exec.Command("import", "-display", desktop, "-window", "root", shot)
	shotCmd.Env = []string{"PATH=" + hostPath}
	if out, err := shotCmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	t.Logf("screenshot: %s", shot)

	// Everything pod a runs, before it ends.
	procs := a.processes(t, c.Client)
	t.Logf("pod %s processes: %v", a.pod.Name, cmds(procs))

	// The app exits: the sidecar is stopped, the pod completes, the attach ends.
	appPID := a.containerPID(t, c.Client, "app")
	exitStart := time.Now()
	require.NoError(t, syscall.Kill(appPID, syscall.SIGTERM))
	select {
	case err := <-attachDone:
		attachDone <- err // for the cleanup
		t.Logf("timing: app killed → attach ended %v (%v)", time.Since(exitStart).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatalf("xpra attach still running 30 s after the app exited:\n%s", attachLog.String())
	}
	// The pod completes with the app's exit code: Failed here (xterm exits
	// 15 on SIGTERM; restartPolicy Never), Succeeded for an exit 0.
	doneCtx, doneCancel := context.WithTimeout(ctx, 30*time.Second)
	code, phase := a.waitDone(doneCtx, t, c.Client)
	doneCancel()
	t.Logf("timing: app killed → pod %s %v", phase, time.Since(exitStart).Round(time.Millisecond))
	want := map[bool]corev1.PodPhase{true: corev1.PodSucceeded, false: corev1.PodFailed}[code == 0]
	require.Equal(t, want, phase, "the pod ends with its app, as a kubelet reports it")
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range procs {
		for p.Alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		require.False(t, p.Alive(), "process left behind: %d %s", p.PID, p.Cmd)
	}
	require.Empty(t, searchWindows(desktop, a.title), "the window is still on the desktop")

	// Pod b still runs, untouched; deleting it ends it too, and cleanly.
	procsB := b.processes(t, c.Client)
	require.NoError(t, c.Client.CoreV1().Pods(ns).Delete(ctx, b.pod.Name, metav1.DeleteOptions{}))
	deadline = time.Now().Add(20 * time.Second)
	for _, p := range procsB {
		for p.Alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		require.False(t, p.Alive(), "process of the deleted pod left behind: %d %s", p.PID, p.Cmd)
	}
}

// TestSidecarRefusesTakenAbstractDisplay: if another X server on the (dev
// node's, shared) network namespace holds @/tmp/.X11-unix/X<n>, the app's
// libxcb would connect there first; the sidecar refuses to start instead.
func TestSidecarRefusesTakenAbstractDisplay(t *testing.T) {
	c := devcluster.Start(t)
	requireTools(t, xpraBin, "/usr/bin/Xvfb")
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A foreign X server on the host, listening on its abstract socket.
	foreign := startXvfb(t)
	session := sessionStandIn(ctx, t, c.Client, ns)
	app := newApp(t, session, "taken")
	setDisplay(app.pod, foreign)
	app.create(ctx, t, c.Client)
	// The sidecar must never become ready (and the app never start).
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, app.pod.Name, metav1.GetOptions{})
		require.NoError(t, err)
		for _, s := range pod.Status.InitContainerStatuses {
			require.False(t, s.Ready, "sidecar ready although %s is taken", foreign)
		}
		for _, s := range pod.Status.ContainerStatuses {
			require.Nil(t, s.State.Running, "app started although %s is taken", foreign)
		}
		time.Sleep(250 * time.Millisecond)
	}
	logFile := devnodeLog(t, app.pod, "xpra")
	data, _ := os.ReadFile(logFile)
	require.Contains(t, string(data), "another X server", "sidecar log %s", logFile)
}

// appPod is one app pod of the test and what was measured about it.
type appPod struct {
	pod          *corev1.Pod
	title        string
	password     string
	key          string // of the stream's AES encryption
	created      time.Time
	sidecarReady time.Duration
	appRunning   time.Duration
}

func (a *appPod) uri() string { return fmt.Sprintf("tcp://%s:%d/", a.pod.Status.PodIP, xpraPort) }

// newApp builds an xterm app pod from podspec.AppPod's golden output.
func newApp(t *testing.T, session *corev1.Pod, tag string) *appPod {
	t.Helper()
	data, err := os.ReadFile(appPodGolden)
	require.NoError(t, err)
	pod := &corev1.Pod{}
	require.NoError(t, yaml.UnmarshalStrict(data, pod))

	instance := tag + utilrand.String(4)
	title := "KDTEST-" + strings.ToUpper(instance)
	pod.Name = "xterm-" + instance
	pod.Namespace = session.Namespace
	pod.Labels["kubedesk.dev/session"] = session.Name
	pod.Labels["kubedesk.dev/app"] = "xterm"
	pod.Labels["kubedesk.dev/app-version"] = "1"
	pod.Labels["kubedesk.dev/app-instance"] = instance
	pod.OwnerReferences[0].Name, pod.OwnerReferences[0].UID = session.Name, session.UID
	// No home PVC and no node pinning here; the dev node instead.
	pod.Spec.Affinity = nil
	pod.Spec.Tolerations = nil
	var vols []corev1.Volume
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
	pod.Spec.Volumes[1].Secret.SecretName = pod.Name // AppSecret's name
	devcluster.OnDevnode(&pod.Spec)

	app := &pod.Spec.Containers[0]
	app.Image = "kubedesk/example-xterm:1"
	// allowTitleOps off: else the shell prompt retitles the window.
	app.Command = []string{"xterm", "-xrm", "XTerm*allowTitleOps: false", "-T", title, "-geometry", "60x12", "-bg", "#00aa00", "-fg", "white"}
	app.Resources = corev1.ResourceRequirements{}
	var mounts []corev1.VolumeMount
	for _, m := range app.VolumeMounts {
		if m.Name != "home" {
			mounts = append(mounts, m)
		}
	}
	app.VolumeMounts = mounts
	var env []corev1.EnvVar
	for _, e := range app.Env {
		if e.Name == "DISPLAY" {
			env = append(env, e)
		}
	}
	app.Env = env
	pod.Spec.InitContainers[0].Image = "kubedesk/xpra-sidecar:3"
	return &appPod{pod: pod, title: title, password: utilrand.String(24), key: utilrand.String(32)}
}

// setDisplay changes the display of both containers.
func setDisplay(pod *corev1.Pod, display string) {
	for _, c := range []*corev1.Container{&pod.Spec.InitContainers[0], &pod.Spec.Containers[0]} {
		for i, e := range c.Env {
			if e.Name == "DISPLAY" || e.Name == "XPRA_DISPLAY" {
				c.Env[i].Value = display
			}
		}
	}
}

// create creates the pod, then its Secret (podspec.AppSecret's shape: named
// after the pod, owned by it), as the service does.
func (a *appPod) create(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	a.created = time.Now()
	pod, err := client.CoreV1().Pods(a.pod.Namespace).Create(ctx, a.pod, metav1.CreateOptions{})
	require.NoError(t, err)
	a.pod = pod
	ctrl := true
	_, err = client.CoreV1().Secrets(pod.Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: &ctrl, BlockOwnerDeletion: &ctrl}},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte(a.password), "encryption-key": []byte(a.key)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	})
}

func startApp(ctx context.Context, t *testing.T, client kubernetes.Interface, session *corev1.Pod, tag string) *appPod {
	t.Helper()
	a := newApp(t, session, tag)
	a.create(ctx, t, client)
	return a
}

// waitReady waits for the sidecar to be Ready and the app to run.
func (a *appPod) waitReady(ctx context.Context, t *testing.T, client kubernetes.Interface) {
	t.Helper()
	for {
		pod, err := client.CoreV1().Pods(a.pod.Namespace).Get(ctx, a.pod.Name, metav1.GetOptions{})
		require.NoError(t, err)
		a.pod = pod
		for _, s := range pod.Status.InitContainerStatuses {
			if s.Name == "xpra" && s.Ready && a.sidecarReady == 0 {
				a.sidecarReady = time.Since(a.created)
			}
		}
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == "app" && s.State.Running != nil && a.appRunning == 0 {
				a.appRunning = time.Since(a.created)
			}
		}
		if a.sidecarReady > 0 && a.appRunning > 0 {
			return
		}
		if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			t.Fatalf("pod %s ended (%s) before it was ready; sidecar log %s", pod.Name, pod.Status.Phase, devnodeLog(t, pod, "xpra"))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s not ready: %+v; sidecar log %s", pod.Name, pod.Status, devnodeLog(t, pod, "xpra"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitDone waits until both containers have terminated and returns the
// app's exit code and the pod's phase then.
func (a *appPod) waitDone(ctx context.Context, t *testing.T, client kubernetes.Interface) (int32, corev1.PodPhase) {
	t.Helper()
	for {
		pod, err := client.CoreV1().Pods(a.pod.Namespace).Get(ctx, a.pod.Name, metav1.GetOptions{})
		require.NoError(t, err)
		var app, sidecar *corev1.ContainerStateTerminated
		for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
			if s.State.Terminated == nil {
				continue
			}
			switch s.Name {
			case "app":
				app = s.State.Terminated
			case "xpra":
				sidecar = s.State.Terminated
			}
		}
		if app != nil && sidecar != nil {
			require.Zero(t, sidecar.ExitCode, "the sidecar exits 0 on SIGTERM")
			logged := func() {
				t.Logf("pod %s: app exit %d (%s), sidecar exit %d (%s), phase %s", pod.Name,
					app.ExitCode, app.Reason, sidecar.ExitCode, sidecar.Reason, pod.Status.Phase)
			}
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				logged()
				return app.ExitCode, pod.Status.Phase
			}
			// Both ended but no final phase: give the node 10 s.
			ended := app.FinishedAt.Time
			if sidecar.FinishedAt.After(ended) {
				ended = sidecar.FinishedAt.Time
			}
			if time.Since(ended) > 10*time.Second {
				logged()
				return app.ExitCode, pod.Status.Phase
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s did not complete: %+v", pod.Name, pod.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *appPod) containerPID(t *testing.T, client kubernetes.Interface, container string) int {
	t.Helper()
	pod, err := client.CoreV1().Pods(a.pod.Namespace).Get(context.Background(), a.pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses...)
	pid, err := devcluster.ContainerPID(pod, container)
	require.NoError(t, err)
	return pid
}

// processes lists every process of the pod's two containers.
func (a *appPod) processes(t *testing.T, client kubernetes.Interface) []devcluster.Process {
	t.Helper()
	var all []devcluster.Process
	for _, c := range []string{"xpra", "app"} {
		procs, err := devcluster.ContainerProcesses(a.containerPID(t, client, c))
		require.NoError(t, err)
		all = append(all, procs...)
	}
	return all
}

// sessionStandIn is the app pods' owner: a pod on a kwok node (never run),
// so that the garbage collector finds the owner and leaves the apps alone.
func sessionStandIn(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) *corev1.Pod {
	t.Helper()
	pod, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "session", Labels: map[string]string{"component": "singleuser-server"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "notebook", Image: "kubedesk/test-shell:1"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return pod
}

// startXvfb starts a "user desktop" X server on a free display (-displayfd)
// and returns it (":N"). Xvfb writes the number to fd 3 once it accepts
// connections; fd 3 is a plain file, polled, so that nothing can make that
// write fail (a closed pipe kills Xvfb: "Cannot write display number").
func startXvfb(t *testing.T) string {
	t.Helper()
	numFile := filepath.Join(t.TempDir(), "display")
	w, err := os.Create(numFile)
	require.NoError(t, err)
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = []string{"PATH=" + hostPath}
	var xlog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &xlog, &xlog
	require.NoError(t, cmd.Start())
	w.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("Xvfb output:\n%s", xlog.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(numFile)
		if s, ok := strings.CutSuffix(string(data), "\n"); ok {
			num, err := strconv.Atoi(s)
			require.NoError(t, err, "Xvfb -displayfd wrote %q", data)
			return fmt.Sprintf(":%d", num)
		}
		select {
		case <-exited:
			t.Fatalf("Xvfb exited: %s", xlog.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("Xvfb -displayfd: no display number after 20 s")
	return ""
}

// xpraCmd runs Debian's xpra with a clean environment of its own.
func xpraCmd(ctx context.Context, home, display string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, xpraBin, args...)
	for _, d := range []string{"runtime", "sockets"} {
		_ = os.MkdirAll(filepath.Join(home, d), 0o700)
	}
	cmd.Env = []string{
		"PATH=" + hostPath, "HOME=" + home, "DISPLAY=" + display,
		"XDG_RUNTIME_DIR=" + filepath.Join(home, "runtime"),
		"XPRA_SOCKET_DIR=" + filepath.Join(home, "sockets"),
		"NO_AT_BRIDGE=1", "LANG=C.UTF-8",
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func searchWindows(display, name string) []string {
	cmd := exec.Command("xdotool", "search", "--onlyvisible", "--name", name)
	cmd.Env = []string{"PATH=" + hostPath, "DISPLAY=" + display}
	out, _ := cmd.Output()
	return strings.Fields(string(out))
}

func waitWindow(ctx context.Context, t *testing.T, display, name string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if ws := searchWindows(display, name); len(ws) > 0 {
			return ws[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no window named %q on %s", name, display)
	return ""
}

// devnodeLog is where the dev node writes a container's output.
func devnodeLog(t *testing.T, pod *corev1.Pod, container string) string {
	return filepath.Join(repoRoot(t), ".cache/devnode/devnode-0/logs",
		fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container+".log")
}

func artifactsDir(t *testing.T) string {
	dir := filepath.Join(repoRoot(t), "test", "artifacts")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func requireTools(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			t.Skipf("%s missing: apt-get install xpra xvfb xterm xdotool imagemagick", p)
		}
	}
}

func cmds(ps []devcluster.Process) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d:%s", p.PID, strings.Fields(p.Cmd + " ?")[0]))
	}
	return out
}
