package apps

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

func waiting(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: reason + " of the image"}}}
}

func TestStatus(t *testing.T) {
	now := metav1.Now()
	sidecar := func(ready bool) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: podspec.XpraContainerName, Ready: ready}}
	}
	appRunning := []corev1.ContainerStatus{{Name: podspec.AppContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	exited := func(code int32) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{
			{Name: "other", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 99}}},
			{Name: podspec.AppContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}},
		}
	}
	for _, tc := range []struct {
		name    string
		pod     corev1.Pod
		want    sessionapi.Status
		code    *int
		message string
	}{
		{name: "just created", want: sessionapi.StatusStarting},
		{name: "pending, pulling", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting(podspec.AppContainerName, "ContainerCreating")}}}, want: sessionapi.StatusStarting},
		{name: "running, sidecar not ready", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			InitContainerStatuses: sidecar(false), ContainerStatuses: appRunning}}, want: sessionapi.StatusStarting},
		{name: "running, no IP yet", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: sidecar(true), ContainerStatuses: appRunning}}, want: sessionapi.StatusStarting},
		{name: "running, no sidecar status", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			ContainerStatuses: appRunning}}, want: sessionapi.StatusStarting},
		{name: "running", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			InitContainerStatuses: sidecar(true), ContainerStatuses: appRunning}}, want: sessionapi.StatusRunning},
		{name: "the app's image cannot be pulled", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting(podspec.AppContainerName, "ImagePullBackOff")}}},
			want: sessionapi.StatusFailed, message: "ImagePullBackOff of the image"},
		{name: "the app's image name is invalid", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting(podspec.AppContainerName, "InvalidImageName")}}}, want: sessionapi.StatusFailed},
		{name: "the app's container cannot be made", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting(podspec.AppContainerName, "CreateContainerConfigError")}}}, want: sessionapi.StatusFailed},
		// The sidecar is an init container: while it cannot start the app
		// waits in PodInitializing, which used to read as starting for ever
		// (holding a slot of the quota, the agent polling fast).
		{name: "the sidecar's image cannot be pulled", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{waiting(podspec.XpraContainerName, "ErrImagePull")},
			ContainerStatuses:     []corev1.ContainerStatus{waiting(podspec.AppContainerName, "PodInitializing")}}},
			want: sessionapi.StatusFailed, message: "ErrImagePull of the image"},
		{name: "the sidecar's container cannot be made", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{waiting(podspec.XpraContainerName, "CreateContainerError")}}},
			want: sessionapi.StatusFailed},
		{name: "the sidecar is being started", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{waiting(podspec.XpraContainerName, "ContainerCreating")},
			ContainerStatuses:     []corev1.ContainerStatus{waiting(podspec.AppContainerName, "PodInitializing")}}},
			want: sessionapi.StatusStarting},
		{name: "another container's pull error is not the app's", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting("other", "ErrImagePull")}}}, want: sessionapi.StatusStarting},
		{name: "exited 0", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: exited(0)}},
			want: sessionapi.StatusEnded, code: new(0), message: "code 0"},
		{name: "exited 3 while the pod still runs", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: exited(3)}},
			want: sessionapi.StatusEnded, code: new(3), message: "code 3"},
		{name: "completed without container statuses", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}},
			want: sessionapi.StatusEnded},
		{name: "being deleted", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: exited(0)}}, want: sessionapi.StatusStopping},
	} {
		st, msg, code := status(&tc.pod)
		assert.Equal(t, tc.want, st, tc.name)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Contains(t, msg, tc.message, tc.name)
		if st != sessionapi.StatusRunning {
			assert.NotEmpty(t, msg, tc.name)
		}
	}
}

// What the kubelet reports reaches the session's view of its app.
func TestStatusThroughTheInformer(t *testing.T) {
	f := start(t, options{})
	ctx := context.Background()
	get := func(id string, want sessionapi.Status) sessionapi.App {
		t.Helper()
		var got sessionapi.App
		require.Eventually(t, func() bool {
			var err error
			got, err = f.mgr.Get(ctx, f.alice, id)
			return err == nil && got.Status == want
		}, eventually, tick, "%s becomes %s", id, want)
		return got
	}
	a := launched(t, f, f.alice, "xterm")
	assert.Equal(t, sessionapi.StatusStarting, get(a.ID, sessionapi.StatusStarting).Status)

	running(t, f.client, a.ID)
	got := get(a.ID, sessionapi.StatusRunning)
	require.NotNil(t, got.Xpra)
	assert.Equal(t, "10.244.0.9", got.Xpra.Host)
	assert.Equal(t, int32(podspec.DefaultXpraPort), got.Xpra.Port)
	assert.Len(t, got.Xpra.Password, 24)
	assert.Empty(t, got.Message)

	failed := launched(t, f, f.alice, "xterm")
	setStatus(t, f.client, failed.ID, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting(podspec.AppContainerName, "ErrImagePull")}
	})
	got = get(failed.ID, sessionapi.StatusFailed)
	assert.Contains(t, got.Message, "ErrImagePull of the image")
	assert.Nil(t, got.Xpra)

	stopping := launched(t, f, f.alice, "xterm")
	pod, err := f.client.CoreV1().Pods(testNS).Get(ctx, stopping.ID, metav1.GetOptions{})
	require.NoError(t, err)
	now := metav1.Now()
	pod.DeletionTimestamp = &now
	_, err = f.client.CoreV1().Pods(testNS).Update(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	get(stopping.ID, sessionapi.StatusStopping)

	// An app that exits is seen ended, then its pod is deleted.
	ended(t, f.client, a.ID, 3)
	require.Eventually(t, func() bool {
		_, err := f.client.CoreV1().Pods(testNS).Get(ctx, a.ID, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, eventually, tick)
	require.Eventually(t, func() bool {
		_, err := f.mgr.Get(ctx, f.alice, a.ID)
		return codeOf(err) == CodeNotFound
	}, eventually, tick)
	require.Eventually(t, func() bool { return f.mgr.forgot(a.ID) }, eventually, tick,
		"the ended app's credentials are forgotten")

	// Once the Manager has stopped, every delete it started has ended:
	// only the ended app's pod was deleted, not the failed nor the
	// stopping one.
	f.stop()
	assert.Equal(t, []string{a.ID}, keys(deletes(f.client)))
	for _, id := range []string{failed.ID, stopping.ID} {
		_, err := f.client.CoreV1().Pods(testNS).Get(ctx, id, metav1.GetOptions{})
		assert.NoError(t, err, id)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The Manager counts its apps by status and the time each took to start,
// once per app and not for apps a restarted service finds already running.
func TestAppMetrics(t *testing.T) {
	client := newClient()
	// An app a previous run of the service started long ago.
	s := &sessions{}
	s.add("alice", "", "")
	app, err := catalogApp()
	require.NoError(t, err)
	old := podspec.AppPod(podspec.AppPodInput{Session: s.pod("alice", ""), App: app, Instance: "old", Command: []string{"xterm"}, Display: ":1"})
	old.CreationTimestamp = metav1.NewTime(time.Now().Add(-2 * time.Hour))
	_, err = client.CoreV1().Pods(testNS).Create(context.Background(), old, metav1.CreateOptions{})
	require.NoError(t, err)
	running(t, client, old.Name)

	f := start(t, options{client: client})
	const startDuration = "kubedesk_spawner_app_start_duration_seconds"
	const apps = "kubedesk_spawner_apps"
	byStatus := func() map[string]float64 {
		out := map[string]float64{}
		for _, st := range []sessionapi.Status{sessionapi.StatusStarting, sessionapi.StatusRunning, sessionapi.StatusStopping, sessionapi.StatusEnded, sessionapi.StatusFailed} {
			out[string(st)] = metric(t, f.reg, apps, map[string]string{"status": string(st)})
		}
		return out
	}
	assert.Equal(t, map[string]float64{"starting": 0, "running": 1, "stopping": 0, "ended": 0, "failed": 0}, byStatus())

	a := launched(t, f, f.alice, "xterm")
	b := launched(t, f, f.alice, "xterm")
	c := launched(t, f, f.alice, "xterm")
	assert.Equal(t, map[string]float64{"starting": 3, "running": 1, "stopping": 0, "ended": 0, "failed": 0}, byStatus())
	assert.Equal(t, float64(3), metric(t, f.reg, launchesTotal, map[string]string{"outcome": "created"}))

	running(t, f.client, a.ID)
	require.Eventually(t, func() bool { return metric(t, f.reg, startDuration, nil) == 1 }, eventually, tick)
	// A later update of a running app is not another start. The informer
	// hands the handler its events in order: once c's end has made its
	// delete, a's update and b's start before it have been handled.
	setStatus(t, f.client, a.ID, func(p *corev1.Pod) { p.Status.Message = "still running" })
	running(t, f.client, b.ID)
	ended(t, f.client, c.ID, 0)
	require.Eventually(t, func() bool {
		_, err := f.mgr.Get(context.Background(), f.alice, c.ID)
		return codeOf(err) == CodeNotFound
	}, eventually, tick)
	assert.Equal(t, float64(2), metric(t, f.reg, startDuration, nil), "a and b, once each; not the old app")
	assert.Equal(t, map[string]float64{"starting": 0, "running": 3, "stopping": 0, "ended": 0, "failed": 0}, byStatus())
}
