package orphans

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// waitTimeout bounds the waits on the collector's loop.
const waitTimeout = 5 * time.Second

// fakeHub is a JupyterHub API with users and their active servers, served
// the way the hub serves it (paginated lists, 404 for unknown users, 403
// for a missing scope), for a real hubapi.Client.
type fakeHub struct {
	mu sync.Mutex
	// servers: user → active server name → pending ("" when ready).
	servers map[string]map[string]string
	scopes  []string
	// pageSize makes GET /users answer in pages.
	pageSize int
	// down answers every request with 500; noServers leaves the servers
	// field out of user models (a token without read:servers).
	down, noServers bool
	// hideFromList leaves users out of GET /users only (a page shifted by
	// a concurrent deletion).
	hideFromList map[string]bool
	requests     atomic.Int32
}

func newFakeHub(t *testing.T) (*fakeHub, *hubapi.Client) {
	h := &fakeHub{servers: map[string]map[string]string{}, scopes: []string{"list:users", "read:servers", "read:users:name"}, pageSize: 2}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, &hubapi.Client{BaseURL: srv.URL + "/hub/api", Token: "orphans-token"}
}

func (h *fakeHub) set(user, server, pending string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.servers[user] == nil {
		h.servers[user] = map[string]string{}
	}
	h.servers[user][server] = pending
}

func (h *fakeHub) model(name string) map[string]any {
	m := map[string]any{"kind": "user", "name": name}
	if !h.noServers {
		servers := map[string]any{}
		for s, pending := range h.servers[name] {
			servers[s] = map[string]any{"name": s, "ready": pending == "", "pending": nilIfEmpty(pending)}
		}
		m["servers"] = servers
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	reply := func(code int, v any) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if h.down {
		reply(500, map[string]any{"status": 500, "message": "the hub's database is locked"})
		return
	}
	if r.Header.Get("Authorization") != "token orphans-token" {
		reply(403, map[string]any{"status": 403, "message": "Forbidden"})
		return
	}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/hub/api")
	switch {
	case path == "/user":
		reply(200, map[string]any{"kind": "service", "name": "kubedesk-spawner", "scopes": h.scopes})
	case path == "/users":
		if r.URL.Query().Get("state") != "active" {
			reply(400, map[string]any{"status": 400, "message": "the collector lists active users"})
			return
		}
		var names []string
		for name, servers := range h.servers {
			if len(servers) > 0 && !h.hideFromList[name] {
				names = append(names, name)
			}
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		end := min(offset+h.pageSize, len(names))
		items := []any{}
		for _, n := range names[min(offset, len(names)):end] {
			items = append(items, h.model(n))
		}
		var next any
		if end < len(names) {
			next = map[string]any{"offset": end}
		}
		reply(200, map[string]any{"items": items, "_pagination": map[string]any{"next": next}})
	case strings.HasPrefix(path, "/users/"):
		name, _ := url.PathUnescape(strings.TrimPrefix(path, "/users/"))
		if _, ok := h.servers[name]; !ok {
			reply(404, map[string]any{"status": 404, "message": "No such user"})
			return
		}
		reply(200, h.model(name))
	default:
		reply(404, map[string]any{"status": 404, "message": "not found"})
	}
}

// fakeSessions is the session manager's view, and what was stopped.
type fakeSessions struct {
	mu      sync.Mutex
	ready   atomic.Bool
	list    []session.Session
	stopped []session.Key
	stopErr error
}

func (f *fakeSessions) Ready() bool { return f.ready.Load() }

func (f *fakeSessions) List() []session.Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session.Session(nil), f.list...)
}

func (f *fakeSessions) Stop(_ context.Context, k session.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopErr != nil {
		return f.stopErr
	}
	f.stopped = append(f.stopped, k)
	kept := f.list[:0]
	for _, s := range f.list {
		if s.User != k.User || s.Server != k.Server {
			kept = append(kept, s)
		}
	}
	f.list = kept
	return nil
}

func (f *fakeSessions) stops() []session.Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session.Key(nil), f.stopped...)
}

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// sess is a session of user's server that started age before now.
func sess(user, server string, status session.Status, age time.Duration) session.Session {
	started := now.Add(-age)
	pod := "jupyter-" + user
	if server != "" {
		pod += "--" + server
	}
	return session.Session{User: user, Server: server, Status: status, Pod: pod, StartedAt: &started}
}

func newCollector(hub Hub, sessions Sessions, dryRun bool) (*Collector, *metrics.Spawner, *spawnertest.SyncBuffer) {
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	logs := &spawnertest.SyncBuffer{}
	c := New(hub, sessions, Config{Interval: time.Hour, Grace: 5 * time.Minute, DryRun: dryRun, Now: func() time.Time { return now }},
		m, slog.New(slog.NewTextHandler(logs, nil)))
	return c, m, logs
}

func orphans(m *metrics.Spawner, kind, action string) float64 {
	return testutil.ToFloat64(m.Orphans.WithLabelValues(kind, action))
}

// The hub's servers are kept, whatever they are doing (a spawn it counts
// as pending, a server it stops); a session whose user the hub deleted is
// stopped, and so is one whose user has other servers only.
func TestCollectStopsWhatTheHubNoLongerHas(t *testing.T) {
	t.Parallel()
	hub, client := newFakeHub(t)
	hub.set("alice", "", "")
	hub.set("carol", "", "spawn")
	hub.set("dave", "desk", "")
	hub.set("erin", "", "")
	sessions := &fakeSessions{list: []session.Session{
		sess("alice", "", session.StatusRunning, time.Hour),
		sess("bob", "", session.StatusRunning, time.Hour),      // deleted user
		sess("carol", "", session.StatusPending, time.Hour),    // a long spawn the hub counts
		sess("dave", "", session.StatusRunning, time.Hour),     // dave has "desk" only
		sess("dave", "desk", session.StatusRunning, time.Hour), // kept
		sess("erin", "", session.StatusFailed, time.Hour),      // failed, the hub still has it
	}}
	c, m, logs := newCollector(client, sessions, false)

	round, err := c.Collect(context.Background())
	require.NoError(t, err)
	assert.ElementsMatch(t, []session.Key{{User: "bob"}, {User: "dave"}}, sessions.stops())
	assert.Len(t, round.Orphans, 2)
	assert.Equal(t, 2.0, orphans(m, "pod", ActionCollected))
	assert.Equal(t, 2.0, orphans(m, "secret", ActionCollected))
	for _, line := range []string{"kind=pod name=jupyter-bob", "kind=secret name=jupyter-bob", "kind=pod name=jupyter-dave "} {
		assert.Contains(t, logs.String(), line, "one log line per object")
	}
	assert.Equal(t, 4, strings.Count(logs.String(), "Orphan collected"))

	// Nothing is left to collect.
	round, err = c.Collect(context.Background())
	require.NoError(t, err)
	assert.Empty(t, round.Orphans)
	assert.Len(t, sessions.stops(), 2)
}

// A session younger than the grace period may be a spawn the hub's answer
// predates: it is kept until it is older.
func TestCollectWaitsForTheGracePeriod(t *testing.T) {
	t.Parallel()
	_, client := newFakeHub(t)
	sessions := &fakeSessions{list: []session.Session{sess("bob", "", session.StatusPending, time.Minute)}}
	c, m, _ := newCollector(client, sessions, false)

	round, err := c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, round.Candidates)
	assert.Empty(t, round.Orphans)
	assert.Empty(t, sessions.stops())

	c.cfg.Now = func() time.Time { return now.Add(5 * time.Minute) }
	_, err = c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []session.Key{{User: "bob"}}, sessions.stops(), "collected once older than the grace")
	assert.Equal(t, 1.0, orphans(m, "pod", ActionCollected))
}

// A session without a recorded start gets its grace from the round that
// first found it missing.
func TestCollectGivesUnknownAgesTheGraceFromFirstSight(t *testing.T) {
	t.Parallel()
	_, client := newFakeHub(t)
	s := sess("bob", "", session.StatusRunning, time.Hour)
	s.StartedAt = nil
	sessions := &fakeSessions{list: []session.Session{s}}
	c, _, _ := newCollector(client, sessions, false)
	_, err := c.Collect(context.Background())
	require.NoError(t, err)
	assert.Empty(t, sessions.stops(), "first seen now")
	c.cfg.Now = func() time.Time { return now.Add(5 * time.Minute) }
	_, err = c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []session.Key{{User: "bob"}}, sessions.stops())
}

// A user the list missed (a page shifted by a deletion) but the hub still
// has is kept: every orphan is confirmed for its user alone.
func TestCollectConfirmsEachOrphanWithTheHub(t *testing.T) {
	t.Parallel()
	hub, client := newFakeHub(t)
	hub.set("alice", "", "")
	hub.hideFromList = map[string]bool{"alice": true}
	sessions := &fakeSessions{list: []session.Session{sess("alice", "", session.StatusRunning, time.Hour)}}
	c, _, _ := newCollector(client, sessions, false)

	round, err := c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, round.Candidates)
	assert.Empty(t, round.Orphans)
	assert.Empty(t, sessions.stops())
}

// When the hub cannot be asked, or its answer cannot be trusted, nothing
// is stopped: a hub that is down, a token without the scopes (the warning
// names them), a hub that sends users without their servers.
func TestCollectDoesNothingWhenTheHubCannotSay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		break_ func(*fakeHub)
		err    string
	}{
		{"hub down", func(h *fakeHub) { h.down = true }, "the hub's database is locked"},
		{"no read:servers", func(h *fakeHub) { h.scopes = []string{"list:users"} }, "kubedesk-spawner has no read:servers"},
		{"filtered list:users", func(h *fakeHub) { h.scopes = []string{"list:users!group=staff", "read:servers"} }, "has no list:users"},
		{"servers left out", func(h *fakeHub) { h.noServers = true }, "without servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hub, client := newFakeHub(t)
			hub.set("alice", "", "")
			tc.break_(hub)
			sessions := &fakeSessions{list: []session.Session{
				sess("alice", "", session.StatusRunning, time.Hour),
				sess("bob", "", session.StatusRunning, time.Hour),
			}}
			c, m, _ := newCollector(client, sessions, false)
			_, err := c.Collect(context.Background())
			require.ErrorContains(t, err, tc.err)
			assert.Empty(t, sessions.stops())
			assert.Zero(t, testutil.CollectAndCount(m.Orphans))
		})
	}
}

// A dry run stops nothing; each orphan's objects are logged and counted
// once for as long as it stays an orphan.
func TestDryRunKeepsAndCountsOnce(t *testing.T) {
	t.Parallel()
	hub, client := newFakeHub(t)
	hub.set("alice", "", "")
	sessions := &fakeSessions{list: []session.Session{
		sess("alice", "", session.StatusRunning, time.Hour),
		sess("bob", "", session.StatusRunning, time.Hour),
	}}
	c, m, logs := newCollector(client, sessions, true)
	for range 3 {
		round, err := c.Collect(context.Background())
		require.NoError(t, err)
		assert.Len(t, round.Orphans, 1)
	}
	assert.Empty(t, sessions.stops())
	assert.Equal(t, 1.0, orphans(m, "pod", ActionWouldCollect))
	assert.Equal(t, 1.0, orphans(m, "secret", ActionWouldCollect))
	assert.Zero(t, orphans(m, "pod", ActionCollected))
	assert.Equal(t, 1, strings.Count(logs.String(), "kind=pod name=jupyter-bob"))
}

// A stop that fails is counted and logged as failed, and tried again the
// next round.
func TestFailedStopIsTriedAgain(t *testing.T) {
	t.Parallel()
	_, client := newFakeHub(t)
	sessions := &fakeSessions{list: []session.Session{sess("bob", "", session.StatusRunning, time.Hour)}, stopErr: errors.New("pod still there")}
	c, m, logs := newCollector(client, sessions, false)
	_, err := c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1.0, orphans(m, "pod", ActionFailed))
	assert.Contains(t, logs.String(), "pod still there")

	sessions.mu.Lock()
	sessions.stopErr = nil
	sessions.mu.Unlock()
	_, err = c.Collect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []session.Key{{User: "bob"}}, sessions.stops())
}

// Start waits for the session manager's rebuild, runs a round at once, then
// every interval, and returns when its context ends.
func TestStartRunsOnceReadyThenPeriodically(t *testing.T) {
	t.Parallel()
	hub, client := newFakeHub(t)
	sessions := &fakeSessions{}
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	c := New(client, sessions, Config{Interval: 50 * time.Millisecond, Grace: time.Minute}, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()

	time.Sleep(3 * readyPoll)
	assert.Zero(t, hub.requests.Load(), "nothing is asked before the sessions are ready")
	sessions.ready.Store(true)
	// Each round asks twice (WhoAmI, Users); several rounds pass.
	require.Eventually(t, func() bool { return hub.requests.Load() >= 6 }, waitTimeout, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Start did not return after its context ended")
	}
}
