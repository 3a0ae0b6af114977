package session

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// A restarted service knows every session from its pod's annotations
// before it answers anyone, and carries on with each as it was.
func TestRestartRebuildsEverySessionFromItsPod(t *testing.T) {
	t.Parallel()
	running := podspec.NewNames("alice", "lab")
	finished := podspec.NewNames("bob", "")
	crashed := podspec.NewNames("carol", "")
	stopping := podspec.NewNames("dave", "")
	starting := podspec.NewNames("erin", "")
	lost := podspec.NewNames("frank", "")
	stray := podspec.NewNames("nobody", "")

	startingPod := sessionPod(starting, nil)
	terminating := sessionPod(stopping, func(p *corev1.Pod) {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	})
	strayPod := sessionPod(stray, nil)
	strayPod.Annotations = nil
	client := newClient(
		sessionPod(running, func(p *corev1.Pod) {
			ready("10.0.0.1")(p)
			p.Annotations[podspec.AnnotationProfile] = "desktop"
		}),
		sessionPod(finished, exited(0)),
		sessionPod(crashed, exited(3)),
		terminating,
		startingPod,
		podspec.HubEnvSecret(testNS, starting, startingPod, map[string]string{"JUPYTERHUB_API_TOKEN": "t"}, podspec.Labels(starting, "")),
		sessionPod(lost, nil),
		strayPod,
	)
	mgr, m, _ := runManager(t, client, testConfig())

	s, ok := mgr.Get(Key{User: "alice", Server: "lab"})
	require.True(t, ok)
	assert.Equal(t, StatusRunning, s.Status)
	assert.Equal(t, "http://10.0.0.1:8888", s.URL)
	assert.Equal(t, "desktop", s.Profile)
	require.NotNil(t, s.ReadyAt)
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), s.ReadyAt.UTC(), "ready since the pod's condition says")
	ev := lastEvent(t, mgr, Key{User: "alice", Server: "lab"})
	assert.Equal(t, progress.Event{Kind: progress.KindReady, Progress: 100, Message: "Your desktop is ready.", URL: "http://10.0.0.1:8888"}, ev,
		"a late reader of a rebuilt session hears where it stands")

	s, ok = mgr.Get(Key{User: "bob"})
	require.True(t, ok, "an ended session answers the hub's next poll")
	assert.Equal(t, StatusStopped, s.Status)
	assert.Equal(t, ReasonExited, s.Reason)
	require.NotNil(t, s.ExitCode)
	assert.Equal(t, 0, *s.ExitCode)

	s, ok = mgr.Get(Key{User: "carol"})
	require.True(t, ok)
	assert.Equal(t, StatusFailed, s.Status)
	require.NotNil(t, s.ExitCode)
	assert.Equal(t, 3, *s.ExitCode)
	ev = lastEvent(t, mgr, Key{User: "carol"})
	assert.Equal(t, progress.KindFailed, ev.Kind)
	assert.Equal(t, ReasonExited, ev.Reason)
	assert.Equal(t, "The desktop session ended (exit code 3).", ev.Message, "it may have run for hours")

	s, ok = mgr.Get(Key{User: "erin"})
	require.True(t, ok)
	assert.Equal(t, StatusPending, s.Status, "a spawn under way is resumed")
	waitForMessage(t, mgr, Key{User: "erin"}, "The spawner service restarted while your desktop was starting; still waiting for it.")
	editPod(t, client, starting.Pod, ready("10.0.0.5"))
	assert.Equal(t, "http://10.0.0.5:8888", waitForStatus(t, mgr, Key{User: "erin"}, StatusRunning).URL)

	// A spawn whose hub env Secret was never written cannot go on.
	ev = lastEvent(t, mgr, Key{User: "frank"})
	assert.Equal(t, ReasonLost, ev.Reason)
	assert.Equal(t, "The spawner service restarted before your session's settings were saved; please start it again.", ev.Message)
	assert.Equal(t, 2.0, collected(t, m.SpawnsResumed, "from", "pod"))

	// The stop that was under way is finished.
	waitGone(t, mgr, Key{User: "dave"})

	_, ok = mgr.Get(Key{User: "nobody"})
	assert.False(t, ok, "a pod without its user annotation is nobody's session")

	// Ended pods are deleted, the stray one is not touched.
	require.Eventually(t, func() bool {
		left := map[string]bool{}
		for _, p := range pods(t, client) {
			left[p.Name] = true
		}
		return assert.ObjectsAreEqual(map[string]bool{running.Pod: true, starting.Pod: true, stray.Pod: true}, left)
	}, waitTimeout, tick, "only the ended and the lost pods are deleted")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.ReconcileRounds))
}

// A service shut down during a spawn leaves it as it is; the next run
// resumes it, and the hub's retry of the request is the same spawn.
func TestRestartDuringSpawnLosesNothing(t *testing.T) {
	t.Parallel()
	client := newClient()
	key := Key{User: "grace"}
	names := podspec.NewNames("grace", "")
	spec := intentSpec("aaaaaaaaaaaa")
	first, _, stop := runManager(t, client, testConfig())
	_, err := first.Spawn(context.Background(), key, spec)
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	require.Eventually(t, func() bool {
		_, err := client.CoreV1().Secrets(testNS).Get(context.Background(), names.Secret, metav1.GetOptions{})
		return err == nil
	}, waitTimeout, tick)
	stop()

	assert.Len(t, pods(t, client), 1, "a shutdown deletes nothing")
	_, err = lease(t, client, podspec.IntentName(names, spec.Request))
	require.NoError(t, err, "the intent stays")

	second, m, _ := runManager(t, client, testConfig())
	s, ok := second.Get(key)
	require.True(t, ok)
	assert.Equal(t, StatusPending, s.Status)
	assert.Equal(t, 1.0, collected(t, m.SpawnsResumed, "from", "pod"))
	again, err := second.Spawn(context.Background(), key, spec)
	require.NoError(t, err, "the request is known from its intent")
	assert.Equal(t, names.Pod, again.Pod)

	editPod(t, client, names.Pod, ready("10.0.0.8"))
	waitForStatus(t, second, key, StatusRunning)
	assert.Equal(t, 1, count(client, "create", "pods"))
}

// Intents that are no spawn to resume are removed at start, and a record
// that cannot be read fails its spawn with a sentence.
func TestRestartSortsOutIntents(t *testing.T) {
	t.Parallel()
	// Two intents for one server: the newer is the spawn, the older a
	// leftover whose cleanup failed.
	twice := podspec.NewNames("heidi", "")
	older, olderRecord := storedIntent(twice, "111111111111", intentSpec("111111111111"))
	older.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	newer, newerRecord := storedIntent(twice, "222222222222", intentSpec("222222222222"))
	// An intent for a pod of another name than the server's pod has.
	moved := podspec.NewNames("ivan", "")
	movedPod := sessionPod(moved, ready("10.0.0.2"))
	elsewhere, elsewhereRecord := storedIntent(moved, "333333333333", intentSpec("333333333333"))
	elsewhere.Annotations[podspec.AnnotationPod] = "jupyter-ivan-old"
	// An intent adopted by an earlier pod of the name.
	earlier := podspec.NewNames("judy", "")
	earlierPod := sessionPod(earlier, ready("10.0.0.3"))
	adopted, adoptedRecord := storedIntent(earlier, "444444444444", intentSpec("444444444444"))
	adopted.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: earlier.Pod, UID: "an-earlier-pod"}}
	// An intent that records no user: nobody's to resume or delete.
	anonymous, _ := storedIntent(podspec.NewNames("karl", ""), "555555555555", intentSpec("555555555555"))
	delete(anonymous.Annotations, podspec.AnnotationUsername)
	// An intent whose record is not JSON.
	broken := podspec.NewNames("leo", "")
	brokenLease, brokenRecord := storedIntent(broken, "666666666666", intentSpec("666666666666"))
	brokenRecord.Data[podspec.IntentKey] = []byte("{not json")

	client := newClient(older, olderRecord, newer, newerRecord, movedPod, elsewhere, elsewhereRecord,
		earlierPod, adopted, adoptedRecord, anonymous, brokenLease, brokenRecord)
	mgr, m, _ := runManager(t, client, testConfig())

	leaseGone := func(name string) func() bool {
		return func() bool { _, err := lease(t, client, name); return apierrors.IsNotFound(err) }
	}
	require.Eventually(t, leaseGone(older.Name), waitTimeout, tick, "the older intent is removed")
	require.Eventually(t, leaseGone(elsewhere.Name), waitTimeout, tick, "the intent of another pod is removed")
	require.Eventually(t, leaseGone(adopted.Name), waitTimeout, tick, "the intent of an earlier pod is removed")
	_, err := lease(t, client, anonymous.Name)
	assert.NoError(t, err, "an intent without its user is left alone")

	waitForPod(t, client, twice.Pod)
	_, err = lease(t, client, newer.Name)
	assert.NoError(t, err, "the newer intent is the spawn")
	assert.Equal(t, StatusRunning, waitForStatus(t, mgr, Key{User: "ivan"}, StatusRunning).Status)
	assert.Equal(t, StatusRunning, waitForStatus(t, mgr, Key{User: "judy"}, StatusRunning).Status)

	ev := lastEvent(t, mgr, Key{User: "leo"})
	assert.Equal(t, ReasonKubernetes, ev.Reason)
	assert.Contains(t, ev.Message, "The spawn could not be resumed after the service restarted: decode intent "+brokenLease.Name)
	require.Eventually(t, leaseGone(brokenLease.Name), waitTimeout, tick, "a failed spawn's intent is removed")
	assert.Equal(t, 1.0, collected(t, m.SpawnFailures, "reason", ReasonKubernetes))
	_, known := mgr.Get(Key{User: "karl"})
	assert.False(t, known)
}

// Two servers whose pods share a name cannot both be resumed: the one with
// the pod is, the intent of the other waits for its owner's hand.
func TestRestartResumesNoIntentForAPodAnotherSessionHolds(t *testing.T) {
	t.Parallel()
	holder := podspec.NewNames("mallory", "")
	other := podspec.NewNames("Mallory", "")
	l, record := storedIntent(other, "777777777777", intentSpec("777777777777"))
	l.Annotations[podspec.AnnotationPod] = holder.Pod
	mgr, client, _ := startManager(t, sessionPod(holder, ready("10.0.0.4")), l, record)

	_, known := mgr.Get(Key{User: "Mallory"})
	assert.False(t, known)
	assert.Equal(t, StatusRunning, waitForStatus(t, mgr, Key{User: "mallory"}, StatusRunning).Status)
	assert.Len(t, pods(t, client), 1)
	_, err := lease(t, client, l.Name)
	assert.NoError(t, err, "not the service's to delete")
}

// The service is not ready before it has listed every intent: an API
// server that does not answer the list delays readiness, it does not skip
// the intents.
func TestReadinessWaitsForTheIntents(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("mike", "")
	spec := intentSpec("888888888888")
	l, record := storedIntent(names, spec.Request, spec)
	client := newClient(l, record)
	outage := failFirst(client, "list", "leases", 1, apierrors.NewServiceUnavailable("starting"))
	mgr, _, _ := runManager(t, client, testConfig())

	assert.EqualValues(t, 2, outage.calls.Load(), "listed again after the refusal")
	s, ok := mgr.Get(Key{User: "mike"})
	require.True(t, ok, "the acknowledged spawn is known once ready")
	assert.Equal(t, StatusPending, s.Status)
	waitForPod(t, client, names.Pod)
}

// A service whose API server never answers the list does not start.
func TestStartFailsWhenTheIntentsCannotBeListed(t *testing.T) {
	t.Parallel()
	client := newClient()
	outage := failFirst(client, "list", "leases", -1, errors.New("connection refused"))
	mgr := New(client, testConfig(), newMetrics(), discardLog())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	require.Eventually(t, func() bool { return outage.calls.Load() > 0 }, waitTimeout, tick)
	cancel()
	err := <-done
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list spawn intents")
	assert.False(t, mgr.Ready())
}

// A spawn resumed after a restart keeps the hub's deadline its intent
// recorded: the hub stops waiting then, and hears why from the service.
// Here the deadline passed while the service was down.
func TestResumedSpawnKeepsTheHubsDeadline(t *testing.T) {
	t.Parallel()
	for _, withPod := range []bool{false, true} {
		t.Run(map[bool]string{false: "from its intent", true: "from its pod"}[withPod], func(t *testing.T) {
			t.Parallel()
			names := podspec.NewNames("nina", "")
			spec := intentSpec("999999999999")
			spec.Deadline = 30 * time.Minute
			l, record := storedIntent(names, spec.Request, spec)
			l.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
			data, err := json.Marshal(intentRecord{Pod: names.Pod, Settings: spec.Settings, Env: spec.Env, Deadline: spec.Deadline})
			require.NoError(t, err)
			record.Data[podspec.IntentKey] = data
			objs := []runtime.Object{l, record}
			if withPod {
				pod := sessionPod(names, func(p *corev1.Pod) { p.CreationTimestamp = l.CreationTimestamp })
				podspec.OwnIntent(l, pod)
				objs = append(objs, pod, podspec.HubEnvSecret(testNS, names, pod, spec.Env, podspec.Labels(names, "")))
			}
			client := newClient(objs...)
			cfg := testConfig()
			cfg.SpawnTimeout = 2 * time.Hour
			mgr, m, _ := runManager(t, client, cfg)

			ev := lastEvent(t, mgr, Key{User: "nina"})
			assert.Equal(t, ReasonTimeout, ev.Reason)
			assert.Equal(t, "The desktop was not ready within 30m0s.", ev.Message)
			assert.Equal(t, 1.0, collected(t, m.SpawnFailures, "reason", ReasonTimeout))
			assert.Empty(t, pods(t, client), "nothing is left running for a hub that gave up")
			if !withPod {
				assert.Zero(t, count(client, "create", "pods"), "nor created")
			}
		})
	}
}
