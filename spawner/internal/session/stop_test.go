package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// A stop while the pod is starting cancels the spawn, which ends as
// cancelled (not as a failure of the service), and then deletes the pod.
func TestStopCancelsASpawnWaitingForItsPod(t *testing.T) {
	t.Parallel()
	mgr, client, m := startManager(t)
	key := Key{User: "alice"}
	names := podspec.NewNames("alice", "")
	spec := intentSpec("aaaaaaaaaaaa")
	_, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	spawnLog, ok := mgr.Progress(key)
	require.True(t, ok)

	require.NoError(t, mgr.Stop(context.Background(), key))

	last, ok := spawnLog.Last()
	require.True(t, ok)
	assert.Equal(t, progress.Event{Kind: progress.KindFailed, Message: "The spawn was cancelled by a stop request.", Reason: ReasonCancelled}, last)
	assert.Empty(t, pods(t, client))
	_, known := mgr.Get(key)
	assert.False(t, known, "a stopped server is forgotten")
	_, err = lease(t, client, podspec.IntentName(names, spec.Request))
	assert.True(t, apierrors.IsNotFound(err), "nothing may resume a stopped spawn: %v", err)
	assert.Zero(t, collected(t, m.SpawnFailures), "a cancelled spawn is no failure")
	assert.Equal(t, 1.0, collected(t, m.SpawnDuration, "outcome", "cancelled"))
	assert.Equal(t, 1.0, collected(t, m.StopDuration))
}

// A stop that arrives while the spawn is still creating the pod waits for
// the create to come back and deletes what it made.
func TestStopCancelsASpawnCreatingItsPod(t *testing.T) {
	t.Parallel()
	client := newClient()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return false, nil, nil
	})
	mgr, _, _ := runManager(t, client, testConfig())
	key := Key{User: "bob"}
	_, err := mgr.Spawn(context.Background(), key, intentSpec("bbbbbbbbbbbb"))
	require.NoError(t, err)
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Stop(context.Background(), key) }()
	waitForStatus(t, mgr, key, StatusStopping)
	close(release)

	require.NoError(t, <-stopped)
	assert.Empty(t, pods(t, client), "the pod created under the stop is deleted")
	_, known := mgr.Get(key)
	assert.False(t, known)
}

// A stop returns once the pod is gone, not when it was asked to go; a
// second stop meanwhile joins the first.
func TestStopWaitsUntilThePodIsGone(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("carol", "lab")
	client := newClient(sessionPod(names, ready("10.0.0.4")))
	remove := gracefulDelete(t, client)
	mgr, m, _ := runManager(t, client, testConfig())
	key := Key{User: "carol", Server: "lab"}

	var removed atomic.Bool
	stopped := make(chan bool, 1)
	go func() {
		assert.NoError(t, mgr.Stop(context.Background(), key))
		stopped <- removed.Load()
	}()
	require.Eventually(t, func() bool {
		p, err := client.CoreV1().Pods(testNS).Get(context.Background(), names.Pod, metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp != nil
	}, waitTimeout, tick, "the pod is deleted gracefully")
	s := waitForStatus(t, mgr, key, StatusStopping)
	assert.Equal(t, "Stopping your desktop.", s.Message)

	// A caller that gives up waiting does not start a second deletion.
	gaveUp, cancel := context.WithCancel(context.Background())
	cancel()
	err := mgr.Stop(gaveUp, key)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "wait for the server to stop")

	removed.Store(true)
	remove(names.Pod)
	assert.True(t, <-stopped, "Stop returned only after the pod was gone")
	assert.Equal(t, 1, count(client, "delete", "pods"), "one deletion for both stops")
	waitGone(t, mgr, key)
	assert.Equal(t, 1.0, collected(t, m.StopDuration))
}

func TestStopOfAnUnknownServerSucceeds(t *testing.T) {
	t.Parallel()
	mgr, client, _ := startManager(t)
	require.NoError(t, mgr.Stop(context.Background(), Key{User: "nobody"}))
	assert.Zero(t, count(client, "delete", "pods"))
}

// A pod that went between the read and the delete, or was replaced by
// another user's pod of the name, counts as gone; the other pod stays.
func TestStopOfAPodThatChangedUnderIt(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("dave", "")
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	for _, tc := range []struct {
		name    string
		replace bool
		err     error
	}{
		{"vanished", false, apierrors.NewNotFound(podsResource, names.Pod)},
		{"replaced by another user's", true, apierrors.NewConflict(podsResource, names.Pod, errors.New("precondition failed: UID in precondition does not match"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newClient(sessionPod(names, ready("10.0.0.5")))
			client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				require.NoError(t, client.Tracker().Delete(podsGVR, testNS, names.Pod))
				if tc.replace {
					other := sessionPod(podspec.NewNames("Dave", ""), nil)
					other.Name = names.Pod
					require.NoError(t, client.Tracker().Create(podsGVR, other, testNS))
				}
				return true, nil, tc.err
			})
			mgr, _, _ := runManager(t, client, testConfig())
			key := Key{User: "dave"}
			require.NoError(t, mgr.Stop(context.Background(), key))
			_, known := mgr.Get(key)
			assert.False(t, known)
			if tc.replace {
				require.Len(t, pods(t, client), 1, "the other user's pod stays")
				assert.Equal(t, "Dave", pods(t, client)[0].Annotations[podspec.AnnotationUsername])
			}
		})
	}
}

// A stop the API server refuses fails with a sentence and loses nothing:
// the pod and the intent stay, and the next stop, once the API server is
// back, completes.
func TestStopFailsClearlyWhileTheAPIServerRefuses(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("erin", "")
	spec := intentSpec("eeeeeeeeeeee")
	pod := sessionPod(names, ready("10.0.0.6"))
	l, record := storedIntent(names, spec.Request, spec)
	podspec.OwnIntent(l, pod)
	client := newClient(pod, l, record)
	outage := failFirst(client, "delete", "pods", -1, apierrors.NewInternalError(errors.New("etcdserver: request timed out")))
	mgr, _, _ := runManager(t, client, testConfig())
	key := Key{User: "erin"}

	err := mgr.Stop(context.Background(), key)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete pod "+testNS+"/"+names.Pod)
	assert.EqualValues(t, apiBackoff.Steps, outage.calls.Load(), "retried, then given up")
	s, ok := mgr.Get(key)
	require.True(t, ok)
	assert.Equal(t, StatusFailed, s.Status)
	assert.Equal(t, ReasonKubernetes, s.Reason)
	assert.Contains(t, s.Message, "The desktop could not be stopped: ")
	last := lastEvent(t, mgr, key)
	assert.Equal(t, progress.KindFailed, last.Kind)
	assert.Equal(t, s.Message, last.Message)
	assert.Len(t, pods(t, client), 1)
	_, err = lease(t, client, l.Name)
	require.NoError(t, err, "the intent stays with its pod")

	outage.heal()
	require.NoError(t, mgr.Stop(context.Background(), key))
	assert.Empty(t, pods(t, client))
	_, err = lease(t, client, l.Name)
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
}

// A pod that never goes fails the stop at StopTimeout.
func TestStopGivesUpOnAPodThatStays(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("frank", "")
	client := newClient(sessionPod(names, ready("10.0.0.7")))
	gracefulDelete(t, client)
	cfg := testConfig()
	cfg.StopTimeout = 100 * time.Millisecond
	mgr, _, _ := runManager(t, client, cfg)
	key := Key{User: "frank"}

	err := mgr.Stop(context.Background(), key)
	require.Error(t, err)
	assert.Equal(t, "pod "+names.Pod+" still exists after 100ms", err.Error())
	s, ok := mgr.Get(key)
	require.True(t, ok)
	assert.Equal(t, StatusFailed, s.Status)
	assert.Equal(t, "The desktop could not be stopped: pod "+names.Pod+" still exists after 100ms", s.Message)
}
