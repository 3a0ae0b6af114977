package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/internal/httpguard"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

func limitedServer(t *testing.T, sessions *fakeSessions, opts Options) (http.Handler, *spawnertest.SyncBuffer, *metrics.Spawner) {
	t.Helper()
	logs := &spawnertest.SyncBuffer{}
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	opts.Apps, opts.Tokens, opts.HubToken = &fakeApps{}, testSigner, hubToken
	opts.Sessions, opts.Profiles, opts.Metrics = sessions, fakeProfiles{}, m
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h, err := New(opts)
	require.NoError(t, err)
	return h, logs, m
}

func from(t *testing.T, h http.Handler, peer, path, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = peer + ":40000"
	req.Header.Set("X-Forwarded-For", "198.51.100.7") // anyone can write this
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestFailedAuthenticationIsLimitedPerSource(t *testing.T) {
	t.Parallel()
	h, logs, m := limitedServer(t, &fakeSessions{ready: true}, Options{
		Failures: &httpguard.Failures{Burst: 3, Refill: time.Hour, MaxSources: 10},
	})
	const attacker, hub = "10.0.0.66", "10.0.0.1"

	for range 2 {
		assert.Equal(t, http.StatusUnauthorized, from(t, h, attacker, "/api/v1/profiles", "Bearer guess").Code)
	}
	// Session routes spend the same budget.
	assert.Equal(t, http.StatusUnauthorized, from(t, h, attacker, "/api/v1/session/apps", "Bearer not-a-jwt").Code)

	rec := from(t, h, attacker, "/api/v1/profiles", "Bearer guess")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "too_many_failures", decodeError(t, rec).Code)
	assert.Equal(t, "3600", rec.Header().Get("Retry-After"))
	rec = from(t, h, attacker, "/api/v1/profiles", "Bearer "+hubToken)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code, "a blocked source is not even checked")
	assert.Equal(t, http.StatusOK, from(t, h, hub, "/api/v1/profiles", "Bearer "+hubToken).Code, "other sources are served")

	out := logs.String()
	assert.Equal(t, 3, strings.Count(out, `msg="Rejected`), "one line per rejection, none per refusal:\n%s", out)
	assert.Equal(t, 4, strings.Count(out, "peer="+attacker+" "), "each names the peer:\n%s", out)
	assert.Equal(t, 1, strings.Count(out, "Source refused for a while"), out)
	assert.NotContains(t, out, "198.51.100.7", "the log records the peer, not X-Forwarded-For")
	assert.Equal(t, 2.0, testutil.ToFloat64(m.AuthFailures.WithLabelValues("hub", "rejected")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.AuthFailures.WithLabelValues("session", "rejected")))
	assert.Equal(t, 2.0, testutil.ToFloat64(m.AuthFailures.WithLabelValues("hub", "limited")))
}

func TestProgressStreamLimits(t *testing.T) {
	t.Parallel()
	alice, bob, carol := session.Key{User: "alice"}, session.Key{User: "bob"}, session.Key{User: "carol"}
	logs := map[session.Key]*progress.Log{}
	for _, k := range []session.Key{alice, bob, carol} {
		logs[k] = progress.New()
		logs[k].Append(progress.Event{Kind: progress.KindProgress, Message: "Starting."})
	}
	h, _, _ := limitedServer(t, &fakeSessions{ready: true, logs: logs}, Options{MaxProgressStreams: 3, MaxStreamsPerServer: 2})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	open := func(user string) (*http.Response, context.CancelFunc) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/users/"+user+"/server/progress", nil)
		req.Header.Set("Authorization", "Bearer "+hubToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, cancel
	}
	r1, close1 := open("alice")
	r2, _ := open("alice")
	require.Equal(t, http.StatusOK, r1.StatusCode)
	require.Equal(t, http.StatusOK, r2.StatusCode)
	r3, _ := open("alice")
	assert.Equal(t, http.StatusTooManyRequests, r3.StatusCode, "a third stream of one server")
	body, _ := io.ReadAll(r3.Body)
	assert.Contains(t, string(body), `"code":"too_many_streams"`)

	r4, _ := open("bob")
	assert.Equal(t, http.StatusOK, r4.StatusCode)
	r5, _ := open("carol")
	assert.Equal(t, http.StatusTooManyRequests, r5.StatusCode, "the total is reached")

	close1()
	require.Eventually(t, func() bool {
		r, _ := open("carol")
		return r.StatusCode == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond, "a closed stream frees its slot")
}
