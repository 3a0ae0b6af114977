package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/internal/metrics"
)

// A standby replica answers every route, the hub's and the launcher
// agent's, with 503, Retry-After and the API's error document, and never
// reaches the session manager; once it leads, the same requests are served.
func TestStandbyAnswers503UntilLeader(t *testing.T) {
	t.Parallel()
	var standby atomic.Bool
	standby.Store(true)
	sessions := &fakeSessions{ready: true}
	h, err := New(Options{
		Apps: &fakeApps{}, Tokens: testSigner, HubToken: hubToken, Sessions: sessions, Profiles: fakeProfiles{},
		Metrics: metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil }),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Standby: standby.Load,
	})
	require.NoError(t, err)
	sessionToken, err := testSigner.Mint("alice", "", "uid-1")
	require.NoError(t, err)

	requests := []struct {
		name, method, path, auth, body string
		leaderStatus                   int
	}{
		{"hub: profiles", "GET", "/api/v1/profiles", "Bearer " + hubToken, "", http.StatusOK},
		{"hub: list sessions", "GET", "/api/v1/sessions", "Bearer " + hubToken, "", http.StatusOK},
		{"hub: spawn", "POST", "/api/v1/users/alice/server", "token " + hubToken, validBody, http.StatusAccepted},
		{"session: catalog", "GET", "/api/v1/session/catalog", "Bearer " + sessionToken, "", http.StatusOK},
	}
	for _, r := range requests {
		rec := do(t, h, r.method, r.path, r.auth, r.body)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s: %s", r.name, rec.Body)
		assert.Equal(t, "1", rec.Header().Get("Retry-After"), r.name)
		e := decodeError(t, rec)
		assert.Equal(t, StandbyCode, e.Code, r.name)
		assert.Contains(t, e.Message, "standing by", r.name)
	}
	assert.Empty(t, sessions.spawned, "a standby spawns nothing")

	// The OpenAPI document is the same on every replica.
	rec := do(t, h, "GET", "/api/v1/openapi.yaml", "", "")
	assert.Equal(t, http.StatusOK, rec.Code)

	standby.Store(false)
	for _, r := range requests {
		rec := do(t, h, r.method, r.path, r.auth, r.body)
		assert.Equal(t, r.leaderStatus, rec.Code, "%s as leader: %s", r.name, rec.Body)
		assert.Empty(t, rec.Header().Get("Retry-After"), r.name)
	}
	assert.Len(t, sessions.spawned, 1)
}

// A standby is not ready, whatever its session manager says, so that a
// Kubernetes Service sends nobody to it; it stays healthy, so that the
// kubelet does not restart it.
func TestReadyzFalseWhileStandingBy(t *testing.T) {
	t.Parallel()
	var standby, ready atomic.Bool
	standby.Store(true)
	ready.Store(true)
	h := NewOps(ready.Load, standby.Load, []string{"no app catalog"}, prometheus.NewRegistry())
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	rec := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "standing by")
	assert.Equal(t, http.StatusOK, get("/healthz").Code)

	// The leader before its managers have rebuilt the sessions.
	standby.Store(false)
	ready.Store(false)
	rec = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.NotContains(t, rec.Body.String(), "standing by")

	ready.Store(true)
	rec = get("/readyz")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "ok\nwarning: no app catalog\n", rec.Body.String())
}
