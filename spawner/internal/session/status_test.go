package session

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// What the service answers from memory: every session in a stable order,
// the counts per status, and the running pod of a session for app
// launches.
func TestStatusIsAnsweredFromTheRecords(t *testing.T) {
	t.Parallel()
	alice := podspec.NewNames("alice", "")
	aliceB := podspec.NewNames("alice", "b")
	bob := podspec.NewNames("bob", "")
	carol := podspec.NewNames("carol", "")
	bobPod := sessionPod(bob, nil)
	shared := claimAs(aliceB, &aliceB, true)
	shared.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	mgr, _, _ := startManager(t,
		sessionPod(carol, exited(1)),
		sessionPod(aliceB, ready("10.0.0.2")),
		bobPod,
		podspec.HubEnvSecret(testNS, bob, bobPod, nil, podspec.Labels(bob, "")),
		sessionPod(alice, func(p *corev1.Pod) {
			ready("10.0.0.1")(p)
			p.Annotations[podspec.AnnotationProfile] = "desktop"
		}),
		claimAs(alice, &alice, true),
		shared,
	)

	var order []Key
	for _, s := range mgr.List() {
		order = append(order, Key{User: s.User, Server: s.Server})
	}
	assert.Equal(t, []Key{{User: "alice"}, {User: "alice", Server: "b"}, {User: "bob"}, {User: "carol"}}, order)
	assert.Equal(t, map[string]int{"running": 2, "pending": 1, "stopping": 0, "failed": 1}, mgr.Counts())

	pod, profile, ok := mgr.SessionPod(Key{User: "alice"})
	require.True(t, ok)
	assert.Equal(t, alice.Pod, pod.Name)
	assert.Equal(t, "desktop", profile)
	for _, key := range []Key{{User: "bob"}, {User: "carol"}, {User: "nobody"}} {
		_, _, ok := mgr.SessionPod(key)
		assert.False(t, ok, "%v has no running pod", key)
	}

	// An app of a session whose home can be mounted on one node only must
	// run on the session's node.
	podB, _, ok := mgr.SessionPod(Key{User: "alice", Server: "b"})
	require.True(t, ok)
	assert.True(t, mgr.ReadWriteOnce(pod), "a ReadWriteOnce claim")
	assert.False(t, mgr.ReadWriteOnce(podB), "a ReadWriteMany claim")
	assert.True(t, mgr.ReadWriteOnce(bobPod), "a claim the cache does not know counts as ReadWriteOnce")
	noHome := pod.DeepCopy()
	noHome.Spec.Volumes = nil
	assert.False(t, mgr.ReadWriteOnce(noHome), "no home volume, nothing to pin")

	require.NoError(t, mgr.Stop(context.Background(), Key{User: "carol"}))
	assert.Len(t, mgr.List(), 3)
}
