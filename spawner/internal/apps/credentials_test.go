package apps

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Each app gets a password and a key of the stream's encryption of its own,
// kept in its Secret; the route the agent attaches with carries both, also
// from a service that restarted and knows them only from the Secret.
func TestAppCredentials(t *testing.T) {
	mgr, client, caller := startApps(t, Config{})
	ctx := context.Background()
	a, err := mgr.Launch(ctx, caller, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	b, err := mgr.Launch(ctx, caller, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)

	secrets := map[string]podspec.XpraCredentials{}
	for _, id := range []string{a.ID, b.ID} {
		s, err := client.CoreV1().Secrets(testNS).Get(ctx, id, metav1.GetOptions{})
		require.NoError(t, err)
		c := podspec.XpraCredentials{Password: string(s.Data[podspec.XpraPasswordKey]), EncryptionKey: string(s.Data[podspec.XpraEncryptionKey])}
		assert.Len(t, c.Password, 24, "app %s", id)
		assert.Len(t, c.EncryptionKey, 32, "app %s", id)
		assert.NotEqual(t, c.Password, c.EncryptionKey, "the key is not the password")
		secrets[id] = c
	}
	assert.NotEqual(t, secrets[a.ID], secrets[b.ID], "two apps share their secrets")

	running(t, client, a.ID)
	route := func(m *Manager) podspec.XpraCredentials {
		var got sessionapi.App
		require.Eventually(t, func() bool {
			got, err = m.Get(ctx, caller, a.ID)
			return err == nil && got.Status == sessionapi.StatusRunning
		}, 5*time.Second, 10*time.Millisecond)
		require.NotNil(t, got.Xpra)
		return podspec.XpraCredentials{Password: got.Xpra.Password, EncryptionKey: got.Xpra.EncryptionKey}
	}
	assert.Equal(t, secrets[a.ID], route(mgr), "the route of the service that launched it")

	restarted, _, _ := startAppsOn(t, Config{}, client)
	assert.Equal(t, secrets[a.ID], route(restarted), "the route of a restarted service, from the Secret")
}

// A restarted service that cannot read an app's Secret used to answer its
// route with an empty password and key, which the agent took for a new
// route: it dropped the desktop's attach and attached again, refused.
// Now the API server's error is the answer (the agent keeps what it has
// and asks again), and an app whose Secret is gone has no route.
func TestAppCredentialsThatCannotBeRead(t *testing.T) {
	f := start(t, options{})
	ctx := context.Background()
	a := launched(t, f, f.alice, "xterm")
	running(t, f.client, a.ID)
	secret, err := f.client.CoreV1().Secrets(testNS).Get(ctx, a.ID, metav1.GetOptions{})
	require.NoError(t, err)

	restarted := start(t, options{client: f.client}) // synced: it sees the app run
	failOnce(f.client, "get", "secrets", apierrors.NewInternalError(errors.New("etcdserver: leader changed")))
	_, err = restarted.mgr.Get(ctx, restarted.alice, a.ID)
	require.Error(t, err)
	assert.True(t, apierrors.IsInternalError(err), "%v", err)
	assert.Empty(t, codeOf(err), "not a refusal of the caller's")
	failOnce(f.client, "get", "secrets", apierrors.NewServiceUnavailable("no etcd"))
	_, err = restarted.mgr.List(ctx, restarted.alice)
	assert.True(t, apierrors.IsServiceUnavailable(err), "%v", err)

	got, err := restarted.mgr.Get(ctx, restarted.alice, a.ID)
	require.NoError(t, err, "once the API server answers")
	require.NotNil(t, got.Xpra)
	assert.Equal(t, string(secret.Data[podspec.XpraPasswordKey]), got.Xpra.Password)
	assert.Equal(t, string(secret.Data[podspec.XpraEncryptionKey]), got.Xpra.EncryptionKey)

	require.NoError(t, f.client.CoreV1().Secrets(testNS).Delete(ctx, a.ID, metav1.DeleteOptions{}))
	again := start(t, options{client: f.client})
	got, err = again.mgr.Get(ctx, again.alice, a.ID)
	require.NoError(t, err)
	assert.Equal(t, sessionapi.StatusRunning, got.Status)
	assert.Nil(t, got.Xpra, "no route without its password")
	assert.Contains(t, got.Message, "launch it again")
	list, err := again.mgr.List(ctx, again.alice)
	require.NoError(t, err, "one app's lost Secret does not hide the others")
	assert.Equal(t, []string{a.ID}, ids(list))
}
