package session

// The package's test kit: a Manager on a fake clientset that behaves like an
// API server where the tests need it to (UIDs, creation times, graceful pod
// deletion), reactors that make it fail, and waits on conditions with named
// bounds. No test sleeps: each waits for what it expects, or for the bound.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/retry"

	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

const testNS = "hub"

// Named bounds. waitTimeout bounds the waits on the Manager's background
// work, which on a fake clientset takes milliseconds; tick is how often a
// condition is looked at.
const (
	waitTimeout = 5 * time.Second
	tick        = 5 * time.Millisecond
)

func testConfig() Config {
	return Config{Namespace: testNS, SpawnTimeout: 5 * time.Second}
}

// newClient is a fake clientset holding objs that sets what an API server
// sets on create (a UID and a creation time), which the Manager relies on:
// a pod's Events and the Secret's ownerReference name its UID.
func newClient(objs ...runtime.Object) *fake.Clientset {
	client := fake.NewClientset(objs...)
	var n atomic.Int64
	client.PrependReactor("create", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj, ok := action.(k8stesting.CreateAction).GetObject().(metav1.Object)
		if ok && obj.GetUID() == "" {
			obj.SetUID(types.UID(fmt.Sprintf("uid-%s-%d", obj.GetName(), n.Add(1))))
			obj.SetCreationTimestamp(metav1.Now())
		}
		return false, nil, nil
	})
	return client
}

// runManager starts a Manager on client and waits until it has rebuilt its
// sessions. stop ends it as a shutdown of the service does and waits for
// Start to return; it also runs at the end of the test.
func runManager(t *testing.T, client *fake.Clientset, cfg Config) (mgr *Manager, m *metrics.Spawner, stop func()) {
	t.Helper()
	m = newMetrics()
	mgr = New(client, cfg, m, discardLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			assert.NoError(t, <-done, "Start's result")
		})
	}
	t.Cleanup(stop)
	require.Eventually(t, mgr.Ready, waitTimeout, tick)
	return mgr, m, stop
}

func newMetrics() *metrics.Spawner {
	return metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
}

// discardLog drops the Manager's log: it outlives the test's t.Log.
func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startManager runs a Manager on a fresh fake clientset holding objs.
func startManager(t *testing.T, objs ...runtime.Object) (*Manager, *fake.Clientset, *metrics.Spawner) {
	t.Helper()
	client := newClient(objs...)
	mgr, m, _ := runManager(t, client, testConfig())
	return mgr, client, m
}

func testSpec() Spec {
	return Spec{Settings: podspec.Defaults(), Env: map[string]string{"JUPYTERHUB_SERVICE_PREFIX": "/user/x/"}}
}

func intentSpec(request string) Spec {
	spec := testSpec()
	spec.Env["JUPYTERHUB_API_TOKEN"] = "token-" + request
	spec.Request = request
	return spec
}

// claimAs is a home PVC under names' name, annotated as owner's (nil: no
// annotations); managed puts kubedesk's labels on it, so the informer
// caches it (KubeSpawner's claims have other labels).
func claimAs(names podspec.Names, owner *podspec.Names, managed bool) *corev1.PersistentVolumeClaim {
	pvc := podspec.HomePVC(testNS, names, podspec.Defaults(), podspec.StorageLabels(names))
	if !managed {
		pvc.Labels = map[string]string{"component": "singleuser-storage", "app": "jupyterhub"}
	}
	pvc.Annotations = nil
	if owner != nil {
		pvc.Annotations = map[string]string{podspec.AnnotationUsername: owner.User}
		if owner.Server != "" {
			pvc.Annotations[podspec.AnnotationServername] = owner.Server
		}
	}
	return pvc
}

// sessionPod is the pod the Manager creates for names, as a previous run
// of the service left it, with edit applied.
func sessionPod(names podspec.Names, edit func(*corev1.Pod)) *corev1.Pod {
	p := podspec.Pod(podspec.PodInput{Namespace: testNS, Names: names, Settings: podspec.Defaults(), ServicePrefix: "/user/" + names.User + "/"})
	p.UID = types.UID("uid-" + names.Pod)
	p.CreationTimestamp = metav1.Now()
	if edit != nil {
		edit(p)
	}
	return p
}

// ready is a pod's status once the kubelet reports it ready at ip.
func ready(ip string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase, p.Status.PodIP = corev1.PodRunning, ip
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}}
	}
}

// exited is a pod whose notebook container ended with code.
func exited(code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodSucceeded
		if code != 0 {
			p.Status.Phase = corev1.PodFailed
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: notebookContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}}
	}
}

// editPod changes a pod in the API server, as the kubelet or a person would.
func editPod(t *testing.T, client *fake.Clientset, name string, edit func(*corev1.Pod)) {
	t.Helper()
	pods := client.CoreV1().Pods(testNS)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(p)
		_, err = pods.Update(context.Background(), p, metav1.UpdateOptions{})
		return err
	}))
}

// waitForPod waits until the pod exists in the API server and returns it.
func waitForPod(t *testing.T, client *fake.Clientset, name string) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	require.Eventually(t, func() bool {
		p, err := client.CoreV1().Pods(testNS).Get(context.Background(), name, metav1.GetOptions{})
		got = p
		return err == nil
	}, waitTimeout, tick, "pod %s is created", name)
	return got
}

// waitForStatus waits until the session of key has status st and returns it.
func waitForStatus(t *testing.T, mgr *Manager, key Key, st Status) Session {
	t.Helper()
	var got Session
	require.Eventually(t, func() bool {
		s, ok := mgr.Get(key)
		got = s
		return ok && s.Status == st
	}, waitTimeout, tick, "session %v becomes %s", key, st)
	return got
}

// waitGone waits until the Manager has no record of key.
func waitGone(t *testing.T, mgr *Manager, key Key) {
	t.Helper()
	require.Eventually(t, func() bool { _, ok := mgr.Get(key); return !ok }, waitTimeout, tick, "session %v is forgotten", key)
}

func pods(t *testing.T, client *fake.Clientset) []corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods(testNS).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
}

// count is the number of requests of verb on resource the client answered.
func count(client *fake.Clientset, verb, resource string) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

// followAll waits for the operation's log of key to end and returns all of
// its events.
func followAll(t *testing.T, mgr *Manager, key Key) []progress.Event {
	t.Helper()
	log, ok := mgr.Progress(key)
	require.True(t, ok)
	var all []progress.Event
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	require.NoError(t, log.Follow(ctx, func(e progress.Event) error { all = append(all, e); return nil }), "the operation ends")
	return all
}

// lastEvent waits for the spawn to end and returns its final event.
func lastEvent(t *testing.T, mgr *Manager, key Key) progress.Event {
	t.Helper()
	all := followAll(t, mgr, key)
	return all[len(all)-1]
}

// waitForMessage waits until the log of key holds an event with msg.
func waitForMessage(t *testing.T, mgr *Manager, key Key, msg string) {
	t.Helper()
	log, ok := mgr.Progress(key)
	require.True(t, ok)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	found := errors.New("found")
	err := log.Follow(ctx, func(e progress.Event) error {
		if e.Message == msg {
			return found
		}
		return nil
	})
	require.ErrorIs(t, err, found, "progress says %q", msg)
}

// failing answers the first n requests it sees with err and lets the rest
// through; n < 0 fails them all. calls counts the requests seen.
type failing struct {
	n      int64
	err    error
	calls  atomic.Int64
	healed atomic.Bool
}

// heal lets every further request through.
func (f *failing) heal() { f.healed.Store(true) }

func (f *failing) react(k8stesting.Action) (bool, runtime.Object, error) {
	if c := f.calls.Add(1); !f.healed.Load() && (f.n < 0 || c <= f.n) {
		return true, nil, f.err
	}
	return false, nil, nil
}

// failFirst makes client answer the first n requests of verb on resource
// with err (n < 0: every one).
func failFirst(client *fake.Clientset, verb, resource string, n int64, err error) *failing {
	f := &failing{n: n, err: err}
	client.PrependReactor(verb, resource, f.react)
	return f
}

// gracefulDelete makes pod deletions graceful, as a kubelet's are: a
// deleted pod stays, marked with a deletion time, until the test removes it
// (remove).
func gracefulDelete(t *testing.T, client *fake.Clientset) (remove func(name string)) {
	t.Helper()
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	client.PrependReactor("delete", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		name := action.(k8stesting.DeleteAction).GetName()
		obj, err := client.Tracker().Get(podsGVR, testNS, name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		if p.DeletionTimestamp == nil {
			now := metav1.Now()
			p.DeletionTimestamp = &now
			if err := client.Tracker().Update(podsGVR, p, testNS); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	return func(name string) {
		t.Helper()
		require.NoError(t, client.Tracker().Delete(podsGVR, testNS, name))
	}
}

// mintFunc is a TokenMinter.
type mintFunc func(user, server, uid string) (string, error)

func (f mintFunc) Mint(user, server, uid string) (string, error) { return f(user, server, uid) }

func requireRefusal(t *testing.T, err error, code string) *Error {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e, "a refusal with a code")
	require.Equal(t, code, e.Code, "message: %s", e.Message)
	assert.Equal(t, e.Message, e.Error())
	return e
}

// collected sums what a metric has recorded over its series whose labels
// include the name/value pairs, read the way Prometheus scrapes it: the
// values of counters, the number of observations of histograms.
func collected(t *testing.T, c prometheus.Collector, labelPairs ...string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, f := range families {
	series:
		for _, s := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labelPairs); i += 2 {
				if have[labelPairs[i]] != labelPairs[i+1] {
					continue series
				}
			}
			n += s.GetCounter().GetValue() + float64(s.GetHistogram().GetSampleCount())
		}
	}
	return n
}
