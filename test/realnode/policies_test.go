package realnode_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// chartPolicies renders the chart into ns with its defaults and returns its
// NetworkPolicies and the service's Deployment.
func chartPolicies(t *testing.T, ns string) ([]networkingv1.NetworkPolicy, *appsv1.Deployment) {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	// hack/helm.sh builds helm once (make deps does too) and prints its path.
	path, err := exec.Command(filepath.Join(root, "hack", "helm.sh"), "path").Output()
	require.NoError(t, err, "hack/helm.sh path")
	cmd := exec.Command(strings.TrimSpace(string(path)), "template", "kubedesk",
		filepath.Join(root, "helm", "kubedesk"), "--namespace", ns)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())

	var policies []networkingv1.NetworkPolicy
	var deployment *appsv1.Deployment
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var meta metav1.TypeMeta
		if utilyaml.Unmarshal([]byte(doc), &meta) != nil {
			continue
		}
		switch meta.Kind {
		case "NetworkPolicy":
			var p networkingv1.NetworkPolicy
			require.NoError(t, utilyaml.Unmarshal([]byte(doc), &p))
			p.Namespace = ns
			policies = append(policies, p)
		case "Deployment":
			deployment = &appsv1.Deployment{}
			require.NoError(t, utilyaml.Unmarshal([]byte(doc), deployment))
		}
	}
	require.NotEmpty(t, policies, "the chart renders NetworkPolicies")
	require.NotNil(t, deployment, "the chart renders the service's Deployment")
	return policies, deployment
}

// listener serves TCP on every port given, answering each connection with
// one line, so a probe sees "open" wherever a policy lets it through.
const listener = `
import socket, sys, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),)).start()
`

// standIn runs a probe pod in ns in place of a pod kubedesk makes: the same
// labels and the same container ports (named ports resolve against them),
// listening on each.
func standIn(ctx context.Context, t *testing.T, c *devcluster.Cluster, ns, name string, labels map[string]string, spec *corev1.PodSpec, extraPorts ...int32) *corev1.Pod {
	t.Helper()
	var ports []corev1.ContainerPort
	if spec != nil {
		for _, ctr := range slices.Concat(spec.InitContainers, spec.Containers) {
			for _, p := range ctr.Ports {
				p.HostPort = 0
				ports = append(ports, p)
			}
		}
	}
	for _, p := range extraPorts {
		ports = append(ports, corev1.ContainerPort{ContainerPort: p})
	}
	args := []string{"sleep", "infinity"} // a pod that only connects
	if len(ports) > 0 {
		args = []string{"python3", "-c", listener}
		for _, p := range ports {
			args = append(args, fmt.Sprint(p.ContainerPort))
		}
	}
	return runPod(ctx, t, c, ns, name, labels, ports, args...)
}

// checkChartPolicies runs stand-ins of two users' sessions and apps, the
// service, and Zero to JupyterHub's hub and proxy on the real node, applies
// the chart's NetworkPolicies and the per-app ones the service creates, and
// asserts each connection from inside the pods: every one connects before
// the policies, and afterwards exactly the allowed ones do.
func checkChartPolicies(ctx context.Context, t *testing.T, c *devcluster.Cluster, ns string) {
	chart, deployment := chartPolicies(t, ns)
	alice := spawnertest.Session(ns, "alice")
	bob := spawnertest.Session(ns, "bob")
	xpra := alice.XpraPort

	pods := map[string]*corev1.Pod{}
	run := func(name string, labels map[string]string, spec *corev1.PodSpec, extra ...int32) {
		pods[name] = standIn(ctx, t, c, ns, name, labels, spec, extra...)
	}
	run("alice", alice.Session.Labels, &alice.Session.Spec)
	run("alice-app", alice.App.Labels, &alice.App.Spec)
	run("bob", bob.Session.Labels, &bob.Session.Spec)
	run("bob-app", bob.App.Labels, &bob.App.Spec)
	run("service", deployment.Spec.Template.Labels, &deployment.Spec.Template.Spec)
	run("hub", map[string]string{"app": "jupyterhub", "component": "hub", "hub.jupyter.org/network-access-singleuser": "true"}, nil, 8081)
	run("proxy", map[string]string{"app": "jupyterhub", "component": "proxy", "hub.jupyter.org/network-access-singleuser": "true"}, nil)

	type connection struct {
		from, to string
		port     int32
		want     string
	}
	cases := []connection{
		// Sessions: reached by the proxy and the hub only.
		{"proxy", "alice", 8888, "open"},
		{"hub", "alice", 8888, "open"},
		{"bob", "alice", 8888, "denied"},
		{"alice-app", "alice", 8888, "denied"},
		{"service", "alice", 8888, "denied"},
		// Sessions reach the hub's API, the service's API and their own
		// apps' Xpra port; no other app.
		{"alice", "hub", 8081, "open"},
		{"alice", "service", 8080, "open"},
		{"alice", "alice-app", xpra, "open"},
		{"bob", "bob-app", xpra, "open"},
		{"alice", "bob-app", xpra, "denied"},
		{"bob", "alice-app", xpra, "denied"},
		// Apps: reached by their own session only; they reach no session,
		// no other app, not the service or the hub.
		{"hub", "alice-app", xpra, "denied"},
		{"proxy", "alice-app", xpra, "denied"},
		{"service", "alice-app", xpra, "denied"},
		{"bob-app", "alice-app", xpra, "denied"},
		{"alice-app", "service", 8080, "denied"},
		{"alice-app", "hub", 8081, "denied"},
		{"alice-app", "bob", 8888, "denied"},
		// The service: its API from the hub and sessions; metrics from no
		// session.
		{"hub", "service", 8080, "open"},
		{"bob", "service", 8080, "open"},
		{"alice", "service", 9090, "denied"},
		{"proxy", "service", 8080, "denied"},
	}
	// outcomes lists every case with the outcome given for it: tried from
	// inside its pod, or as it must come out.
	line := func(cs connection, outcome string) string {
		return fmt.Sprintf("%s -> %s:%d %s", cs.from, cs.to, cs.port, outcome)
	}
	outcomes := func(outcome func(connection) string) []string {
		var got []string
		for _, cs := range cases {
			got = append(got, line(cs, outcome(cs)))
		}
		return got
	}
	tried := func(cs connection) string {
		return connect(ctx, t, c, pods[cs.from], pods[cs.to].Status.PodIP, int(cs.port))
	}
	want := outcomes(func(cs connection) string { return cs.want })

	// Before any policy every connection passes: a refusal below is the
	// policies' doing, not a pod that does not listen.
	require.Equal(t, outcomes(func(connection) string { return "open" }), outcomes(tried), "connections without policies")

	for _, p := range append(slices.Clone(chart), *alice.AppPolicy, *bob.AppPolicy) {
		// The stand-ins are not the owners the service names; the garbage
		// collector would delete a policy whose owner does not exist.
		p.OwnerReferences = nil
		p.ResourceVersion = ""
		_, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &p, metav1.CreateOptions{})
		require.NoError(t, err, "create NetworkPolicy %s", p.Name)
	}
	// kube-router programs a change within a few seconds.
	var got []string
	assert.Eventually(t, func() bool {
		got = outcomes(tried)
		return slices.Equal(got, want)
	}, 2*time.Minute, 2*time.Second, "connections under the chart's policies")
	assert.Equal(t, want, got)
}
