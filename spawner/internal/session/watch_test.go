package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// A running session follows its pod without any operation: the hub's next
// poll hears that it ended, and how.
func TestRunningSessionFollowsItsPod(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("alice", "")
	key := Key{User: "alice"}
	cases := []struct {
		name   string
		change func(t *testing.T, client *fake.Clientset)
		want   Session
		// deleted: the service deletes the ended pod.
		deleted bool
	}{
		{
			name:    "the session exits",
			change:  func(t *testing.T, c *fake.Clientset) { editPod(t, c, names.Pod, exited(0)) },
			want:    Session{Status: StatusStopped, Reason: ReasonExited, ExitCode: new(0), Message: "The desktop session ended (exit code 0)."},
			deleted: true,
		},
		{
			name:    "the session fails",
			change:  func(t *testing.T, c *fake.Clientset) { editPod(t, c, names.Pod, exited(2)) },
			want:    Session{Status: StatusFailed, Reason: ReasonExited, ExitCode: new(2), Message: "The desktop session ended (exit code 2)."},
			deleted: true,
		},
		{
			name: "the pod is deleted behind the service's back",
			change: func(t *testing.T, c *fake.Clientset) {
				require.NoError(t, c.CoreV1().Pods(testNS).Delete(context.Background(), names.Pod, metav1.DeleteOptions{}))
			},
			want: Session{Status: StatusStopped, Reason: ReasonPodDeleted, Message: "The desktop pod was deleted outside kubedesk."},
		},
		{
			name:   "the pod is given a new address",
			change: func(t *testing.T, c *fake.Clientset) { editPod(t, c, names.Pod, ready("10.0.9.9")) },
			want:   Session{Status: StatusRunning, URL: "http://10.0.9.9:8888", Message: "Your desktop is ready."},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mgr, client, _ := startManager(t, sessionPod(names, ready("10.0.0.1")))
			waitForStatus(t, mgr, key, StatusRunning)
			tc.change(t, client)
			var got Session
			require.Eventually(t, func() bool {
				got, _ = mgr.Get(key)
				return got.Status == tc.want.Status && (tc.want.URL == "" || got.URL == tc.want.URL)
			}, waitTimeout, tick, "the session becomes %s", tc.want.Status)
			assert.Equal(t, tc.want.Reason, got.Reason)
			assert.Equal(t, tc.want.Message, got.Message)
			assert.Equal(t, tc.want.ExitCode, got.ExitCode)
			if tc.deleted {
				require.Eventually(t, func() bool { return len(pods(t, client)) == 0 }, waitTimeout, tick,
					"an ended pod holds its node's resources and its name until it is deleted")
			}
		})
	}
}

// A pod of another user under a running session's name is not the
// session's: its end ends nothing, and it is not deleted.
func TestRunningSessionIgnoresAnotherUsersPodOfItsName(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("alice", "")
	marker := podspec.NewNames("bob", "")
	mgr, client, _ := startManager(t, sessionPod(names, ready("10.0.0.1")), sessionPod(marker, ready("10.0.0.2")))
	waitForStatus(t, mgr, Key{User: "alice"}, StatusRunning)

	editPod(t, client, names.Pod, func(p *corev1.Pod) {
		p.Annotations[podspec.AnnotationUsername] = "Alice"
		exited(0)(p)
	})
	// The informer hands over changes in order: once bob's is seen,
	// alice's was.
	editPod(t, client, marker.Pod, ready("10.0.0.3"))
	require.Eventually(t, func() bool {
		s, _ := mgr.Get(Key{User: "bob"})
		return s.URL == "http://10.0.0.3:8888"
	}, waitTimeout, tick)

	s, _ := mgr.Get(Key{User: "alice"})
	assert.Equal(t, StatusRunning, s.Status)
	assert.Len(t, pods(t, client), 2)
	assert.Zero(t, count(client, "delete", "pods"))
}

func podEvent(name string, pod *corev1.Pod, reason, message string, n int32) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: testNS},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, UID: pod.UID},
		Reason:         reason, Message: message, Count: n, Type: corev1.EventTypeNormal,
	}
}

// Kubernetes' Events about the spawning pod are told in words, each once,
// and move the bar without reaching its end before the pod is ready.
func TestPodEventsBecomeProgress(t *testing.T) {
	t.Parallel()
	mgr, client, _ := startManager(t)
	key := Key{User: "carol"}
	names := podspec.NewNames("carol", "")
	_, err := mgr.Spawn(context.Background(), key, testSpec())
	require.NoError(t, err)
	pod := waitForPod(t, client, names.Pod)
	waitForMessage(t, mgr, key, "Kubernetes accepted the desktop pod; waiting for a node.")

	events := client.CoreV1().Events(testNS)
	create := func(e *corev1.Event) *corev1.Event {
		t.Helper()
		got, err := events.Create(context.Background(), e, metav1.CreateOptions{})
		require.NoError(t, err)
		return got
	}
	create(podEvent("scheduled", pod, "Scheduled", "Successfully assigned hub/jupyter-carol to node-1", 1))
	pulling := create(podEvent("pulling", pod, "Pulling", "Pulling image \"desktop:1\"", 1))
	waitForMessage(t, mgr, key, "Downloading the desktop image; the first time on a node this can take a few minutes.")
	// The same Event again (a resync, an update of its time) is not news;
	// nor is one of an earlier pod of the name, nor one a person need not
	// read.
	pulling.Message = "Pulling image \"desktop:1\" again"
	_, err = events.Update(context.Background(), pulling, metav1.UpdateOptions{})
	require.NoError(t, err)
	earlier := pod.DeepCopy()
	earlier.UID = types.UID("an-earlier-pod")
	create(podEvent("earlier", earlier, "FailedMount", "MountVolume.SetUp failed", 1))
	create(podEvent("created", pod, "Created", "Created container notebook", 1))
	long := strings.Repeat("x", 400)
	create(podEvent("started", pod, "Started", long+"\nsecond line", 1))
	waitForMessage(t, mgr, key, "The desktop is starting.")

	editPod(t, client, names.Pod, ready("10.0.0.4"))
	all := followAll(t, mgr, key)
	var fromEvents []progress.Event
	for _, e := range all {
		if e.Progress > 20 && e.Kind == progress.KindProgress {
			fromEvents = append(fromEvents, e)
		}
	}
	require.Equal(t, []string{
		"A node was found for your session.",
		"Downloading the desktop image; the first time on a node this can take a few minutes.",
		"The desktop is starting.",
	}, messages(fromEvents))
	for i, e := range fromEvents {
		assert.Less(t, e.Progress, 90, "never the end before ready")
		if i > 0 {
			assert.Greater(t, e.Progress, fromEvents[i-1].Progress, "each step moves the bar")
		}
	}
	assert.Equal(t, progress.KindReady, all[len(all)-1].Kind)

	// The informer keeps only what a message needs.
	cached := mgr.informers[2].GetStore().List()
	require.NotEmpty(t, cached)
	for _, obj := range cached {
		e := obj.(*corev1.Event)
		assert.Empty(t, e.ManagedFields)
		assert.LessOrEqual(t, len(e.Message), 300+len("…"), "a long message is trimmed")
		assert.NotContains(t, e.Message, "\n")
	}
}

// A scale-up the cluster autoscaler announced is worth waiting for: an
// unschedulable pod does not fail the spawn then.
func TestAnnouncedScaleUpIsWaitedFor(t *testing.T) {
	t.Parallel()
	client := newClient()
	cfg := testConfig()
	cfg.UnschedulableGrace = time.Millisecond
	mgr, m, _ := runManager(t, client, cfg)
	key := Key{User: "dave"}
	names := podspec.NewNames("dave", "")
	_, err := mgr.Spawn(context.Background(), key, testSpec())
	require.NoError(t, err)
	pod := waitForPod(t, client, names.Pod)
	waitForMessage(t, mgr, key, "Kubernetes accepted the desktop pod; waiting for a node.")

	_, err = client.CoreV1().Events(testNS).Create(context.Background(),
		podEvent("scale-up", pod, "TriggeredScaleUp", "pod triggered scale-up: [{pool-1 1->2 (max: 5)}]", 1), metav1.CreateOptions{})
	require.NoError(t, err)
	waitForMessage(t, mgr, key, "Adding a node to the cluster for your session; this can take a few minutes.")
	mgr.mu.Lock()
	scaleUp := mgr.sessions[key].op.scaleUp
	mgr.mu.Unlock()
	require.True(t, scaleUp)

	editPod(t, client, names.Pod, func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}
	})
	waitForMessage(t, mgr, key, "No node has room for this session yet: 0/1 nodes are available: 1 Insufficient cpu.")
	editPod(t, client, names.Pod, ready("10.0.0.5"))
	assert.Equal(t, progress.KindReady, lastEvent(t, mgr, key).Kind, "the spawn waited for the new node")
	assert.Zero(t, collected(t, m.SpawnFailures))
}

// What the pod waits for is said while it waits, and a slow spawn is told
// that it is slow.
func TestWaitsAreExplained(t *testing.T) {
	t.Parallel()
	client := newClient()
	cfg := testConfig()
	cfg.SlowSpawnNotice = time.Millisecond
	mgr, _, _ := runManager(t, client, cfg)
	key := Key{User: "erin"}
	names := podspec.NewNames("erin", "")
	_, err := mgr.Spawn(context.Background(), key, testSpec())
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	waitForMessage(t, mgr, key, "Still starting. Large images and new nodes can take a few minutes; thank you for waiting.")

	editPod(t, client, names.Pod, func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}}
	})
	waitForMessage(t, mgr, key, "Waiting for your home directory's volume to be ready.")
	s, _ := mgr.Get(key)
	assert.Equal(t, "Waiting for your home directory's volume to be ready.", s.Message, "the hub's poll reads it too")
}

func TestTrimEvent(t *testing.T) {
	t.Parallel()
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: testNS, UID: "u", ResourceVersion: "7",
			Labels: map[string]string{"big": "label"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", UID: "pu", Namespace: testNS, FieldPath: "spec.containers{notebook}"},
		Reason:         "Failed", Message: "first\nsecond", Type: corev1.EventTypeWarning, Count: 3,
		Source: corev1.EventSource{Component: "kubelet", Host: "node-1"},
	}
	got, err := trimEvent(e)
	require.NoError(t, err)
	assert.Equal(t, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e", Namespace: testNS, UID: "u", ResourceVersion: "7"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", UID: "pu"},
		Reason:         "Failed", Message: "first", Type: corev1.EventTypeWarning, Count: 3,
	}, got)

	other := &corev1.Pod{}
	got, err = trimEvent(other)
	require.NoError(t, err)
	assert.Same(t, other, got, "anything else passes as it is")
}
