// Package devcluster gives tests and benchmarks a real Kubernetes API to
// talk to: the kwok dev cluster of hack/dev-cluster.sh (etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler as local processes, kwok in
// place of kubelets, pod IPs in 127.42.0.0/16), and one node that really
// runs pods, devnode-0.
//
//	func TestSpawn(t *testing.T) {
//		c := devcluster.Start(t)        // skips under -short
//		devcluster.StartResponder(t)    // pod IPs answer on podresponder.Port
//		ns := c.Namespace(t)            // fresh, deleted afterwards
//		...
//	}
//
// Start builds the control plane on first use (hack/cluster-tools.sh, about
// 10 minutes once, cached in .cache/bin) and starts the cluster, or reuses
// one that already runs, so the first test of a fresh checkout is slow and
// later ones take well under a second to connect. The first build outlasts
// go test's default 10-minute -timeout: on a fresh checkout run
// hack/dev-cluster.sh up (or make cluster-up) once first, or pass -timeout 30m. Several test binaries may
// call Start at the same time (go test ./... runs packages in parallel):
// hack/dev-cluster.sh serialises `up` with a file lock, so exactly one of them
// creates the cluster and the others reuse it. The cluster outlives the
// tests on purpose; `hack/dev-cluster.sh down` removes it.
//
// Pods on kwok's nodes are fake: kwok marks them Running and Ready and gives
// them an IP (127.42.0.0/16), but runs no containers. StartResponder stands
// in for whatever such a pod would serve: one listener on
// 0.0.0.0:podresponder.Port (18888) answers at every pod IP, the way a
// single-user server answers JupyterHub's readiness poll; tests give such
// sessions that port. Not 8888: the dev node's real sessions listen there.
//
// Pods on devnode-0 are real: hack/devnode runs their containers as
// processes on this machine (images mapped to host commands by
// hack/devnode/images.yaml; pod IPs in 127.43.0.0/16, on the host's network;
// a mount namespace per container). The node is tainted, so only pods that
// ask for it land there: OnDevnode for a pod spec, DevnodeProfileOverride for
// a kubedesk profile. ContainerPID, ContainerFile and ContainerProcesses look
// into a running container from the host (/proc/<pid>/root/...).
//
// A package whose tests use the cluster runs them through Main
// (goleak.VerifyTestMain(devcluster.Main(m))): once they ran, it closes the
// idle connections the process keeps to the cluster and to the tests'
// servers, so goleak reports only what a test left running. The client
// reads its certificates once rather than watch their files: client-go's
// rotation controller would run, unstoppable, for the rest of the process.
//
// Namespaces are the unit of isolation: tests share the cluster and its
// nodes, so a test must not assume it is alone there (count only its own
// pods, never all pods or node usage).
package devcluster
