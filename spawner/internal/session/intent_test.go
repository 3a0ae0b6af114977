package session

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

func lease(t *testing.T, client *fake.Clientset, name string) (*coordinationv1.Lease, error) {
	t.Helper()
	return client.CoordinationV1().Leases(testNS).Get(context.Background(), name, metav1.GetOptions{})
}

// storedIntent is an intent as a previous run of the service left it.
func storedIntent(names podspec.Names, request string, spec Spec) (*coordinationv1.Lease, *corev1.Secret) {
	name := podspec.IntentName(names, request)
	l := podspec.IntentLease(testNS, name, names, spec.Profile, request)
	l.UID = types.UID("lease-" + name)
	l.CreationTimestamp = metav1.Now()
	rec, _ := json.Marshal(intentRecord{Pod: names.Pod, Settings: spec.Settings, Env: spec.Env})
	return l, podspec.IntentSecret(l, names, rec)
}

func TestSpawnIsRecordedBeforeItIsAcknowledged(t *testing.T) {
	mgr, client, _ := startManager(t)
	key := Key{User: "alice"}
	names := podspec.NewNames("alice", "")
	spec := intentSpec("aaaaaaaaaaaa")

	_, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err)

	// When Spawn returns, the intent is in the API server, even if the
	// pod is not yet.
	name := podspec.IntentName(names, spec.Request)
	l, err := lease(t, client, name)
	require.NoError(t, err, "the intent's Lease")
	assert.Equal(t, "alice", l.Annotations[podspec.AnnotationUsername])
	assert.Equal(t, names.Pod, l.Annotations[podspec.AnnotationPod])
	secret, err := client.CoreV1().Secrets(testNS).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err, "the intent's Secret")
	require.Len(t, secret.OwnerReferences, 1)
	assert.Equal(t, "Lease", secret.OwnerReferences[0].Kind, "the record goes with its Lease")
	var rec intentRecord
	require.NoError(t, json.Unmarshal(secret.Data[podspec.IntentKey], &rec))
	assert.Equal(t, "token-aaaaaaaaaaaa", rec.Env["JUPYTERHUB_API_TOKEN"])
	assert.Equal(t, names.Pod, rec.Pod)

	// Once the pod exists, it owns the intent.
	require.Eventually(t, func() bool {
		l, err := lease(t, client, name)
		return err == nil && len(l.OwnerReferences) == 1 && l.OwnerReferences[0].Kind == "Pod"
	}, waitTimeout, 10*time.Millisecond)

	// A stop removes the intent.
	require.NoError(t, mgr.Stop(context.Background(), key))
	_, err = lease(t, client, name)
	assert.True(t, apierrors.IsNotFound(err), "Lease gone after stop: %v", err)
	_, err = client.CoreV1().Secrets(testNS).Get(context.Background(), name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "Secret gone after stop: %v", err)
}

func TestRepeatedSpawnRequestGetsTheSameSpawn(t *testing.T) {
	mgr, client, _ := startManager(t)
	key := Key{User: "bob"}

	first, err := mgr.Spawn(context.Background(), key, intentSpec("bbbbbbbbbbbb"))
	require.NoError(t, err)
	again, err := mgr.Spawn(context.Background(), key, intentSpec("bbbbbbbbbbbb"))
	require.NoError(t, err, "the same request again is answered as the first time")
	assert.Equal(t, first.Pod, again.Pod)

	_, err = mgr.Spawn(context.Background(), key, intentSpec("cccccccccccc"))
	var e *Error
	require.ErrorAs(t, err, &e, "another request for a busy server is refused")
	assert.Contains(t, []string{CodeBusy, CodeExists}, e.Code)

	require.Eventually(t, func() bool { return len(pods(t, client)) == 1 }, waitTimeout, 10*time.Millisecond)
	creates := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "leases" {
			creates++
		}
	}
	assert.Equal(t, 1, creates, "one intent: the repeated request started nothing")
}

// A service killed after it acknowledged a spawn and before it created the
// pod: the next run creates it, under the recorded name, with the recorded
// environment.
func TestRestartResumesAcknowledgedSpawnWithoutPod(t *testing.T) {
	names := podspec.NewNames("carol", "lab")
	spec := intentSpec("dddddddddddd")
	l, secret := storedIntent(names, spec.Request, spec)
	mgr, client, m := startManager(t, l, secret)

	key := Key{User: "carol", Server: "lab"}
	sess, ok := mgr.Get(key)
	require.True(t, ok, "the acknowledged spawn is known as soon as the service is ready")
	assert.Equal(t, StatusPending, sess.Status)
	require.Eventually(t, func() bool { return len(pods(t, client)) == 1 }, waitTimeout, 10*time.Millisecond)
	assert.Equal(t, names.Pod, pods(t, client)[0].Name)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.SpawnsResumed.WithLabelValues("intent")))
	require.Eventually(t, func() bool {
		s, err := client.CoreV1().Secrets(testNS).Get(context.Background(), names.Secret, metav1.GetOptions{})
		return err == nil && string(s.Data["JUPYTERHUB_API_TOKEN"]) == "token-dddddddddddd"
	}, waitTimeout, 10*time.Millisecond, "the hub env Secret comes from the intent")

	// The retry of the hub's request is the same spawn, not a conflict.
	again, err := mgr.Spawn(context.Background(), key, spec)
	require.NoError(t, err)
	assert.Equal(t, names.Pod, again.Pod)
}

// A pod created by the previous run without its hub env Secret: the intent
// supplies it, where before the spawn failed as lost.
func TestRestartCompletesSpawnFromIntentWhenSecretIsMissing(t *testing.T) {
	names := podspec.NewNames("dave", "")
	spec := intentSpec("eeeeeeeeeeee")
	l, secret := storedIntent(names, spec.Request, spec)
	pod := podspec.Pod(podspec.PodInput{Namespace: testNS, Names: names, Settings: spec.Settings, ServicePrefix: "/user/dave/"})
	pod.UID = "pod-uid"
	mgr, client, m := startManager(t, l, secret, pod)

	sess, ok := mgr.Get(Key{User: "dave"})
	require.True(t, ok)
	assert.Equal(t, StatusPending, sess.Status)
	require.Eventually(t, func() bool {
		_, err := client.CoreV1().Secrets(testNS).Get(context.Background(), names.Secret, metav1.GetOptions{})
		return err == nil
	}, waitTimeout, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		l, err := lease(t, client, l.Name)
		return err == nil && len(l.OwnerReferences) == 1 && l.OwnerReferences[0].UID == pod.UID
	}, waitTimeout, 10*time.Millisecond, "the pod adopts its intent")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.SpawnsResumed.WithLabelValues("pod")))
	assert.Len(t, pods(t, client), 1)
}

func TestRestartDropsIntentsThatAreNoSpawn(t *testing.T) {
	// A Lease without its record: the service died between the two
	// writes, before it answered.
	unanswered := podspec.NewNames("erin", "")
	l1, _ := storedIntent(unanswered, "ffffffffffff", intentSpec("ffffffffffff"))
	// An intent whose pod was created and is gone: that session ended.
	ended := podspec.NewNames("frank", "")
	l2, s2 := storedIntent(ended, "111111111111", intentSpec("111111111111"))
	l2.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: ended.Pod, UID: "gone"}}
	mgr, client, _ := startManager(t, l1, l2, s2)

	_, known := mgr.Get(Key{User: "frank"})
	assert.False(t, known, "an ended session is not resumed")
	require.Eventually(t, func() bool {
		_, err1 := lease(t, client, l1.Name)
		_, err2 := lease(t, client, l2.Name)
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2)
	}, waitTimeout, 10*time.Millisecond, "both are deleted")
	_, known = mgr.Get(Key{User: "erin"})
	assert.False(t, known, "an unanswered spawn is forgotten")
	assert.Empty(t, pods(t, client), "no pod for either")
}

// TestAskingAgainForAnUnrecordedSpawnIsNotAcknowledged is the race of a
// failover: the dead leader wrote a spawn's Lease but not its Secret, so it
// never answered; the hub asks again (same request) while the new leader is
// resuming that intent. The new leader must not answer 202 for a spawn it
// then drops as "never acknowledged": the request is either told to ask
// again, or its spawn is carried out.
func TestAskingAgainForAnUnrecordedSpawnIsNotAcknowledged(t *testing.T) {
	names := podspec.NewNames("gina", "")
	spec := intentSpec("222222222222")
	l, _ := storedIntent(names, spec.Request, spec)
	client := newClient(l)
	// The resume's read of the intent's Secret waits until the hub's
	// request has arrived.
	release := make(chan struct{})
	var held atomic.Bool
	client.PrependReactor("get", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.(k8stesting.GetAction).GetName() == l.Name && held.CompareAndSwap(false, true) {
			<-release
		}
		return false, nil, nil
	})
	mgr, _, _ := runManager(t, client, testConfig())
	// Registered after runManager's stop, so it runs before it.
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	key := Key{User: "gina"}

	answered := make(chan error, 1)
	go func() {
		_, err := mgr.Spawn(context.Background(), key, spec)
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("Spawn answered (%v) before the service knew whether the intent it joined is a spawn", err)
	case <-time.After(100 * time.Millisecond):
	}
	unblock()
	if err := <-answered; err != nil {
		e := requireRefusal(t, err, CodeUnavailable)
		assert.NotEmpty(t, e.Message, "the refusal says why in a sentence")
		// Asked again, the server is free and the spawn starts.
		_, err = mgr.Spawn(context.Background(), key, spec)
		require.NoError(t, err)
	}
	waitForPod(t, client, names.Pod)
	sess, ok := mgr.Get(key)
	require.True(t, ok, "an acknowledged spawn is not forgotten")
	assert.Equal(t, StatusPending, sess.Status)
}
