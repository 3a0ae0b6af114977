package apps

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// launched launches an app for caller and waits until the cache shows it.
func launched(t *testing.T, f *fixture, caller Caller, app string) sessionapi.App {
	t.Helper()
	a, err := f.mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: app})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := f.mgr.Get(context.Background(), caller, a.ID)
		return err == nil
	}, eventually, tick)
	return a
}

func ids(list []sessionapi.App) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.ID)
	}
	return out
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Each session sees its own apps only: not another user's, nor its own
// user's other server's; another session's app is not found, not
// forbidden.
func TestListAndGetAreEachSessionsOwn(t *testing.T) {
	f := start(t, options{})
	gpu := f.sessions.add("alice", "gpu", "gpu")
	bob := f.sessions.add("bob", "", "")
	ctx := context.Background()
	a1 := launched(t, f, f.alice, "xterm")
	a2 := launched(t, f, f.alice, "xterm")
	g := launched(t, f, gpu, "viewer")
	b := launched(t, f, bob, "xterm")

	for _, tc := range []struct {
		name   string
		caller Caller
		want   []string
	}{
		{"alice's default server", f.alice, []string{a1.ID, a2.ID}},
		{"alice's gpu server", gpu, []string{g.ID}},
		{"bob", bob, []string{b.ID}},
	} {
		list, err := f.mgr.List(ctx, tc.caller)
		require.NoError(t, err, tc.name)
		assert.ElementsMatch(t, tc.want, ids(list), tc.name)
	}
	for _, tc := range []struct {
		name   string
		caller Caller
		id     string
	}{
		{"bob's app from alice", f.alice, b.ID},
		{"alice's app from bob", bob, a1.ID},
		{"alice's default server's app from her gpu server", gpu, a1.ID},
		{"an id that is no app", f.alice, "jupyter-alice"},
	} {
		_, err := f.mgr.Get(ctx, tc.caller, tc.id)
		assert.Equal(t, CodeNotFound, codeOf(err), tc.name)
	}
	got, err := f.mgr.Get(ctx, gpu, g.ID)
	require.NoError(t, err)
	assert.Equal(t, "viewer", got.App)

	stale := Caller{User: "alice", SessionUID: "old-uid"}
	_, err = f.mgr.List(ctx, stale)
	assert.Equal(t, CodeStaleToken, codeOf(err))
	_, err = f.mgr.Get(ctx, stale, a1.ID)
	assert.Equal(t, CodeStaleToken, codeOf(err))
}

// List shows the newest app first, also to a service that found the apps
// at its start.
func TestListNewestFirst(t *testing.T) {
	client := newClient()
	s := &sessions{}
	s.add("alice", "", "")
	session := s.pod("alice", "")
	app, err := catalogApp()
	require.NoError(t, err)
	base := time.Now().Add(-3 * time.Hour)
	var want []string
	for i, instance := range []string{"old", "mid", "new"} {
		pod := podspec.AppPod(podspec.AppPodInput{Session: session, App: app, Instance: instance, Command: []string{"xterm"}, Display: ":1"})
		pod.CreationTimestamp = metav1.NewTime(base.Add(time.Duration(i) * time.Hour))
		_, err := client.CoreV1().Pods(testNS).Create(context.Background(), pod, metav1.CreateOptions{})
		require.NoError(t, err)
		want = append([]string{pod.Name}, want...)
	}
	f := start(t, options{client: client})
	list, err := f.mgr.List(context.Background(), f.alice)
	require.NoError(t, err)
	assert.Equal(t, want, ids(list))
	assert.True(t, list[0].StartedAt.After(list[1].StartedAt))
}

func catalogApp() (catalog.App, error) {
	cat, _ := catalog.Parse([]byte(testCatalog), "catalog.yaml")
	return cat.Lookup("xterm", "")
}

func TestStop(t *testing.T) {
	f := start(t, options{})
	bob := f.sessions.add("bob", "", "")
	ctx := context.Background()
	a := launched(t, f, f.alice, "xterm")
	b := launched(t, f, bob, "xterm")

	require.NoError(t, f.mgr.Stop(ctx, f.alice, a.ID))
	_, err := f.client.CoreV1().Pods(testNS).Get(ctx, a.ID, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the pod is deleted")
	grace := deletes(f.client)[a.ID]
	require.NotNil(t, grace)
	assert.Equal(t, int64(5), *grace, "with a grace period for the app to close")

	require.NoError(t, f.mgr.Stop(ctx, f.alice, a.ID), "stopping it again succeeds")
	require.Eventually(t, func() bool {
		_, err := f.mgr.Get(ctx, f.alice, a.ID)
		return codeOf(err) == CodeNotFound
	}, eventually, tick)
	require.NoError(t, f.mgr.Stop(ctx, f.alice, a.ID), "also once the cache has seen it go")
	require.NoError(t, f.mgr.Stop(ctx, f.alice, "no-such-app"))

	// Bob's app is not Alice's to stop: she is answered as for an app
	// that is gone, and it runs on.
	require.NoError(t, f.mgr.Stop(ctx, f.alice, b.ID))
	_, err = f.client.CoreV1().Pods(testNS).Get(ctx, b.ID, metav1.GetOptions{})
	require.NoError(t, err, "bob's app still exists")
	assert.NotContains(t, deletes(f.client), b.ID)

	err = f.mgr.Stop(ctx, Caller{User: "bob", SessionUID: "old-uid"}, b.ID)
	assert.Equal(t, CodeStaleToken, codeOf(err))
	assert.NotContains(t, deletes(f.client), b.ID)
}

// The API server's errors on a stop reach the caller, but one that says
// the pod is already gone (the cache had not seen it go) is a success.
func TestStopWhenTheAPIServerFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"internal error", apierrors.NewInternalError(errors.New("boom")), false},
		{"unavailable", apierrors.NewServiceUnavailable("no etcd"), false},
		{"conflict", apierrors.NewConflict(podsGR, "x", errors.New("changed")), false},
		{"already gone", apierrors.NewNotFound(podsGR, "x"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, options{})
			a := launched(t, f, f.alice, "xterm")
			failOnce(f.client, "delete", "pods", tc.err)
			err := f.mgr.Stop(context.Background(), f.alice, a.ID)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), a.ID)
			assert.Empty(t, codeOf(err), "not a refusal of the caller's")
			assert.Equal(t, apierrors.ReasonForError(tc.err), apierrors.ReasonForError(err), "the API's error is kept")
			require.NoError(t, f.mgr.Stop(context.Background(), f.alice, a.ID), "and the next try stops it")
		})
	}
}

// A pod deleted behind the service's back (kubectl, an eviction) leaves
// the session's apps and the Manager's memory.
func TestVanishedPod(t *testing.T) {
	f := start(t, options{})
	ctx := context.Background()
	a := launched(t, f, f.alice, "xterm")
	running(t, f.client, a.ID)
	require.Eventually(t, func() bool {
		got, err := f.mgr.Get(ctx, f.alice, a.ID)
		return err == nil && got.Status == sessionapi.StatusRunning
	}, eventually, tick)
	// The store shows the pod before the handler has run: wait for it.
	require.Eventually(t, func() bool { return f.mgr.remembers(a.ID) }, eventually, tick)

	require.NoError(t, f.client.CoreV1().Pods(testNS).Delete(ctx, a.ID, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err := f.mgr.Get(ctx, f.alice, a.ID)
		return codeOf(err) == CodeNotFound
	}, eventually, tick)
	list, err := f.mgr.List(ctx, f.alice)
	require.NoError(t, err)
	assert.Empty(t, list)
	require.NoError(t, f.mgr.Stop(ctx, f.alice, a.ID))
	require.Eventually(t, func() bool { return f.mgr.forgot(a.ID) }, eventually, tick,
		"its credentials and start are forgotten")
}

// remembers reports whether the Manager holds the app's credentials and
// has recorded its start; forgot whether it holds neither.
func (m *Manager) remembers(pod string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.creds[pod]
	return ok && m.started[pod]
}

func (m *Manager) forgot(pod string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.creds[pod]
	return !ok && !m.started[pod]
}

// A delete the informer missed arrives as a tombstone; it is forgotten
// all the same. Objects that are no pods are ignored.
func TestDeletedFinalStateUnknown(t *testing.T) {
	f := start(t, options{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "jupyter-alice-xterm-lost", Namespace: testNS,
		Labels: map[string]string{podspec.LabelSession: "jupyter-alice"}}}
	f.mgr.mu.Lock()
	f.mgr.creds[pod.Name] = podspec.XpraCredentials{Password: "p"}
	f.mgr.started[pod.Name] = true
	f.mgr.mu.Unlock()

	f.mgr.onPod("not a pod")
	f.mgr.onDelete(cache.DeletedFinalStateUnknown{Key: testNS + "/" + pod.Name, Obj: "not a pod"})
	assert.True(t, f.mgr.remembers(pod.Name))

	f.mgr.onDelete(cache.DeletedFinalStateUnknown{Key: testNS + "/" + pod.Name, Obj: pod})
	assert.True(t, f.mgr.forgot(pod.Name))
}
