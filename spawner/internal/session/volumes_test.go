package session

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

func claimExists(t *testing.T, client *fake.Clientset, name string) bool {
	t.Helper()
	_, err := client.CoreV1().PersistentVolumeClaims(testNS).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

// delete_forever of one server deletes that server's home and no other: a
// named server's home is its own, and the default server's home goes only
// with the default server (the hub calls once per server when it deletes
// the user).
func TestDeleteVolumesDeletesOnlyThatServersHome(t *testing.T) {
	t.Parallel()
	home, desk, bobs := podspec.NewNames("alice", ""), podspec.NewNames("alice", "desk"), podspec.NewNames("bob", "")
	mgr, client, m := startManager(t, claimAs(home, &home, true), claimAs(desk, &desk, true), claimAs(bobs, &bobs, true))

	require.NoError(t, mgr.DeleteVolumes(context.Background(), Key{User: "alice", Server: "desk"}))
	assert.False(t, claimExists(t, client, desk.PVC), "the named server's home is deleted")
	assert.True(t, claimExists(t, client, home.PVC), "the default server's home stays")
	assert.True(t, claimExists(t, client, bobs.PVC))

	require.NoError(t, mgr.DeleteVolumes(context.Background(), Key{User: "alice"}))
	assert.False(t, claimExists(t, client, home.PVC))
	assert.True(t, claimExists(t, client, bobs.PVC), "another user's home stays")
	assert.Equal(t, 2.0, collected(t, m.VolumesDeleted))

	// Idempotent: nothing left to delete is a success, and counts nothing.
	require.NoError(t, mgr.DeleteVolumes(context.Background(), Key{User: "alice"}))
	require.NoError(t, mgr.DeleteVolumes(context.Background(), Key{User: "nobody", Server: "never"}))
	assert.Equal(t, 2.0, collected(t, m.VolumesDeleted))
}

// A claim under the server's name that is someone else's (a hash
// collision) is never deleted; KubeSpawner's unannotated claims are this
// user's when their name is not hashed (the rule for mounting them), and
// they are not in the informer's cache (other labels).
func TestDeleteVolumesLeavesOtherUsersClaims(t *testing.T) {
	t.Parallel()
	carol, dave := podspec.NewNames("carol", ""), podspec.NewNames("dave", "")
	other := podspec.NewNames("someone else", "")
	hashed := podspec.NewNames("Émile", "")
	require.True(t, hashed.Hashed())
	mgr, client, _ := startManager(t,
		claimAs(carol, &other, true), // annotated as another user's
		claimAs(dave, nil, false),    // KubeSpawner's, unannotated, plain name
		claimAs(hashed, nil, false))  // unannotated under a hashed name

	for _, k := range []Key{{User: "carol"}, {User: "dave"}, {User: "Émile"}} {
		require.NoError(t, mgr.DeleteVolumes(context.Background(), k))
	}
	assert.True(t, claimExists(t, client, carol.PVC), "another user's claim is left alone")
	assert.False(t, claimExists(t, client, dave.PVC), "a KubeSpawner home under the user's own name is the user's")
	assert.True(t, claimExists(t, client, hashed.PVC), "an unannotated claim under a hashed name may be anyone's")
}

// The volumes of a server that runs are refused: its pod mounts them.
func TestDeleteVolumesOfARunningServerIsRefused(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("alice", "")
	mgr, client, _ := startManager(t, claimAs(names, &names, true), sessionPod(names, ready("10.0.0.7")))
	key := Key{User: "alice"}
	waitForStatus(t, mgr, key, StatusRunning)

	e := requireRefusal(t, mgr.DeleteVolumes(context.Background(), key), CodeRunning)
	assert.Contains(t, e.Message, "stop it before deleting its home volume")
	assert.True(t, claimExists(t, client, names.PVC))

	require.NoError(t, mgr.Stop(context.Background(), key))
	require.NoError(t, mgr.DeleteVolumes(context.Background(), key))
	assert.False(t, claimExists(t, client, names.PVC), "deleted once the server is stopped")
}
