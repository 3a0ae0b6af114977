package apps

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
