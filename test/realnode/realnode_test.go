// Package realnode_test runs pods from the images `make images` built on the
// dev cluster's real node (hack/real-node.sh: kubelet, containerd, runc, CNI,
// kube-proxy, kube-router) and checks that the host is as it was before.
package realnode_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kubedesk.dev/kubedesk/test/devcluster"
)

// probeImage has python3 (for a server and a client) and runs as uid 1000.
const probeImage = "kubedesk/xpra-sidecar:3.1"

// TestRealNode starts the real node from nothing, runs pods, a Service and
// NetworkPolicies on it, stops it, and compares the host before and after.
func TestRealNode(t *testing.T) {
	node := devcluster.NewRealNode(t)
	c := devcluster.Start(t)
	node.Hold(t)
	node.BuildImages(t, probeImage)
	// From nothing: a node left running by an earlier run goes first, so
	// that the snapshot below is of the host without it.
	node.Run(t, "down")
	before := snapshotHost(t)

	node.Run(t, "up")
	node.Run(t, "import", probeImage)
	downed := false
	t.Cleanup(func() {
		if !downed {
			node.Run(t, "down")
		}
	})
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	server := runPod(ctx, t, c, ns, "server", map[string]string{"role": "server"}, nil,
		"python3", "-m", "http.server", "8080")
	client := runPod(ctx, t, c, ns, "client", map[string]string{"role": "client"}, nil, "sleep", "infinity")
	stranger := runPod(ctx, t, c, ns, "stranger", map[string]string{"role": "stranger"}, nil, "sleep", "infinity")

	t.Run("pods run the images make images built", func(t *testing.T) {
		want := node.ImageID(t, probeImage)
		for _, p := range []*corev1.Pod{server, client} {
			require.Len(t, p.Status.ContainerStatuses, 1)
			assert.Equal(t, want, p.Status.ContainerStatuses[0].ImageID, "pod %s runs the image built here", p.Name)
		}
		// The Dockerfile's USER, not root; exec goes through the API
		// server, the kubelet and containerd's streaming server.
		out, stderr, err := c.Exec(ctx, client, "probe", "id", "-u")
		require.NoError(t, err, stderr)
		assert.Equal(t, "1000", strings.TrimSpace(out))
	})

	t.Run("a Service reaches its pod through kube-proxy", func(t *testing.T) {
		svc, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "server"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"role": "server"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		// kube-proxy programs the Service once it sees its EndpointSlice.
		assert.Eventually(t, func() bool {
			return connect(ctx, t, c, client, svc.Spec.ClusterIP, 80) == "open"
		}, time.Minute, time.Second, "client → %s:80 (Service) → server:8080", svc.Spec.ClusterIP)
	})

	t.Run("NetworkPolicies are enforced", func(t *testing.T) {
		ip := server.Status.PodIP
		require.Equal(t, "open", connect(ctx, t, c, client, ip, 8080), "without a policy every pod reaches the server")
		require.Equal(t, "open", connect(ctx, t, c, stranger, ip, 8080))

		// Only the client may reach the server.
		_, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "server-from-client"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "server"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
				}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Eventually(t, func() bool { return connect(ctx, t, c, stranger, ip, 8080) == "denied" },
			time.Minute, time.Second, "the stranger is refused once the policy is in force")
		assert.Equal(t, "open", connect(ctx, t, c, client, ip, 8080), "the client still reaches the server")

		// Egress: the stranger may reach nothing but DNS.
		_, err = c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "stranger-egress"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "stranger"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Eventually(t, func() bool { return connect(ctx, t, c, stranger, client.Status.PodIP, 8080) == "denied" },
			time.Minute, time.Second, "the stranger's egress is cut")
	})

	t.Run("the chart's NetworkPolicies hold between real pods", func(t *testing.T) {
		checkChartPolicies(ctx, t, c, c.Namespace(t))
	})

	t.Run("pods reach nothing beyond the host", func(t *testing.T) {
		// TEST-NET-3: no route leaves the node's namespace but the one to
		// the host's own address, and the host forwards nothing.
		assert.Equal(t, "unreachable", connect(ctx, t, c, client, "203.0.113.1", 80))
	})

	node.Run(t, "down")
	downed = true
	after := snapshotHost(t)
	for _, part := range []string{"sysctl", "iptables", "nftables", "routes", "links", "hosts"} {
		assert.Equal(t, before[part], after[part], "the host's %s are as they were before the real node started", part)
	}
}

// runPod starts a pod of the probe image on the real node and waits until it
// runs.
func runPod(ctx context.Context, t *testing.T, c *devcluster.Cluster, ns, name string, labels map[string]string, ports []corev1.ContainerPort, command ...string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "probe", Image: probeImage, Command: command, Ports: ports,
				// The images are in containerd's store; there is no registry.
				ImagePullPolicy: corev1.PullNever,
			}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	devcluster.OnRealNode(&pod.Spec)
	_, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var got *corev1.Pod
	require.Eventually(t, func() bool {
		got, err = c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning && got.Status.PodIP != ""
	}, 2*time.Minute, 200*time.Millisecond, "pod %s runs on the real node", name)
	require.Equal(t, devcluster.RealNodeName, got.Spec.NodeName)
	return got
}

// probe classifies one TCP connect from inside a pod: open, denied (refused
// or unanswered: kube-router rejects what a policy does not allow, other
// implementations drop it; the tests see "open" before each policy, so a
// denial is the policy's), or unreachable (no route).
const probe = `
import errno, socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except (socket.timeout, ConnectionRefusedError):
    print("denied")
except OSError as e:
    print("unreachable" if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH) else "error %s" % e)
`

func connect(ctx context.Context, t *testing.T, c *devcluster.Cluster, from *corev1.Pod, ip string, port int) string {
	t.Helper()
	out, stderr, err := c.Exec(ctx, from, "probe", "python3", "-c", probe, ip, fmt.Sprint(port))
	require.NoError(t, err, stderr)
	return strings.TrimSpace(out)
}

// volatile are the sysctl entries that change by themselves (counters, a
// random UUID, the last pid).
var volatile = regexp.MustCompile(`^(fs\.(dentry-state|file-nr|inode-nr|inode-state|quota\.[a-z_]+)|kernel\.(ns_last_pid|pty\.nr|random\.uuid|random\.entropy_avail)) =`)

// linkCounters drops what `ip -o link` reports that is not configuration.
var linkCounters = regexp.MustCompile(`\\\s+link/\S+ \S+ brd \S+`)

// withoutComments drops iptables-save's "# Generated … on <date>" lines.
func withoutComments(s string) string {
	var kept []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "#") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// snapshotHost records the host's configuration that the real node must
// leave as it found it.
func snapshotHost(t *testing.T) map[string]string {
	t.Helper()
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		require.NoError(t, err, "%s %v", name, args)
		return string(out)
	}
	var sysctl []string
	for _, line := range strings.Split(run("sysctl", "-a"), "\n") {
		if !volatile.MatchString(line) {
			sysctl = append(sysctl, line)
		}
	}
	hosts, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	return map[string]string{
		"sysctl":   strings.Join(sysctl, "\n"),
		"iptables": withoutComments(run("iptables-save") + run("ip6tables-save")),
		"nftables": run("nft", "list", "ruleset"),
		"routes":   run("ip", "route", "show", "table", "all") + run("ip", "-6", "route", "show", "table", "all") + run("ip", "rule"),
		"links":    linkCounters.ReplaceAllString(run("ip", "-o", "link"), ""),
		"hosts":    string(hosts),
	}
}
