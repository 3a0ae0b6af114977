package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

const (
	// buildTimeout bounds `go build` of the dev node (cached: seconds).
	buildTimeout = 3 * time.Minute
	// stopTimeout bounds SIGTERM → dev node exited: the pods' grace
	// (capped at 1 s here) plus status updates.
	stopTimeout = 30 * time.Second
)

// TestShutdownStopsPods runs a second dev node of its own (another node
// name, label value, pod CIDR and image table), so that stopping it disturbs no one: its
// pods' processes must all be gone once it has exited, and the pods marked
// Failed as after a kubelet's graceful node shutdown. Its image table also
// maps an image to an entrypoint script that does not exist.
func TestShutdownStopsPods(t *testing.T) {
	e := setup(t)
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, "devnode")
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	table := filepath.Join(dir, "images.yaml")
	require.NoError(t, os.WriteFile(table, []byte(`
images:
  - image: kubedesk/test-shell:*
    entrypoint: [/bin/sh]
  - image: kubedesk/not-built-yet:*
    entrypoint: [hack/devnode/testdata/no-such-entrypoint.sh]
`), 0o644))

	name := "devnode-t-" + utilrand.String(6)
	logPath := filepath.Join(dir, "devnode.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	defer logf.Close()
	dn := exec.Command(bin, "--kubeconfig", e.c.Kubeconfig, "--repo", repo, "--node-name", name, "--label-value", "shutdown-test",
		"--images", table, "--state-dir", filepath.Join(dir, "state"), "--pod-cidr", "127.44.0.0/16",
		"--shutdown-grace", "1s")
	dn.Stdout, dn.Stderr = logf, logf
	require.NoError(t, dn.Start())
	exited := make(chan error, 1)
	go func() { exited <- dn.Wait() }()
	t.Cleanup(func() {
		_ = dn.Process.Kill()
		_ = e.c.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("dev node log:\n%s", b)
		}
	})
	e.waitNode(name, "Ready", func(n *corev1.Node) bool {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})

	pinned := func(p *corev1.Pod) *corev1.Pod { p.Spec.NodeName = name; return p } // no scheduler
	e.create(pinned(onDevnode("sleeper", corev1.RestartPolicyAlways,
		shell("main", `trap '' TERM; setsid sh -c "trap '' TERM; sleep 1000" & sleep 1000 & wait`))))
	missing := shell("main", "")
	missing.Image, missing.Args = "kubedesk/not-built-yet:latest", nil
	e.create(pinned(onDevnode("missing", corev1.RestartPolicyAlways, missing)))

	got := e.wait("sleeper", "Running", podTimeout, running)
	_, cidr, _ := net.ParseCIDR("127.44.0.0/16")
	require.True(t, cidr.Contains(net.ParseIP(got.Status.PodIP)), got.Status.PodIP)
	ns, err := mountNamespace(pidOf(t, got, "main"))
	require.NoError(t, err)
	var pids []int
	require.Eventually(t, func() bool { pids = pidsIn(ns); return len(pids) >= 4 }, podTimeout, 20*time.Millisecond)

	got = e.wait("missing", "CreateContainerError", podTimeout, func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == "CreateContainerError"
	})
	require.Contains(t, got.Status.ContainerStatuses[0].State.Waiting.Message, "hack/devnode/testdata/no-such-entrypoint.sh")

	require.NoError(t, dn.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "dev node exit")
	case <-time.After(stopTimeout):
		t.Fatalf("dev node still running %v after SIGTERM", stopTimeout)
	}
	for _, p := range pids {
		_, err := os.Stat("/proc/" + strconv.Itoa(p))
		require.True(t, os.IsNotExist(err), "process %d outlived the dev node (%s)", p, procState(p))
	}
	got = e.wait("sleeper", "Failed", podTimeout, ended)
	require.Equal(t, corev1.PodFailed, got.Status.Phase)
	require.Equal(t, "Terminated", got.Status.Reason)
	e.waitNode(name, "NotReady", func(n *corev1.Node) bool {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionFalse
			}
		}
		return false
	})
}

func (e *env) waitNode(name, what string, cond func(*corev1.Node) bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), podTimeout)
	defer cancel()
	lw := cache.NewListWatchFromClient(e.c.Client.CoreV1().RESTClient(), "nodes", "", fields.OneTermEqualSelector("metadata.name", name))
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		return ok && cond(n), nil
	})
	require.NoError(e.t, err, fmt.Sprintf("node %s not %s within %v", name, what, podTimeout))
}
