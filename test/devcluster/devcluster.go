package devcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a connection to the running dev cluster.
type Cluster struct {
	// Kubeconfig is the path of the cluster's admin kubeconfig, for tools
	// started as processes (KUBECONFIG=...) and for kubedesk's own loader.
	Kubeconfig string
	// Config has client-side rate limiting switched off (see newConfig);
	// copy it (rest.CopyConfig) before changing it.
	Config *rest.Config
	Client kubernetes.Interface

	transport http.RoundTripper // Client's, for closeIdle
}

// TestNamespaceLabel marks namespaces made by Namespace, so that leftovers
// of a killed test run can be found:
// kubectl delete ns -l kubedesk.dev/test=true.
const TestNamespaceLabel = "kubedesk.dev/test"

// namespaceReadyTimeout bounds the wait for a new namespace's default
// ServiceAccount (see Namespace).
const namespaceReadyTimeout = 30 * time.Second

var (
	startOnce sync.Once
	started   *Cluster
	startErr  error
)

// Start returns the dev cluster, building and starting it if needed (once per
// process). It skips the test under -short, so `go test -short ./...` needs
// neither the 10-minute first build nor a running cluster.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("devcluster: needs the kwok dev cluster (hack/dev-cluster.sh up; " +
			"built on first use, ~10 min once); skipped under -short")
	}
	startOnce.Do(func() { started, startErr = start() })
	if startErr != nil {
		tb.Fatalf("devcluster: %v", startErr)
	}
	return started
}

func start() (*Cluster, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	// `up` builds the tools if needed (hack/cluster-tools.sh), takes the
	// cross-process lock, then creates or reuses the cluster. Its output goes
	// straight to stderr rather than to tb.Log, so that a 10-minute first
	// build shows progress as it happens instead of after the test.
	script := filepath.Join(root, "hack", "dev-cluster.sh")
	up := exec.Command(script, "up")
	up.Dir = root
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	if err := up.Run(); err != nil {
		return nil, fmt.Errorf("%s up: %w", script, err)
	}
	out, err := exec.Command(script, "env").Output()
	if err != nil {
		return nil, fmt.Errorf("%s env: %w", script, err)
	}
	kubeconfig, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "export KUBECONFIG=")
	if !ok {
		return nil, fmt.Errorf("%s env: unexpected output %q", script, out)
	}
	return connect(kubeconfig)
}

// connect is a Cluster for the cluster kubeconfig names.
func connect(kubeconfig string) (*Cluster, error) {
	config, err := newConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfigAndClient(config, hc)
	if err != nil {
		return nil, err
	}
	return &Cluster{Kubeconfig: kubeconfig, Config: config, Client: client, transport: hc.Transport}, nil
}

// closeIdle closes the Cluster's idle connections to the API server (and
// those of every client of an equal Config: client-go shares one
// transport among them). Their goroutines end with them.
func (c *Cluster) closeIdle() { utilnet.CloseIdleConnectionsFor(c.transport) }

func newConfig(kubeconfig string) (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	// client-go's default (5 QPS, burst 10) would make a test that creates a
	// few hundred objects measure its own client instead of the code under
	// test. A negative QPS means no client-side limiter at all; the
	// apiserver's priority and fairness still protects the cluster.
	config.QPS = -1
	config.UserAgent = "kubedesk-devcluster-test"
	// The certificates and key are read once, not named by file: from
	// files, client-go's transport starts a rotation controller (five
	// goroutines) that watches them for as long as the transport lives,
	// the whole process for Start's, which goleak would report. The dev
	// cluster's certificates do not change under a test run.
	if err := rest.LoadTLSFiles(config); err != nil {
		return nil, fmt.Errorf("load %s's certificates: %w", kubeconfig, err)
	}
	config.CertFile, config.KeyFile, config.CAFile = "", "", ""
	return config, nil
}

// repoRoot finds the kubedesk checkout: upwards from the working directory
// (go test runs in the package directory), then from this source file.
func repoRoot() (string, error) {
	isRoot := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "hack", "dev-cluster.sh"))
		return err == nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if isRoot(d) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("cannot find the kubedesk repository (hack/dev-cluster.sh) above " + strings.Join(starts, " or "))
}

// Namespace creates a fresh namespace kd-test-<random> and deletes it when
// the test ends. Deletion is not waited for: the namespace controller
// finishes it in the background, and no later test reuses the name.
func (c *Cluster) Namespace(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), namespaceReadyTimeout)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name:   "kd-test-" + utilrand.String(8),
			Labels: map[string]string{TestNamespaceLabel: "true"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("devcluster: create namespace: %v", err)
	}
	name := ns.Name
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), namespaceReadyTimeout)
		defer cancel()
		err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			tb.Errorf("devcluster: delete namespace %s: %v", name, err)
		}
	})
	if err := c.waitDefaultServiceAccount(ctx, name); err != nil {
		tb.Fatalf("devcluster: namespace %s: %v", name, err)
	}
	return name
}

// waitDefaultServiceAccount waits until kube-controller-manager has made the
// namespace's "default" ServiceAccount. The ServiceAccount admission plugin
// rejects pods in a namespace that lacks it, so a test that creates a pod
// right after the namespace would otherwise fail now and then, as it would
// on a real cluster.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context, ns string) error {
	const poll = 50 * time.Millisecond // it usually appears within one or two
	var last error
	for {
		_, last = c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if last == nil {
			return nil
		}
		if !apierrors.IsNotFound(last) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no default ServiceAccount after %v: %w", namespaceReadyTimeout, last)
		case <-time.After(poll):
		}
	}
}
