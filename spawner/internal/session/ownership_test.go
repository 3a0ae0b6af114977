package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

func requireConflict(t *testing.T, err error, want string) {
	t.Helper()
	var e *Error
	require.True(t, errors.As(err, &e), "err = %v", err)
	assert.Equal(t, CodeNameConflict, e.Code)
	assert.Contains(t, e.Message, want)
	assert.Contains(t, e.Message, "operator")
	assert.NotContains(t, e.Message, "shutting down")
}

// The collision itself is simulated here: the victim's objects carry the
// attacker's names. spawner/security_integration_test.go uses a real pair.
func TestSpawnRefusesAnotherUsersCachedHome(t *testing.T) {
	attacker := podspec.NewNames("Mallory", "")
	victim := podspec.NewNames("Alice", "")
	claim := claimAs(attacker, &victim, true)
	mgr, client, m := startManager(t, claim)

	_, err := mgr.Spawn(context.Background(), Key{User: attacker.User}, testSpec())
	requireConflict(t, err, "home volume would be "+attacker.PVC)

	assert.Empty(t, pods(t, client), "no pod that could mount the claim")
	got, err := client.CoreV1().PersistentVolumeClaims(testNS).Get(context.Background(), claim.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, claim, got, "the victim's claim is untouched")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.NameConflicts.WithLabelValues("pvc")))
	_, known := mgr.Get(Key{User: attacker.User})
	assert.False(t, known, "a refused spawn leaves no record")
}

// A claim the informer does not cache (KubeSpawner's labels) is found by the
// create; the spawn then fails with the same sentence and creates no pod.
func TestSpawnFailsOnAnotherUsersUncachedHome(t *testing.T) {
	attacker := podspec.NewNames("Mallory", "")
	victim := podspec.NewNames("Alice", "lab")
	mgr, client, m := startManager(t, claimAs(attacker, &victim, false))

	key := Key{User: attacker.User}
	_, err := mgr.Spawn(context.Background(), key, testSpec())
	require.NoError(t, err)
	last := lastEvent(t, mgr, key)
	assert.Equal(t, progress.KindFailed, last.Kind)
	assert.Equal(t, ReasonNameConflict, last.Reason)
	assert.Contains(t, last.Message, "another user's")
	assert.Empty(t, pods(t, client))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.NameConflicts.WithLabelValues("pvc")))

	// The hub stops a failed server; a pod of the victim's that has the
	// name by now is not deleted.
	victimPod := podspec.Pod(podspec.PodInput{Namespace: testNS, Names: victim, Settings: podspec.Defaults()})
	victimPod.Name = attacker.Pod
	_, err = client.CoreV1().Pods(testNS).Create(context.Background(), victimPod, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, mgr.Stop(context.Background(), key))
	assert.Len(t, pods(t, client), 1, "the other user's pod survives the stop")
}

func TestSpawnRefusesWhileAnotherUsersPodHasTheName(t *testing.T) {
	attacker := podspec.NewNames("Mallory", "")
	victim := podspec.NewNames("Alice", "")
	pod := podspec.Pod(podspec.PodInput{Namespace: testNS, Names: victim, Settings: podspec.Defaults()})
	pod.Name = attacker.Pod
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.7",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	mgr, client, m := startManager(t, pod)

	_, err := mgr.Spawn(context.Background(), Key{User: attacker.User}, testSpec())
	requireConflict(t, err, attacker.Pod)
	assert.Len(t, pods(t, client), 1)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.NameConflicts.WithLabelValues("session")), "the victim's running session holds the name")
	s, ok := mgr.Get(Key{User: victim.User})
	require.True(t, ok, "the victim's session was rebuilt from its pod")
	assert.Equal(t, StatusRunning, s.Status)
}

// Claims without annotations are KubeSpawner's oldest: one whose name is the
// user name verbatim is that user's; a hashed one could be anyone's.
func TestUnannotatedHome(t *testing.T) {
	plain := podspec.NewNames("alice", "")
	require.False(t, plain.Hashed())
	mgr, client, _ := startManager(t, claimAs(plain, nil, false))
	key := Key{User: plain.User}
	_, err := mgr.Spawn(context.Background(), key, testSpec())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(pods(t, client)) == 1 }, 5*time.Second, 10*time.Millisecond,
		"the verbatim-named claim is mounted")

	hashed := podspec.NewNames("Alice.Smith@example.org", "")
	require.True(t, hashed.Hashed())
	mgr, client, _ = startManager(t, claimAs(hashed, nil, true))
	_, err = mgr.Spawn(context.Background(), Key{User: hashed.User}, testSpec())
	requireConflict(t, err, "does not record its owner")
	assert.Empty(t, pods(t, client))
}

func TestOwnHomeIsReused(t *testing.T) {
	names := podspec.NewNames("Alice.Smith@example.org", "lab")
	mgr, client, m := startManager(t, claimAs(names, &names, false))
	_, err := mgr.Spawn(context.Background(), Key{User: names.User, Server: names.Server}, testSpec())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(pods(t, client)) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.NameConflicts.WithLabelValues("pvc")))
}

// A Secret under the session's name that is another user's (the hub env of
// a colliding session, which the garbage collector has not removed yet) is
// never updated: the spawn fails, and only its own new pod is removed.
func TestSpawnNeverTakesOverAnotherUsersSecret(t *testing.T) {
	attacker := podspec.NewNames("Mallory", "")
	victim := podspec.NewNames("Alice", "")
	secret := podspec.HubEnvSecret(testNS, victim, nil, map[string]string{"JUPYTERHUB_API_TOKEN": "victim's token"}, podspec.Labels(victim, ""))
	secret.Name = attacker.Secret
	mgr, client, m := startManager(t, secret)

	key := Key{User: attacker.User}
	_, err := mgr.Spawn(context.Background(), key, testSpec())
	require.NoError(t, err)
	last := lastEvent(t, mgr, key)
	assert.Equal(t, ReasonNameConflict, last.Reason)
	assert.Contains(t, last.Message, "Secret would be "+attacker.Secret)

	got, err := client.CoreV1().Secrets(testNS).Get(context.Background(), secret.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "victim's token", string(got.Data["JUPYTERHUB_API_TOKEN"]), "the victim's Secret is untouched")
	assert.Equal(t, victim.User, got.Annotations[podspec.AnnotationUsername])
	assert.Empty(t, pods(t, client), "the refused session's own pod was removed")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.NameConflicts.WithLabelValues("secret")))
}
