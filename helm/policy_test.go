package helm_test

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// endpoint is one end of a connection: a pod (namespace set) or an address
// outside the cluster.
type endpoint struct {
	name      string
	namespace string
	labels    map[string]string
	ip        string
	// ports are the pod's named container ports.
	ports map[string]int32
}

func podEndpoint(name string, meta metav1.ObjectMeta, spec corev1.PodSpec, ip string) endpoint {
	e := endpoint{name: name, namespace: meta.Namespace, labels: meta.Labels, ip: ip, ports: map[string]int32{}}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, p := range c.Ports {
			if p.Name != "" {
				e.ports[p.Name] = p.ContainerPort
			}
		}
	}
	return e
}

// network evaluates NetworkPolicies as the API defines them: a pod selected
// by a policy of a direction is isolated in that direction, and a
// connection passes if the source's egress and the target's ingress allow
// it (each allowed if not isolated, or if any rule of a selecting policy
// matches). ipBlocks are taken to match pod IPs too, as many network
// plugins do: the stricter reading for what must be refused.
type network struct {
	policies []networkingv1.NetworkPolicy
}

func (n network) selecting(e endpoint) []string {
	var names []string
	for _, p := range n.policies {
		if p.Namespace == e.namespace && matches(&p.Spec.PodSelector, e.labels) {
			names = append(names, p.Name)
		}
	}
	return names
}

func (n network) allowed(from, to endpoint, port int32, proto corev1.Protocol) bool {
	return n.direction(from, networkingv1.PolicyTypeEgress, to, port, proto) &&
		n.direction(to, networkingv1.PolicyTypeIngress, from, port, proto)
}

// direction reports whether subject's policies of the given direction let
// it talk to (egress) or hear from (ingress) other; the port is always the
// target's.
func (n network) direction(subject endpoint, dir networkingv1.PolicyType, other endpoint, port int32, proto corev1.Protocol) bool {
	if subject.namespace == "" {
		return true // outside the cluster: no policies
	}
	target := subject
	if dir == networkingv1.PolicyTypeEgress {
		target = other
	}
	isolated := false
	for _, p := range n.policies {
		if p.Namespace != subject.namespace || !matches(&p.Spec.PodSelector, subject.labels) || !hasType(p, dir) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeEgress {
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, other) && portsMatch(r.Ports, target, port, proto) {
					return true
				}
			}
		} else {
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, other) && portsMatch(r.Ports, target, port, proto) {
					return true
				}
			}
		}
	}
	return !isolated
}

func hasType(p networkingv1.NetworkPolicy, dir networkingv1.PolicyType) bool {
	if len(p.Spec.PolicyTypes) > 0 {
		return slices.Contains(p.Spec.PolicyTypes, dir)
	}
	// The API's defaulting: Ingress always, Egress when there are egress rules.
	return dir == networkingv1.PolicyTypeIngress || len(p.Spec.Egress) > 0
}

func matches(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		panic(err)
	}
	return s.Matches(labels.Set(set))
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNamespace string, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.IPBlock != nil {
			if inBlock(peer.IPBlock, e.ip) {
				return true
			}
			continue
		}
		if e.namespace == "" {
			continue // pod and namespace selectors name pods only
		}
		nsOK := e.namespace == policyNamespace
		if peer.NamespaceSelector != nil {
			nsOK = matches(peer.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": e.namespace})
		}
		podOK := peer.PodSelector == nil || matches(peer.PodSelector, e.labels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, ip string) bool {
	addr := netip.MustParseAddr(ip)
	if !netip.MustParsePrefix(b.CIDR).Contains(addr) {
		return false
	}
	for _, ex := range b.Except {
		if netip.MustParsePrefix(ex).Contains(addr) {
			return false
		}
	}
	return true
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, target endpoint, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		want := corev1.ProtocolTCP
		if p.Protocol != nil {
			want = *p.Protocol
		}
		if want != proto {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.StrVal != "":
			if target.ports[p.Port.StrVal] == port {
				return true
			}
		case p.EndPort != nil:
			if port >= p.Port.IntVal && port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == port:
			return true
		}
	}
	return false
}

// connection is one case: from, to, the target's port, and whether it
// must pass.
type connection struct {
	from, to string
	port     int32
	proto    corev1.Protocol
	want     bool
}

const (
	tcp = corev1.ProtocolTCP
	udp = corev1.ProtocolUDP
)

// TestPolicies renders the chart, adds the per-app NetworkPolicies the
// service creates (built by podspec itself), and checks for every pod kind
// -- session, app, the service -- which policies select it and which
// connections they let through, with the labels the service really puts on
// its pods.
func TestPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sets []string
		// sessionsNS is sessions.namespace; "" is the release's.
		sessionsNS string
		// extra are the connections whose outcome depends on the case.
		extra []connection
		// dns is the endpoint of the cluster's DNS pods; "" is "dns".
		dns string
	}{
		{name: "defaults", extra: []connection{
			{"alice-app", "internet", 443, tcp, false},
			{"alice-app", "private-host", 5432, tcp, false},
			{"alice-app", "hub", 8081, tcp, false},
			// Port 53 goes to the cluster's DNS pods alone: not to a
			// resolver at a private address, another pod of kube-system or
			// a node-local cache nobody named (a way to tunnel out).
			{"alice", "private-host", 53, udp, false},
			{"alice", "private-host", 53, tcp, false},
			{"alice", "kube-system-other", 53, udp, false},
			{"alice-app", "private-host", 53, udp, false},
			{"alice-app", "kube-system-other", 53, udp, false},
			{"alice-app", "nodelocal-dns", 53, udp, false},
			// Link-local is not the internet: AWS keeps container
			// credentials there; Alibaba's metadata server is not either.
			{"alice", "link-local", 80, tcp, false},
			{"alice", "nodelocal-dns", 53, udp, false},
			{"alice", "alibaba-metadata", 80, tcp, false},
			{"alice-app", "link-local", 80, tcp, false},
			{"alice-app", "alibaba-metadata", 80, tcp, false},
		}},
		{
			name: "a node-local DNS cache",
			sets: []string{"clusterDNS.ipBlocks={169.254.20.10/32}"},
			extra: []connection{
				{"alice", "nodelocal-dns", 53, udp, true},
				{"alice", "nodelocal-dns", 53, tcp, true},
				{"alice", "nodelocal-dns", 80, tcp, false},
				{"alice-app", "nodelocal-dns", 53, udp, true},
				{"alice-app", "nodelocal-dns", 53, tcp, true},
				{"alice-app", "nodelocal-dns", 80, tcp, false},
				{"alice-app", "private-host", 53, udp, false},
				{"alice", "private-host", 53, udp, false},
			},
		},
		{
			name: "sessions may reach the metadata servers",
			sets: []string{"sessions.networkPolicy.egressAllowRules.cloudMetadataServer=true"},
			extra: []connection{
				{"alice", "metadata", 80, tcp, true},
				{"alice", "alibaba-metadata", 80, tcp, true},
				// The metadata servers alone, not all of link-local.
				{"alice", "link-local", 80, tcp, false},
				{"alice-app", "metadata", 80, tcp, false},
			},
		},
		{
			name:       "sessions in a namespace of their own",
			sets:       []string{"sessions.namespace=jhub-sessions"},
			sessionsNS: "jhub-sessions",
			extra: []connection{
				// Across the namespaces: the hub and proxy to sessions,
				// sessions to the hub and the service, and nothing more.
				{"proxy", "alice", 8888, tcp, true},
				{"alice", "hub", 8081, tcp, true},
				{"alice", "service", 8080, tcp, true},
				{"other-ns-singleuser", "alice", 8888, tcp, false},
				{"alice", "other-ns-hub", 8081, tcp, false},
			},
		},
		{
			name: "DNS pods labelled otherwise",
			sets: []string{"clusterDNS.podLabels.k8s-app=coredns", "clusterDNS.podLabels.tier=dns"},
			dns:  "coredns",
			extra: []connection{
				{"alice", "dns", 53, udp, false},
				{"alice-app", "dns", 53, udp, false},
				{"alice", "kube-system-other", 53, udp, false},
			},
		},
		{
			name: "apps may reach the internet",
			sets: []string{"spawner.apps.networkPolicy.egressAllowRules.nonPrivateIPs=true"},
			extra: []connection{
				{"alice-app", "internet", 443, tcp, true},
				{"alice-app", "private-host", 5432, tcp, false},
				{"alice-app", "hub", 8081, tcp, false},
			},
		},
		{
			name: "apps may reach private addresses",
			sets: []string{"spawner.apps.networkPolicy.egressAllowRules.privateIPs=true"},
			extra: []connection{
				{"alice-app", "internet", 443, tcp, false},
				{"alice-app", "private-host", 5432, tcp, true},
				// The hub's own NetworkPolicy (Zero to JupyterHub's), not
				// modelled here, is what then keeps apps out.
				{"alice-app", "hub", 8081, tcp, true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sessionsNS := cmp.Or(tc.sessionsNS, goldenNamespace)
			alice := spawnertest.Session(sessionsNS, "alice")
			bob := spawnertest.Session(sessionsNS, "bob")
			xpra := alice.XpraPort
			m := parse(t, mustRender(t, goldenNamespace, nil, tc.sets...))
			dns := cmp.Or(tc.dns, "dns")
			var chart []networkingv1.NetworkPolicy
			for _, o := range m {
				if o.GetKind() == "NetworkPolicy" {
					chart = append(chart, *decode[networkingv1.NetworkPolicy](t, o))
				}
			}
			dep := decode[appsv1.Deployment](t, m.one(t, "Deployment"))
			dep.Spec.Template.Namespace = goldenNamespace

			ep := map[string]endpoint{}
			for _, e := range []endpoint{
				podEndpoint("alice", alice.Session.ObjectMeta, alice.Session.Spec, "10.42.0.10"),
				podEndpoint("alice-app", alice.App.ObjectMeta, alice.App.Spec, "10.42.0.11"),
				podEndpoint("bob", bob.Session.ObjectMeta, bob.Session.Spec, "10.42.0.20"),
				podEndpoint("bob-app", bob.App.ObjectMeta, bob.App.Spec, "10.42.0.21"),
				podEndpoint("service", dep.Spec.Template.ObjectMeta, dep.Spec.Template.Spec, "10.42.0.2"),
				// Zero to JupyterHub's hub and proxy pods, with its labels.
				{name: "hub", namespace: goldenNamespace, ip: "10.42.0.3", labels: map[string]string{
					"app": "jupyterhub", "component": "hub", "hub.jupyter.org/network-access-singleuser": "true"}},
				{name: "proxy", namespace: goldenNamespace, ip: "10.42.0.4", labels: map[string]string{
					"app": "jupyterhub", "component": "proxy", "hub.jupyter.org/network-access-singleuser": "true"}},
				{name: "dns", namespace: "kube-system", ip: "10.42.1.5", labels: map[string]string{"k8s-app": "kube-dns"}},
				{name: "coredns", namespace: "kube-system", ip: "10.42.1.7", labels: map[string]string{"k8s-app": "coredns", "tier": "dns"}},
				{name: "kube-system-other", namespace: "kube-system", ip: "10.42.1.6", labels: map[string]string{"k8s-app": "metrics-server"}},
				{name: "nodelocal-dns", ip: "169.254.20.10"},
				{name: "prometheus", namespace: "monitoring", ip: "10.42.2.9", labels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
				{name: "internet", ip: "93.184.216.34"},
				{name: "metadata", ip: "169.254.169.254"},
				// Pods of another namespace with the hub's labels: a hub of
				// another release, or a user's pod that copied them.
				{name: "other-ns-singleuser", namespace: "elsewhere", ip: "10.42.3.1", labels: map[string]string{
					"hub.jupyter.org/network-access-singleuser": "true"}},
				{name: "other-ns-hub", namespace: "elsewhere", ip: "10.42.3.2", labels: map[string]string{
					"app": "jupyterhub", "component": "hub"}},
				{name: "alibaba-metadata", ip: "100.100.100.200"},
				{name: "link-local", ip: "169.254.170.2"},
				{name: "private-host", ip: "10.0.5.5"},
			} {
				ep[e.name] = e
			}
			check := func(t *testing.T, n network, cases []connection) {
				t.Helper()
				for _, c := range cases {
					from, to := ep[c.from], ep[c.to]
					require.NotEmpty(t, from.name, c.from)
					require.NotEmpty(t, to.name, c.to)
					assert.Equal(t, c.want, n.allowed(from, to, c.port, c.proto), "%s -> %s:%d/%s", c.from, c.to, c.port, c.proto)
				}
			}

			// Before the service creates an app's own policy, the chart's
			// alone: nobody reaches the app, its own session included.
			chartOnly := network{policies: chart}
			check(t, chartOnly, []connection{
				{"alice", "alice-app", xpra, tcp, false},
				{"bob", "alice-app", xpra, tcp, false},
				{"hub", "alice-app", xpra, tcp, false},
			})

			n := network{policies: append(slices.Clone(chart), *alice.AppPolicy, *bob.AppPolicy)}
			fullname := func(suffix string) string { return fmt.Sprintf("%s-%s", release, suffix) }
			assert.Equal(t, []string{fullname("sessions")}, n.selecting(ep["alice"]), "policies of a session pod")
			assert.ElementsMatch(t, []string{fullname("apps"), alice.App.Name}, n.selecting(ep["alice-app"]), "policies of an app pod")
			assert.Equal(t, []string{fullname("spawner")}, n.selecting(ep["service"]), "policies of the service")

			check(t, n, overriding([]connection{
				// Session pods: reached by the proxy and the hub only.
				{"proxy", "alice", 8888, tcp, true},
				{"hub", "alice", 8888, tcp, true},
				{"bob", "alice", 8888, tcp, false},
				{"other-ns-singleuser", "alice", 8888, tcp, false},
				{"alice-app", "alice", 8888, tcp, false},
				{"service", "alice", 8888, tcp, false},
				// Sessions reach the hub's API, the service's, DNS, the
				// internet, and their own apps' Xpra port -- no other app,
				// no other port, not the metadata server or private hosts.
				{"alice", "hub", 8081, tcp, true},
				{"alice", "service", 8080, tcp, true},
				{"alice", dns, 53, udp, true},
				{"alice", dns, 53, tcp, true},
				{"alice", "internet", 443, tcp, true},
				{"alice", "alice-app", xpra, tcp, true},
				{"bob", "bob-app", xpra, tcp, true},
				{"alice", "bob-app", xpra, tcp, false},
				{"bob", "alice-app", xpra, tcp, false},
				{"alice", "alice-app", 22, tcp, false},
				{"alice", "metadata", 80, tcp, false},
				{"alice", "private-host", 5432, tcp, false},
				// App pods: reached by their own session only, and reaching
				// DNS, never the metadata server, the service, a session or
				// another app.
				{"hub", "alice-app", xpra, tcp, false},
				{"proxy", "alice-app", xpra, tcp, false},
				{"service", "alice-app", xpra, tcp, false},
				{"bob-app", "alice-app", xpra, tcp, false},
				{"alice-app", dns, 53, udp, true},
				{"alice-app", dns, 53, tcp, true},
				{"alice-app", "metadata", 80, tcp, false},
				{"alice-app", "service", 8080, tcp, false},
				{"alice-app", "alice", 8888, tcp, false},
				{"alice-app", "bob-app", xpra, tcp, false},
				// The service: its API from the hub and sessions, metrics
				// from Prometheus; its own egress (the Kubernetes API) open.
				{"hub", "service", 8080, tcp, true},
				{"bob", "service", 8080, tcp, true},
				{"prometheus", "service", 9090, tcp, true},
				{"alice", "service", 9090, tcp, false},
				{"proxy", "service", 8080, tcp, false},
				{"service", "internet", 443, tcp, true},
			}, tc.extra))
		})
	}
}

// overriding is base with the connections of a case in place of base's own
// to the same place, and the case's others after.
func overriding(base, extra []connection) []connection {
	same := func(a, b connection) bool {
		return a.from == b.from && a.to == b.to && a.port == b.port && a.proto == b.proto
	}
	out := slices.Clone(base)
	for _, e := range extra {
		if i := slices.IndexFunc(out, func(b connection) bool { return same(b, e) }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}
