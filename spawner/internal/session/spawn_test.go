package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

var (
	podsResource   = schema.GroupResource{Resource: "pods"}
	leasesResource = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
)

func messages(events []progress.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Message
	}
	return out
}

// assertInOrder checks that want appear in got in this order, with anything
// in between.
func assertInOrder(t *testing.T, got []string, want ...string) {
	t.Helper()
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	assert.Equal(t, len(want), i, "%q in order in %q", want, got)
}

func TestSpawnToReadyTellsEachStep(t *testing.T) {
	t.Parallel()
	mgr, client, m := startManager(t)
	key := Key{User: "alice", Server: "lab"}
	names := podspec.NewNames("alice", "lab")
	spec := testSpec()
	spec.Profile = "desktop"

	got, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err)
	assert.Equal(t, StatusPending, got.Status)
	assert.Equal(t, names.Pod, got.Pod)
	assert.Equal(t, "desktop", got.Profile)
	assert.NotNil(t, got.StartedAt)
	assert.Nil(t, got.ReadyAt)

	pod := waitForPod(t, client, names.Pod)
	require.NotEmpty(t, pod.UID)
	_, err = client.CoreV1().PersistentVolumeClaims(testNS).Get(context.Background(), names.PVC, metav1.GetOptions{})
	require.NoError(t, err, "the home PVC is created")
	var secret *corev1.Secret
	require.Eventually(t, func() bool {
		secret, err = client.CoreV1().Secrets(testNS).Get(context.Background(), names.Secret, metav1.GetOptions{})
		return err == nil
	}, waitTimeout, tick, "the hub env Secret is created")
	require.Len(t, secret.OwnerReferences, 1)
	assert.Equal(t, pod.UID, secret.OwnerReferences[0].UID, "the Secret goes with its pod")
	assert.Equal(t, "/user/x/", string(secret.Data["JUPYTERHUB_SERVICE_PREFIX"]))

	editPod(t, client, names.Pod, ready("10.1.2.3"))
	running := waitForStatus(t, mgr, key, StatusRunning)
	assert.Equal(t, "http://10.1.2.3:8888", running.URL)
	assert.Equal(t, "Your desktop is ready.", running.Message)
	assert.NotNil(t, running.ReadyAt)

	events := followAll(t, mgr, key)
	assertInOrder(t, messages(events), "Preparing your desktop.", "Your home directory is ready.",
		"Kubernetes accepted the desktop pod; waiting for a node.", "Your desktop is ready.")
	last := events[len(events)-1]
	assert.Equal(t, progress.KindReady, last.Kind)
	assert.Equal(t, 100, last.Progress)
	assert.Equal(t, "http://10.1.2.3:8888", last.URL)
	for i := 1; i < len(events); i++ {
		assert.GreaterOrEqual(t, events[i].Progress, events[i-1].Progress, "the bar never goes back: %v", events)
	}

	assert.Equal(t, 1.0, collected(t, m.SpawnDuration, "profile", "desktop", "outcome", "ready"))
	assert.Zero(t, collected(t, m.SpawnFailures))
	assert.Equal(t, 1, count(client, "create", "pods"), "one pod")
}

func TestSpawnRefusals(t *testing.T) {
	t.Parallel()
	t.Run("before the sessions are rebuilt", func(t *testing.T) {
		t.Parallel()
		client := newClient()
		mgr := New(client, testConfig(), newMetrics(), discardLog())
		_, err := mgr.Spawn(context.Background(), Key{User: "alice"}, testSpec())
		_ = requireRefusal(t, err, CodeNotReady)
		_ = requireRefusal(t, mgr.Stop(context.Background(), Key{User: "alice"}), CodeNotReady)
		assert.False(t, mgr.Ready())
		assert.Empty(t, client.Actions(), "nothing asked of the API server")
	})

	t.Run("while starting", func(t *testing.T) {
		t.Parallel()
		mgr, client, _ := startManager(t)
		key := Key{User: "alice"}
		_, err := mgr.Spawn(context.Background(), key, intentSpec("aaaaaaaaaaaa"))
		require.NoError(t, err)
		_, err = mgr.Spawn(context.Background(), key, intentSpec("bbbbbbbbbbbb"))
		e := requireRefusal(t, err, CodeBusy)
		assert.Equal(t, "The server is starting; try again when that is done.", e.Message)
		waitForPod(t, client, podspec.NewNames("alice", "").Pod)
		assert.Equal(t, 1, count(client, "create", "leases"), "the refused request recorded nothing")
	})

	t.Run("while stopping", func(t *testing.T) {
		t.Parallel()
		names := podspec.NewNames("alice", "")
		client := newClient(sessionPod(names, ready("10.0.0.1")))
		remove := gracefulDelete(t, client)
		mgr, _, _ := runManager(t, client, testConfig())
		key := Key{User: "alice"}
		stopped := make(chan error, 1)
		go func() { stopped <- mgr.Stop(context.Background(), key) }()
		waitForStatus(t, mgr, key, StatusStopping)
		require.Eventually(t, func() bool { return count(client, "delete", "pods") == 1 }, waitTimeout, tick)

		_, err := mgr.Spawn(context.Background(), key, testSpec())
		e := requireRefusal(t, err, CodeBusy)
		assert.Equal(t, "The server is stopping; try again when that is done.", e.Message)

		remove(names.Pod)
		require.NoError(t, <-stopped)
	})

	t.Run("while running", func(t *testing.T) {
		t.Parallel()
		names := podspec.NewNames("alice", "")
		mgr, client, _ := startManager(t, sessionPod(names, ready("10.0.0.1")))
		_, err := mgr.Spawn(context.Background(), Key{User: "alice"}, testSpec())
		e := requireRefusal(t, err, CodeExists)
		assert.Equal(t, "The server is already running; stop it first.", e.Message)
		assert.Zero(t, count(client, "create", "leases"))
	})
}

// The hub sends a start again when it lost the answer; the same digest is
// the same spawn whatever it has come to.
func TestRepeatedSpawnRequestIsAnsweredAsTheFirst(t *testing.T) {
	t.Parallel()
	mgr, client, _ := startManager(t)
	key := Key{User: "bob"}
	names := podspec.NewNames("bob", "")
	spec := intentSpec("bbbbbbbbbbbb")
	_, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	editPod(t, client, names.Pod, ready("10.0.0.2"))
	waitForStatus(t, mgr, key, StatusRunning)

	again, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err, "a retry of a spawn that is done is no conflict")
	assert.Equal(t, StatusRunning, again.Status)
	assert.Equal(t, "http://10.0.0.2:8888", again.URL)
	assert.Equal(t, 1, count(client, "create", "leases"))
	assert.Equal(t, 1, count(client, "create", "pods"))
}

// A spawn whose intent is already in the cluster under its name (the same
// request, recorded by a run that did not answer) keeps that intent.
func TestSpawnKeepsItsOwnIntentFoundInTheCluster(t *testing.T) {
	t.Parallel()
	mgr, client, _ := startManager(t)
	names := podspec.NewNames("carol", "")
	spec := intentSpec("cccccccccccc")
	l, secret := storedIntent(names, spec.Request, spec)
	secret.Data[podspec.IntentKey] = []byte("{}")
	_, err := client.CoordinationV1().Leases(testNS).Create(context.Background(), l, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.CoreV1().Secrets(testNS).Create(context.Background(), secret, metav1.CreateOptions{})
	require.NoError(t, err)

	_, err = mgr.Spawn(context.Background(), Key{User: "carol"}, spec)
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	got, err := client.CoreV1().Secrets(testNS).Get(context.Background(), l.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, string(got.Data[podspec.IntentKey]), "token-cccccccccccc", "the record is this request's")
	leases, err := client.CoordinationV1().Leases(testNS).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, leases.Items, 1, "no second intent")
}

// A failed or stopped session is only a record: a new spawn replaces it.
func TestSpawnAfterAFailureStartsAfresh(t *testing.T) {
	t.Parallel()
	mgr, client, _ := startManager(t)
	key := Key{User: "dave"}
	names := podspec.NewNames("dave", "")
	_, err := mgr.Spawn(context.Background(), key, intentSpec("dddddddddddd"))
	require.NoError(t, err)
	first := waitForPod(t, client, names.Pod)
	editPod(t, client, names.Pod, waiting("ErrImagePull", "not found"))
	assert.Equal(t, ReasonImagePull, lastEvent(t, mgr, key).Reason)
	require.Eventually(t, func() bool { return len(pods(t, client)) == 0 }, waitTimeout, tick, "the failed pod is deleted")

	// The hub asks again until the service has seen the old pod go.
	require.Eventually(t, func() bool {
		_, err = mgr.Spawn(context.Background(), key, intentSpec("eeeeeeeeeeee"))
		var e *Error
		require.True(t, err == nil || errors.As(err, &e) && e.Code == CodeBusy, "%v", err)
		return err == nil
	}, waitTimeout, tick)
	second := waitForPod(t, client, names.Pod)
	assert.NotEqual(t, first.UID, second.UID)
	s, ok := mgr.Get(key)
	require.True(t, ok)
	assert.Equal(t, StatusPending, s.Status)
	assert.Empty(t, s.Reason, "the old failure is gone with its record")
}

// Each way a spawn fails ends it with its reason, in words, counted by
// reason, and leaves no pod running.
func TestSpawnFailsWithItsReason(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    func(*Config)
		client func(*fake.Clientset)
		spec   func(*Spec)
		// kubelet changes the created pod.
		kubelet    func(t *testing.T, mgr *Manager, client *fake.Clientset, pod string)
		reason     string
		message    string
		podDeleted bool
	}{
		{
			name:       "the image cannot be pulled",
			kubelet:    edit(waiting("ErrImagePull", "rpc error: manifest unknown")),
			reason:     ReasonImagePull,
			message:    "The image quay.io/example/desktop:1 could not be downloaded: rpc error: manifest unknown",
			podDeleted: true,
		},
		{
			name:       "the container crashes",
			kubelet:    edit(waiting("CrashLoopBackOff", "back-off")),
			reason:     ReasonCrashLoop,
			message:    "The notebook container keeps crashing (restarted 4 times).",
			podDeleted: true,
		},
		{
			name:       "the session exits before it is ready",
			kubelet:    edit(exited(3)),
			reason:     ReasonExited,
			message:    "The desktop session ended (exit code 3) before it was ready.",
			podDeleted: true,
		},
		{
			name: "no node has room",
			cfg:  func(c *Config) { c.UnschedulableGrace = time.Millisecond },
			kubelet: edit(func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient memory."}}
			}),
			reason:     ReasonUnschedulable,
			message:    "No node in the cluster can run this session: No node has room for this session yet: 0/3 nodes are available: 3 Insufficient memory.",
			podDeleted: true,
		},
		{
			name: "the pod is deleted before it is ready",
			kubelet: func(t *testing.T, mgr *Manager, client *fake.Clientset, pod string) {
				require.Eventually(t, func() bool { _, ok := mgr.cachedPod(pod); return ok }, waitTimeout, tick)
				require.NoError(t, client.CoreV1().Pods(testNS).Delete(context.Background(), pod, metav1.DeleteOptions{}))
			},
			reason:  ReasonPodDeleted,
			message: "The desktop pod was deleted before it was ready.",
		},
		{
			name: "the pod is deleted before the service saw it",
			client: func(c *fake.Clientset) {
				podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
				c.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
					p := action.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
					p.UID = "deleted-at-once"
					if err := c.Tracker().Create(podsGVR, p, testNS); err != nil {
						return true, nil, err
					}
					return true, p, c.Tracker().Delete(podsGVR, testNS, p.Name)
				})
			},
			reason:  ReasonPodDeleted,
			message: "The desktop pod was deleted before it was ready.",
		},
		{
			name: "the hub's deadline passes",
			spec: func(s *Spec) { s.Deadline = 500 * time.Millisecond },
			cfg:  func(c *Config) { c.SpawnTimeout = time.Hour },
			// The pod is created and the kubelet never gets to it.
			reason:     ReasonTimeout,
			message:    "The desktop was not ready within 1s.",
			podDeleted: true,
		},
		{
			name: "Kubernetes rejects the pod",
			client: func(c *fake.Clientset) {
				failFirst(c, "create", "pods", -1, apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "jupyter-x", nil))
			},
			reason:  ReasonConfig,
			message: "Kubernetes rejected the session's pod: Pod \"jupyter-x\" is invalid",
		},
		{
			name: "the home directory may not be created",
			client: func(c *fake.Clientset) {
				failFirst(c, "create", "persistentvolumeclaims", -1,
					apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, "claim-x", errors.New("exceeded quota")))
			},
			reason:  ReasonConfig,
			message: "The home directory could not be created: persistentvolumeclaims \"claim-x\" is forbidden: exceeded quota",
		},
		{
			name: "no session token can be minted",
			cfg: func(c *Config) {
				c.Tokens = mintFunc(func(string, string, string) (string, error) { return "", errors.New("no signing key") })
			},
			reason:     ReasonKubernetes,
			message:    "Kubernetes refused to start the session: mint session token: no signing key",
			podDeleted: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newClient()
			if tc.client != nil {
				tc.client(client)
			}
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			mgr, m, _ := runManager(t, client, cfg)
			key := Key{User: "erin"}
			names := podspec.NewNames("erin", "")
			spec := intentSpec("ffffffffffff")
			if tc.spec != nil {
				tc.spec(&spec)
			}
			_, err := mgr.Spawn(context.Background(), key, spec)
			require.NoError(t, err)
			if tc.kubelet != nil {
				waitForPod(t, client, names.Pod)
				tc.kubelet(t, mgr, client, names.Pod)
			}

			last := lastEvent(t, mgr, key)
			assert.Equal(t, progress.KindFailed, last.Kind)
			assert.Equal(t, tc.reason, last.Reason)
			assert.True(t, strings.HasPrefix(last.Message, tc.message), "message %q starts with %q", last.Message, tc.message)
			s, ok := mgr.Get(key)
			require.True(t, ok, "the failure is kept for the hub's poll")
			assert.Equal(t, StatusFailed, s.Status)
			assert.Equal(t, tc.reason, s.Reason)
			assert.Equal(t, last.Message, s.Message)

			assert.Equal(t, 1.0, collected(t, m.SpawnFailures, "reason", tc.reason), "counted by its reason")
			assert.Equal(t, 1.0, collected(t, m.SpawnFailures), "and only there")
			assert.Equal(t, 1.0, collected(t, m.SpawnDuration, "outcome", "failed"))
			assert.Empty(t, pods(t, client), "no pod is left running")
			if tc.podDeleted {
				assert.Equal(t, 1, count(client, "delete", "pods"))
			}
			_, err = lease(t, client, podspec.IntentName(names, spec.Request))
			assert.True(t, apierrors.IsNotFound(err), "a failed spawn is over: nothing may resume it (%v)", err)
		})
	}
}

func edit(fn func(*corev1.Pod)) func(t *testing.T, mgr *Manager, client *fake.Clientset, pod string) {
	return func(t *testing.T, _ *Manager, client *fake.Clientset, pod string) { editPod(t, client, pod, fn) }
}

// The API server restarts and sheds load; each request is retried through
// it, and the spawn carries on as if nothing happened.
func TestSpawnRidesOutAPIServerHiccups(t *testing.T) {
	t.Parallel()
	client := newClient()
	failFirst(client, "create", "leases", 1, apierrors.NewServiceUnavailable("the API server is restarting"))
	failFirst(client, "create", "secrets", 2, errors.New("dial tcp 10.96.0.1:443: connect: connection refused"))
	failFirst(client, "create", "persistentvolumeclaims", 1, apierrors.NewTooManyRequests("slow down", 1))
	failFirst(client, "create", "pods", 2, apierrors.NewInternalError(errors.New("etcdserver: leader changed")))
	failFirst(client, "update", "leases", 2, apierrors.NewConflict(leasesResource, "x", errors.New("the object has been modified")))
	failFirst(client, "get", "leases", 1, apierrors.NewServerTimeout(leasesResource, "get", 1))
	mgr, m, _ := runManager(t, client, testConfig())
	key := Key{User: "frank"}
	names := podspec.NewNames("frank", "")
	spec := intentSpec("111111111111")

	_, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	require.Eventually(t, func() bool {
		l, err := lease(t, client, podspec.IntentName(names, spec.Request))
		return err == nil && len(l.OwnerReferences) == 1
	}, waitTimeout, tick, "the pod adopts the intent through a conflict and a timeout")
	editPod(t, client, names.Pod, ready("10.0.0.3"))
	waitForStatus(t, mgr, key, StatusRunning)

	assert.Len(t, pods(t, client), 1)
	assert.Equal(t, 3, count(client, "create", "pods"), "two refusals and the pod")
	assert.Zero(t, collected(t, m.SpawnFailures))
}

// An API server that stays down refuses the spawn with a sentence, after
// the retries, and leaves nothing behind; asked again once it is back, the
// spawn goes through.
func TestSpawnRefusedWhileTheAPIServerIsDown(t *testing.T) {
	t.Parallel()
	down := apierrors.NewServiceUnavailable("etcd cluster is unavailable")
	for _, resource := range []string{"leases", "secrets"} {
		t.Run(resource, func(t *testing.T) {
			t.Parallel()
			client := newClient()
			outage := failFirst(client, "create", resource, -1, down)
			mgr, m, _ := runManager(t, client, testConfig())
			key := Key{User: "grace"}
			names := podspec.NewNames("grace", "")
			spec := intentSpec("222222222222")

			_, err := mgr.Spawn(context.Background(), key, spec)
			e := requireRefusal(t, err, CodeUnavailable)
			assert.Contains(t, e.Message, "could not record the spawn in the cluster")
			assert.Contains(t, e.Message, "etcd cluster is unavailable")
			assert.Contains(t, e.Message, "try again in a moment")
			assert.EqualValues(t, apiBackoff.Steps, outage.calls.Load(), "retried, then given up")
			_, known := mgr.Get(key)
			assert.False(t, known, "a refused spawn leaves no record")
			_, err = lease(t, client, podspec.IntentName(names, spec.Request))
			assert.True(t, apierrors.IsNotFound(err), "no half-written intent: %v", err)
			assert.Empty(t, pods(t, client))
			assert.Zero(t, collected(t, m.SpawnFailures), "never acknowledged, so no failed spawn")

			outage.heal()
			_, err = mgr.Spawn(context.Background(), key, spec)
			require.NoError(t, err)
			waitForPod(t, client, names.Pod)
		})
	}
}

// The hub's request can end before the intent is written (the API server
// is slow); it hears that, and the spawn it asked for goes on.
func TestSpawnAnswersWhileItsIntentIsStillBeingWritten(t *testing.T) {
	t.Parallel()
	client := newClient()
	entered, release := make(chan struct{}), make(chan struct{})
	client.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		close(entered)
		<-release
		return false, nil, nil
	})
	mgr, _, _ := runManager(t, client, testConfig())
	key := Key{User: "heidi"}
	spec := intentSpec("333333333333")

	ctx, cancel := context.WithCancel(context.Background())
	answered := make(chan error, 1)
	go func() { _, err := mgr.Spawn(ctx, key, spec); answered <- err }()
	<-entered
	cancel()
	e := requireRefusal(t, <-answered, CodeUnavailable)
	assert.Equal(t, "The spawn is still being recorded in the cluster; ask again in a moment.", e.Message)
	close(release)

	again, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err, "the hub's retry is the same spawn")
	assert.Equal(t, StatusPending, again.Status)
	waitForPod(t, client, podspec.NewNames("heidi", "").Pod)
}

// A pod of the session's name that appears between the cache and the
// create is either a race with a leftover of the session's own (a
// sentence) or another user's (a conflict); neither is deleted.
func TestSpawnFindsAPodThatAppearedUnderItsName(t *testing.T) {
	t.Parallel()
	attacker := podspec.NewNames("Mallory", "")
	victim := podspec.NewNames("Alice", "")
	for _, tc := range []struct {
		name    string
		pod     func() *corev1.Pod
		reason  string
		message string
	}{
		{"another user's", func() *corev1.Pod {
			p := sessionPod(victim, nil)
			p.Name = attacker.Pod
			return p
		}, ReasonNameConflict, "This server cannot start: its pod would be " + attacker.Pod + ", and that name is already used by another user's session"},
		{"none that can be read", nil, ReasonKubernetes, "A pod named " + attacker.Pod + " already exists; stop the server and start it again."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newClient()
			podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
			client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				if tc.pod != nil {
					require.NoError(t, client.Tracker().Create(podsGVR, tc.pod(), testNS))
				}
				return true, nil, apierrors.NewAlreadyExists(podsResource, attacker.Pod)
			})
			mgr, _, _ := runManager(t, client, testConfig())
			key := Key{User: attacker.User}
			_, err := mgr.Spawn(context.Background(), key, testSpec())
			require.NoError(t, err)
			last := lastEvent(t, mgr, key)
			assert.Equal(t, tc.reason, last.Reason)
			assert.True(t, strings.HasPrefix(last.Message, tc.message), "message %q", last.Message)
			assert.Equal(t, 1, count(client, "create", "pods"), "refused at once, not retried")
			assert.Zero(t, count(client, "delete", "pods"), "nothing deleted")
		})
	}
}

// The intent's names are a session's names too: another user's Lease or
// record under them is refused, untouched, and so is a record of the name
// that the API server does not let the service read.
func TestSpawnRefusesAnotherUsersIntent(t *testing.T) {
	t.Parallel()
	attacker := podspec.NewNames("Mallory", "")
	victim := podspec.NewNames("Alice", "")
	spec := intentSpec("444444444444")
	name := podspec.IntentName(attacker, spec.Request)
	victimLease, victimRecord := storedIntent(victim, spec.Request, intentSpec("444444444444"))
	victimLease.Name, victimRecord.Name = name, name

	for _, tc := range []struct {
		name   string
		lease  bool // the victim's object is the Lease, else the record
		client func(*fake.Clientset)
		// code and words are the refusal.
		code, words string
	}{
		{name: "a Lease", lease: true, code: CodeNameConflict, words: "its spawn record would be " + name},
		{name: "a record", code: CodeNameConflict, words: "its Secret would be " + name},
		{name: "a record that cannot be read", code: CodeUnavailable, words: "could not record the spawn", client: func(c *fake.Clientset) {
			failFirst(c, "get", "secrets", -1, apierrors.NewServiceUnavailable("etcd cluster is unavailable"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newClient()
			if tc.client != nil {
				tc.client(client)
			}
			// Made after the start, which would resume the victim's
			// intent, or drop it for the record it lacks.
			mgr, m, _ := runManager(t, client, testConfig())
			gvr, obj := corev1.SchemeGroupVersion.WithResource("secrets"), runtime.Object(victimRecord.DeepCopy())
			if tc.lease {
				gvr, obj = leasesResource.WithVersion("v1"), victimLease.DeepCopy()
			}
			require.NoError(t, client.Tracker().Create(gvr, obj, testNS))

			_, err := mgr.Spawn(context.Background(), Key{User: attacker.User}, spec)
			if tc.code == CodeNameConflict {
				requireConflict(t, err, tc.words)
				kind := "secret"
				if tc.lease {
					kind = "intent"
				}
				assert.Equal(t, 1.0, collected(t, m.NameConflicts, "kind", kind))
			} else {
				assert.Contains(t, requireRefusal(t, err, tc.code).Message, tc.words)
			}
			assert.Empty(t, pods(t, client))
			if tc.lease {
				got, err := lease(t, client, name)
				require.NoError(t, err)
				assert.Equal(t, victim.User, got.Annotations[podspec.AnnotationUsername], "the victim's Lease is untouched")
				return
			}
			got, err := client.Tracker().Get(gvr, testNS, name)
			require.NoError(t, err, "the victim's record is not deleted")
			assert.Equal(t, victimRecord.Data, got.(*corev1.Secret).Data, "nor changed")
			_, err = lease(t, client, name)
			assert.True(t, apierrors.IsNotFound(err), "the refused spawn's own Lease is removed: %v", err)
		})
	}
}

// A pod of the session's own that a failed spawn could not delete holds the
// name: the next spawn waits for it, and says so.
func TestSpawnWaitsForItsOwnPreviousPod(t *testing.T) {
	t.Parallel()
	client := newClient()
	failFirst(client, "delete", "pods", -1, apierrors.NewInternalError(errors.New("etcd timeout")))
	mgr, _, _ := runManager(t, client, testConfig())
	key := Key{User: "ivan"}
	names := podspec.NewNames("ivan", "")
	_, err := mgr.Spawn(context.Background(), key, intentSpec("555555555555"))
	require.NoError(t, err)
	waitForPod(t, client, names.Pod)
	editPod(t, client, names.Pod, exited(1))
	assert.Equal(t, ReasonExited, lastEvent(t, mgr, key).Reason)
	require.Len(t, pods(t, client), 1, "the delete failed")

	_, err = mgr.Spawn(context.Background(), key, intentSpec("666666666666"))
	e := requireRefusal(t, err, CodeBusy)
	assert.Equal(t, "The previous session's pod "+names.Pod+" is still shutting down; try again in a few seconds.", e.Message)
}

// A pod under the session's name that records no owner is nobody's to use.
func TestSpawnRefusesAnUnannotatedPod(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("judy", "")
	stray := sessionPod(names, ready("10.0.0.9"))
	stray.Annotations = nil
	mgr, client, m := startManager(t, stray)
	_, known := mgr.Get(Key{User: "judy"})
	assert.False(t, known, "a pod without its user is no session")

	_, err := mgr.Spawn(context.Background(), Key{User: "judy"}, testSpec())
	requireConflict(t, err, "its pod would be "+names.Pod+", and one of that name already exists that does not record its owner")
	assert.Equal(t, 1.0, collected(t, m.NameConflicts, "kind", "pod"))
	assert.Len(t, pods(t, client), 1, "and it is left alone")
}

// A hub env Secret of the session's own that outlived its pod (the garbage
// collector is slow) holds an old token for that old pod: it is taken over
// and rewritten, never read.
func TestSpawnRewritesAStaleSecretOfItsOwn(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("karl", "")
	old := podspec.HubEnvSecret(testNS, names, sessionPod(names, nil),
		map[string]string{"JUPYTERHUB_API_TOKEN": "old", podspec.SessionTokenKey: "token-for-old-pod", "LEFTOVER": "x"},
		podspec.Labels(names, ""))
	client := newClient(old)
	minted := make(chan string, 1)
	cfg := testConfig()
	cfg.Tokens = mintFunc(func(user, server, uid string) (string, error) {
		minted <- uid
		return "token-for-" + user + "-" + uid, nil
	})
	mgr, _, _ := runManager(t, client, cfg)

	_, err := mgr.Spawn(context.Background(), Key{User: "karl"}, intentSpec("777777777777"))
	require.NoError(t, err)
	pod := waitForPod(t, client, names.Pod)
	assert.Equal(t, string(pod.UID), <-minted, "the token names the new pod")
	require.Eventually(t, func() bool { return count(client, "update", "secrets") == 1 }, waitTimeout, tick)
	got, err := client.CoreV1().Secrets(testNS).Get(context.Background(), names.Secret, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "token-for-karl-"+string(pod.UID), string(got.Data[podspec.SessionTokenKey]))
	assert.Equal(t, "token-777777777777", string(got.Data["JUPYTERHUB_API_TOKEN"]))
	assert.NotContains(t, got.Data, "LEFTOVER", "nothing of the old environment is kept")
	require.Len(t, got.OwnerReferences, 1)
	assert.Equal(t, pod.UID, got.OwnerReferences[0].UID, "it now goes with the new pod")
}

// A spawn without a hub environment (Spec.Env is optional to the Manager)
// still gets its session token.
func TestSpawnWithoutHubEnvGetsItsToken(t *testing.T) {
	t.Parallel()
	client := newClient()
	cfg := testConfig()
	cfg.Tokens = mintFunc(func(user, _, uid string) (string, error) { return user + "/" + uid, nil })
	mgr, _, _ := runManager(t, client, cfg)
	names := podspec.NewNames("lena", "")

	_, err := mgr.Spawn(context.Background(), Key{User: "lena"}, Spec{Settings: podspec.Defaults()})
	require.NoError(t, err)
	pod := waitForPod(t, client, names.Pod)
	require.Eventually(t, func() bool {
		s, err := client.CoreV1().Secrets(testNS).Get(context.Background(), names.Secret, metav1.GetOptions{})
		return err == nil && string(s.Data[podspec.SessionTokenKey]) == "lena/"+string(pod.UID)
	}, waitTimeout, tick)
}
