package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The real node (hack/real-node.sh): kubelet, containerd and runc in a
// network namespace of the project's own, running the images `make images`
// built.
const (
	// RealNodeName is its Node's name.
	RealNodeName = "realnode-0"
	// RealNodeLabel (value "true") is on the node, and RealNodeTaint
	// (NoSchedule) keeps every pod that does not tolerate it off the node.
	RealNodeLabel = "kubedesk.dev/realnode"
	RealNodeTaint = "kubedesk.dev/realnode"
)

// OnRealNode schedules a pod spec onto the real node: its label as node
// selector and a toleration of its taint.
func OnRealNode(spec *corev1.PodSpec) { onNode(spec, RealNodeLabel, RealNodeTaint) }

// RealNode runs hack/real-node.sh and `make images`' storage for a test.
type RealNode struct {
	root string
}

// NewRealNode finds the checkout's scripts; it starts nothing. The real node
// needs root (namespaces, containerd): the test is skipped without it, and
// under -short.
func NewRealNode(tb testing.TB) *RealNode {
	tb.Helper()
	if testing.Short() {
		tb.Skip("realnode: needs the dev cluster's real node; skipped under -short")
	}
	if os.Geteuid() != 0 {
		tb.Skip("realnode: the real node needs root (network and mount namespaces, containerd)")
	}
	root, err := repoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return &RealNode{root: root}
}

// Hold keeps the real node for this test until it ends: tests that use it
// run one at a time across test binaries (one of them stops and starts it),
// by an exclusive lock on a file of the checkout's .cache.
func (n *RealNode) Hold(tb testing.TB) {
	tb.Helper()
	dir := filepath.Join(n.root, ".cache", "realnode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".test.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatalf("lock the real node: %v", err)
	}
	tb.Cleanup(func() { f.Close() }) // closing releases the lock
}

// Run runs hack/real-node.sh with args, its output on stderr as it happens
// (a first `up` builds the kubelet for minutes).
func (n *RealNode) Run(tb testing.TB, args ...string) {
	tb.Helper()
	n.script(tb, filepath.Join(n.root, "hack", "real-node.sh"), args...)
}

// BuildImages builds images (tags or directories of images/) with
// hack/images.sh: a second build of an unchanged image takes seconds.
func (n *RealNode) BuildImages(tb testing.TB, images ...string) {
	tb.Helper()
	n.script(tb, filepath.Join(n.root, "hack", "images.sh"), append([]string{"build"}, images...)...)
}

func (n *RealNode) script(tb testing.TB, script string, args ...string) {
	tb.Helper()
	cmd := exec.Command(script, args...)
	cmd.Dir = n.root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v", filepath.Base(script), strings.Join(args, " "), err)
	}
}

// ImageID is the ID (config digest, sha256:…) of an image in `make images`'
// storage: what a container's imageID must be when it runs that build.
func (n *RealNode) ImageID(tb testing.TB, image string) string {
	tb.Helper()
	out, err := exec.Command(filepath.Join(n.root, "hack", "images.sh"), "buildah", "inspect", "--type", "image",
		"--format", "{{.FromImageID}}", image).Output()
	if err != nil {
		tb.Fatalf("inspect %s: %v", image, err)
	}
	return "sha256:" + strings.TrimSpace(string(out))
}

// Exec runs a command in a container as `kubectl exec` does (through the
// API server, the kubelet and the runtime's streaming server) and returns its
// stdout and stderr.
func (c *Cluster) Exec(ctx context.Context, pod *corev1.Pod, container string, command ...string) (string, string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", "", err
	}
	args := append([]string{"--kubeconfig", c.Kubeconfig, "exec", "-n", pod.Namespace, pod.Name, "-c", container, "--"}, command...)
	cmd := exec.CommandContext(ctx, filepath.Join(root, ".cache", "bin", "kubectl"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("exec in %s: %w", pod.Name, err)
	}
	return stdout.String(), stderr.String(), err
}
