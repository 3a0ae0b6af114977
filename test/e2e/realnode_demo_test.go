package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/test/devcluster"
)

// TestDemoOnRealNode is `KUBEDESK_DEMO_NODE=real make demo` as a user meets
// it: hack/demo.sh puts JupyterHub in the real node's network namespace and
// the sessions on the real node (kubelet, containerd, runc), running the
// images `make images` built.
//   - Log in, choose the Desktop profile, Start: JupyterLab's Launcher has
//     the demo's tiles; the session pod runs on realnode-0 from the desktop
//     image built here (its image ID is the build's), as uid 1000.
//   - A tile click starts the app in a pod of its own on the node: the app's
//     image and the Xpra sidecar's, both the builds' own; the service made
//     the app's NetworkPolicy; its window appears on the desktop's X display
//     (read inside the session container, through the kubelet's exec).
//   - The desktop page connects to the session's VNC server through the
//     hub's proxy.
func TestDemoOnRealNode(t *testing.T) {
	node := devcluster.NewRealNode(t)
	c := devcluster.Start(t)
	requireJupyterLabExt(t)
	node.Hold(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	artifacts := artifactsDir(t)

	d := startDemo(t, ns, "KUBEDESK_DEMO_NODE=real")
	const user = "grace"
	lab := startLab(t)
	spawned := lab.do(map[string]any{
		"cmd": "spawn", "hub": d.URL, "user": user, "password": d.Password, "profile": "desktop",
		"progressShot": artifacts + "/realnode-spawn-progress.png",
		"labShot":      artifacts + "/realnode-jupyterlab.png",
		"expect":       "mtPaint 3.40",
	})
	assert.NotEmpty(t, spawned.Messages, "the progress page shows the service's messages")

	session, err := c.Client.CoreV1().Pods(ns).Get(ctx, "jupyter-"+user, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, devcluster.RealNodeName, session.Spec.NodeName)
	assert.Equal(t, node.ImageID(t, "kubedesk/desktop:latest"), imageID(t, session, "notebook"),
		"the session runs the desktop image built here")
	out, stderr, err := c.Exec(ctx, session, "notebook", "id", "-u")
	require.NoError(t, err, stderr)
	assert.Equal(t, "1000", strings.TrimSpace(out), "the desktop runs as its image's user")

	clicked := lab.do(map[string]any{"cmd": "click-tile", "label": "mtPaint 3.40"})
	require.NotEmpty(t, clicked.ID, "the tile started an app: %s", clicked.Notice)
	lab.do(map[string]any{"cmd": "wait-status", "id": clicked.ID, "status": "running"})
	app, err := c.Client.CoreV1().Pods(ns).Get(ctx, clicked.ID, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, devcluster.RealNodeName, app.Spec.NodeName, "the app runs beside its session")
	assert.Equal(t, node.ImageID(t, "kubedesk/mtpaint:3.40"), imageID(t, app, "app"), "the app's own image")
	assert.Equal(t, node.ImageID(t, "kubedesk/xpra-sidecar:3.1"), imageID(t, app, "xpra"), "the Xpra sidecar's image")
	_, err = c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, app.Name, metav1.GetOptions{})
	assert.NoError(t, err, "the app's own NetworkPolicy")

	// The window, on the session's X server: xdotool inside the session.
	windows := func() string {
		out, _, _ := c.Exec(ctx, session, "notebook", "sh", "-c",
			`. /tmp/kubedesk/desktop.env && export DISPLAY XAUTHORITY && xdotool search --onlyvisible --name mtPaint getwindowname %@`)
		return out
	}
	assert.Eventually(t, func() bool { return strings.Contains(windows(), "mtPaint 3.40") },
		agentTimeout, time.Second, "mtPaint's window appears on the desktop")

	desktop := lab.do(map[string]any{"cmd": "desktop", "screenshot": artifacts + "/realnode-desktop.png"})
	assert.Equal(t, "Connected", desktop.Status, "noVNC connects to the session on the real node")
}

// imageID is the image ID a pod's container runs (init containers too: the
// Xpra sidecar is a restartable init container).
func imageID(t *testing.T, pod *corev1.Pod, container string) string {
	t.Helper()
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		if s.Name == container {
			return s.ImageID
		}
	}
	t.Fatalf("pod %s has no container %s", pod.Name, container)
	return ""
}
