package apps

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

const testNS = "hub"

// eventually bounds each wait for a condition the informer brings about;
// tick is how often it is looked at.
const (
	eventually = 5 * time.Second
	tick       = 5 * time.Millisecond
)

// testCatalog holds an app for every profile and one for the "gpu" profile
// only.
const testCatalog = `
- id: xterm
  name: XTerm
  version: "1"
  image: kubedesk/example-xterm:1
  command: [xterm]
  args: ["{files}"]
- id: viewer
  name: Viewer
  version: "2"
  image: kubedesk/example-viewer:2
  command: [viewer]
  profiles: [gpu]
`

// sessions stands in for the session manager: the sessions that run, by
// user and server, each with its pod and profile.
type sessions struct {
	mu   sync.Mutex
	pods map[string]sessionEntry
	rwo  bool // every home volume is ReadWriteOnce
}

type sessionEntry struct {
	pod     *corev1.Pod
	profile string
}

func (s *sessions) SessionPod(user, server string) (*corev1.Pod, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pods[user+"/"+server]
	return e.pod, e.profile, ok
}

func (s *sessions) ReadWriteOnce(*corev1.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rwo
}

// add runs a session and returns the caller its token makes. Alice's
// default session is jupyter-alice with the UID session-uid.
func (s *sessions) add(user, server, profile string) Caller {
	name, uid := "jupyter-"+user, types.UID(user+"-session-uid")
	if server != "" {
		name += "--" + server
		uid = types.UID(user + "-" + server + "-session-uid")
	}
	if user == "alice" && server == "" {
		uid = "session-uid"
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, UID: uid, Labels: map[string]string{
			podspec.LabelUsername: user, podspec.LabelServername: server,
		}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: podspec.NotebookContainerName}}},
	}
	s.put(user, server, profile, pod)
	return Caller{User: user, Server: server, SessionUID: string(uid)}
}

func (s *sessions) put(user, server, profile string, pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pods == nil {
		s.pods = map[string]sessionEntry{}
	}
	s.pods[user+"/"+server] = sessionEntry{pod, profile}
}

func (s *sessions) pod(user, server string) *corev1.Pod {
	p, _, _ := s.SessionPod(user, server)
	return p
}

// remove stops a session: its tokens are stale from then on.
func (s *sessions) remove(user, server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pods, user+"/"+server)
}

// fixture is a started Manager over a fake clientset, with Alice's default
// session running.
type fixture struct {
	t        *testing.T
	mgr      *Manager
	client   *fake.Clientset
	reg      *prometheus.Registry
	sessions *sessions
	alice    Caller
	logs     *spawnertest.SyncBuffer

	cancel context.CancelFunc
	done   chan struct{}
	err    error // Start's answer, once done is closed
}

type options struct {
	cfg Config
	// client is an existing cluster (a restarted service); nil makes one.
	client *fake.Clientset
	// wrap is the Manager's client around the fake clientset.
	wrap func(kubernetes.Interface) kubernetes.Interface
	// deleteTimeout replaces the Manager's bound on its own deletes.
	deleteTimeout time.Duration
}

func start(t *testing.T, o options) *fixture {
	t.Helper()
	client := o.client
	if client == nil {
		client = newClient()
	}
	var api kubernetes.Interface = client
	if o.wrap != nil {
		api = o.wrap(client)
	}
	cat, problems := catalog.Parse([]byte(testCatalog), "catalog.yaml")
	require.Empty(t, problems)
	f := &fixture{t: t, client: client, reg: prometheus.NewRegistry(), sessions: &sessions{}, logs: &spawnertest.SyncBuffer{}, done: make(chan struct{})}
	f.alice = f.sessions.add("alice", "", "")
	o.cfg.Namespace = testNS
	var mgr *Manager
	m := metrics.NewSpawner(f.reg, func() map[string]int { return nil }, func() map[string]int { return mgr.Counts() })
	mgr = New(api, o.cfg, cat, f.sessions, m, slog.New(slog.NewTextHandler(f.logs, nil)))
	if o.deleteTimeout != 0 {
		mgr.deleteTimeout = o.deleteTimeout
	}
	f.mgr = mgr
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { defer close(f.done); f.err = mgr.Start(ctx) }()
	t.Cleanup(f.stop)
	require.Eventually(t, mgr.Ready, eventually, tick)
	return f
}

// stop ends Start's ctx and waits for Start to return, which may take as
// long as a delete under way may.
func (f *fixture) stop() {
	f.t.Helper()
	f.cancel()
	select {
	case <-f.done:
	case <-time.After(f.mgr.deleteTimeout + eventually):
		f.t.Errorf("Start did not return within %s of its ctx's end", f.mgr.deleteTimeout+eventually)
	}
}

// await waits for ch to yield, at most eventually.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(eventually):
		t.Fatalf("waited %s for %s", eventually, what)
		panic("unreachable")
	}
}

// newClient is a fake clientset whose pod creates take a while and stamp
// what the API server stamps.
func newClient() *fake.Clientset {
	client := fake.NewClientset()
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// A real API server takes milliseconds to create a pod, and its
		// watch longer to show it: that is the window concurrent launches
		// raced in.
		time.Sleep(20 * time.Millisecond)
		if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok {
			if p.CreationTimestamp.IsZero() {
				p.CreationTimestamp = metav1.Now()
			}
			if p.UID == "" {
				p.UID = types.UID(p.Name + "-uid")
			}
		}
		return false, nil, nil
	})
	return client
}

func startApps(t *testing.T, cfg Config) (*Manager, *fake.Clientset, Caller) {
	t.Helper()
	f := start(t, options{cfg: cfg})
	return f.mgr, f.client, f.alice
}

// startAppsWith starts a manager whose client is wrap(the fake clientset).
func startAppsWith(t *testing.T, cfg Config, wrap func(kubernetes.Interface) kubernetes.Interface) (*Manager, *fake.Clientset, Caller) {
	t.Helper()
	f := start(t, options{cfg: cfg, wrap: wrap})
	return f.mgr, f.client, f.alice
}

// startAppsOn starts a manager on an existing fake clientset, as a service
// that restarts finds the cluster another left.
func startAppsOn(t *testing.T, cfg Config, client *fake.Clientset) (*Manager, *fake.Clientset, Caller) {
	t.Helper()
	f := start(t, options{cfg: cfg, client: client})
	return f.mgr, f.client, f.alice
}

func appPods(t *testing.T, client *fake.Clientset) int {
	t.Helper()
	list, err := client.CoreV1().Pods(testNS).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return len(list.Items)
}

// idle reports whether no launch holds a slot in flight.
func (a *admission) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sessions) == 0
}

// failOnce makes the next verb on resource answer err, and no later one.
func failOnce(client *fake.Clientset, verb, resource string, err error) {
	var done atomic.Bool
	client.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if done.Swap(true) {
			return false, nil, nil
		}
		return true, nil, err
	})
}

// deletes lists the names of the pods the clientset was asked to delete,
// with the grace period of each.
func deletes(client *fake.Clientset) map[string]*int64 {
	out := map[string]*int64{}
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			out[d.GetName()] = d.GetDeleteOptions().GracePeriodSeconds
		}
	}
	return out
}

// running reports the app pod as a kubelet would once the app runs and its
// sidecar is ready.
func running(t *testing.T, client *fake.Clientset, name string) {
	t.Helper()
	setStatus(t, client, name, func(pod *corev1.Pod) {
		pod.Status.Phase, pod.Status.PodIP = corev1.PodRunning, "10.244.0.9"
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: podspec.XpraContainerName, Ready: true}}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podspec.AppContainerName,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	})
}

// ended reports the app pod as a kubelet would once the app exited with
// code: the pod completes.
func ended(t *testing.T, client *fake.Clientset, name string, code int32) {
	t.Helper()
	setStatus(t, client, name, func(pod *corev1.Pod) {
		pod.Status.Phase = corev1.PodSucceeded
		if code != 0 {
			pod.Status.Phase = corev1.PodFailed
		}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podspec.AppContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}}
	})
}

func setStatus(t *testing.T, client *fake.Clientset, name string, change func(*corev1.Pod)) {
	t.Helper()
	ctx := context.Background()
	pod, err := client.CoreV1().Pods(testNS).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	change(pod)
	_, err = client.CoreV1().Pods(testNS).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// hooked is a client whose Secret creates and pod deletes run a hook
// first, which may block or fail the call; the fake clientset's own
// reactors run under one lock, which would hold every other call too (the
// informer's watch included).
type hooked struct {
	kubernetes.Interface
	createSecret func(ctx context.Context) error
	deletePod    func(ctx context.Context, name string) error
}

// IsWatchListSemanticsUnSupported passes on what the fake clientset says of
// itself, so informers over the wrapper list and watch as over the fake.
func (hooked) IsWatchListSemanticsUnSupported() bool { return true }

func (h hooked) CoreV1() typedcorev1.CoreV1Interface {
	return hookedCore{h.Interface.CoreV1(), h}
}

type hookedCore struct {
	typedcorev1.CoreV1Interface
	h hooked
}

func (c hookedCore) Secrets(namespace string) typedcorev1.SecretInterface {
	return hookedSecrets{c.CoreV1Interface.Secrets(namespace), c.h}
}

func (c hookedCore) Pods(namespace string) typedcorev1.PodInterface {
	return hookedPods{c.CoreV1Interface.Pods(namespace), c.h}
}

type hookedSecrets struct {
	typedcorev1.SecretInterface
	h hooked
}

func (s hookedSecrets) Create(ctx context.Context, secret *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error) {
	if s.h.createSecret != nil {
		if err := s.h.createSecret(ctx); err != nil {
			return nil, err
		}
	}
	return s.SecretInterface.Create(ctx, secret, opts)
}

type hookedPods struct {
	typedcorev1.PodInterface
	h hooked
}

func (p hookedPods) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	if p.h.deletePod != nil {
		if err := p.h.deletePod(ctx, name); err != nil {
			return err
		}
	}
	return p.PodInterface.Delete(ctx, name, opts)
}

// metric reads a metric through the registry: a counter's or gauge's
// value, a histogram's count of observations; 0 if no series has labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
