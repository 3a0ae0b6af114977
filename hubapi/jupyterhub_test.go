package hubapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/test/jupyterhub"
)

// Named timeouts of the tests against a real JupyterHub.
const (
	// serverTimeout bounds a server start or stop, and a token's expiry.
	serverTimeout = 60 * time.Second
	// pollInterval is the pause between two looks at the hub.
	pollInterval = 100 * time.Millisecond
)

// serviceName is the service whose token the tests' client uses.
const serviceName = "kubedesk-test"

// The hub's configuration. The spawner serves the user's home with Python's
// http.server: the hub only needs an HTTP answer at the server's URL, and
// this one starts in well under a second, so the tests can start and stop
// real servers without jupyterhub-singleuser (not installed in the venvs).
const hubConfig = `
import json, sys
from jupyterhub.spawner import SimpleLocalProcessSpawner

config = json.loads(%q)

class HTTPServerSpawner(SimpleLocalProcessSpawner):
    def get_args(self):
        return [str(self.port)]

    async def start(self):
        # The server's own JUPYTERHUB_API_TOKEN, for the tests to check
        # what a server's token may do.
        with open(config["tmp"] + "/server-token-" + self.user.name + "-" + self.name, "w") as f:
            f.write(self.api_token)
        return await super().start()

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = config["proxy_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = config["hub_port"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%%d" %% config["proxy_api_port"]
c.ConfigurableHTTPProxy.pid_file = config["tmp"] + "/jupyterhub-proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + config["tmp"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = config["tmp"] + "/cookie_secret"
c.JupyterHub.pid_file = config["tmp"] + "/jupyterhub.pid"

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True  # JupyterHub >= 5; 4.x warns and ignores it

c.JupyterHub.spawner_class = HTTPServerSpawner
c.Spawner.cmd = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.SimpleLocalProcessSpawner.home_dir_template = config["tmp"] + "/home/{username}"
c.JupyterHub.allow_named_servers = True
# Small pages, so that listing a handful of users crosses pages.
c.JupyterHub.api_page_default_limit = 2

c.JupyterHub.services = [{"name": config["service"], "api_token": config["token"]}]
c.JupyterHub.load_roles = [{
    "name": "kubedesk-test",
    "scopes": ["admin:users", "users:activity", "read:users", "servers", "tokens"],
    "services": [config["service"]],
}]
`

// realHub is a JupyterHub running for one test.
type realHub struct {
	// API is the hub's API root, as a server's JUPYTERHUB_API_URL names it.
	API     string
	Version string
	Token   string // the service's token
	// tmp is the hub's state folder; the spawner writes each server's
	// token there.
	tmp string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomToken(t *testing.T) string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// eventually calls check every pollInterval until it returns true, and
// fails the test after timeout, naming what it waited for.
func eventually(t *testing.T, what string, timeout time.Duration, check func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := check()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			require.Failf(t, "timed out", "after %s waiting for %s (last error: %v)", timeout, what, last)
		}
		time.Sleep(pollInterval)
	}
}

// startHub runs the JupyterHub of venv with a fresh database in a temporary
// directory, waits until its API answers, and stops it when the test ends.
// It skips the test when venv or configurable-http-proxy is missing.
func startHub(t *testing.T, venv string) *realHub {
	t.Helper()
	if m := jupyterhub.Missing(venv); m != "" {
		t.Skip(m)
	}
	tmp := t.TempDir()
	hubPort := freePort(t)
	token := randomToken(t)
	cfg, err := json.Marshal(map[string]any{
		"proxy_port": freePort(t), "proxy_api_port": freePort(t), "hub_port": hubPort,
		"tmp": tmp, "service": serviceName, "token": token,
	})
	require.NoError(t, err)
	configFile := filepath.Join(tmp, "jupyterhub_config.py")
	require.NoError(t, os.WriteFile(configFile, fmt.Appendf(nil, hubConfig, cfg), 0o600))

	api := fmt.Sprintf("http://127.0.0.1:%d/hub/api", hubPort)
	started := time.Now()
	jupyterhub.Start(t, jupyterhub.Options{Venv: venv, Config: configFile, Dir: tmp, Ready: api + "/"})
	resp, err := http.Get(api + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	var info struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	t.Logf("JupyterHub %s answered at %s after %s", info.Version, api, time.Since(started).Round(time.Millisecond))
	return &realHub{API: api, Version: info.Version, Token: token, tmp: tmp}
}

// TestJupyterHub runs the client against real JupyterHubs, one of each major
// version that hack/python-env.sh installed.
func TestJupyterHub(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not starting a real JupyterHub")
	}
	for _, tc := range []struct{ name, venv, major string }{
		{"jupyterhub-5", ".cache/venv", "5."},
		{"jupyterhub-4", ".cache/venv-jh4", "4."},
		{"jupyterhub-6", ".cache/venv-jh6", "6."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hub := startHub(t, tc.venv)
			require.True(t, strings.HasPrefix(hub.Version, tc.major), "version %s", hub.Version)
			testAgainstHub(t, hub)
		})
	}
}

// token is POST /users/{name}/tokens's answer.
type token struct {
	ID     string   `json:"id"`
	Token  string   `json:"token"`
	Scopes []string `json:"scopes"`
}

// testAgainstHub drives one hub through a scenario: its subtests are steps
// that build on the ones before (the users, the servers), not independent
// cases, so run them together.
func testAgainstHub(t *testing.T, hub *realHub) {
	ctx := context.Background()
	c := &Client{BaseURL: hub.API, Token: hub.Token}
	// An escaped name: '@', '+', a space and a non-ASCII letter.
	const odd = "émile +x@example.org"
	others := []string{"bob", "carol", "dave", odd}

	newToken := func(t *testing.T, user string, body map[string]any) token {
		t.Helper()
		var tok token
		_, err := c.do(ctx, http.MethodPost, "/users/"+seg(user)+"/tokens", body, &tok)
		require.NoError(t, err)
		require.NotEmpty(t, tok.Token)
		return tok
	}
	server := func(t *testing.T, user, name string) (Server, bool) {
		t.Helper()
		u, err := c.User(ctx, user)
		require.NoError(t, err)
		s, ok := u.Servers[name]
		return s, ok
	}

	t.Run("whoami", func(t *testing.T) {
		id, err := c.WhoAmI(ctx)
		require.NoError(t, err)
		assert.Equal(t, KindService, id.Kind)
		assert.Equal(t, serviceName, id.Name)
		assert.Contains(t, id.Scopes, "users:activity")
		assert.False(t, HasAccess(id, "alice", ""), "the service was not given access:servers")
		// The role's admin:users and servers expand to what orphan
		// collection needs.
		assert.Empty(t, MissingScopes(id, ScopeListUsers, ScopeReadServers), "scopes: %v", id.Scopes)
	})

	t.Run("create users", func(t *testing.T) {
		_, err := c.do(ctx, http.MethodPost, "/users/alice", nil, nil)
		require.NoError(t, err)
		_, err = c.do(ctx, http.MethodPost, "/users", map[string]any{"usernames": others[:3]}, nil)
		require.NoError(t, err)
		var u User
		_, err = c.do(ctx, http.MethodPost, "/users/"+seg(odd), nil, &u)
		require.NoError(t, err)
		assert.Equal(t, odd, u.Name, "the hub keeps the name as given")

		_, err = c.do(ctx, http.MethodPost, "/users/alice", nil, nil)
		assert.Equal(t, http.StatusConflict, statusOf(err), "creating alice twice: %v", err)
	})

	t.Run("user", func(t *testing.T) {
		u, err := c.User(ctx, odd)
		require.NoError(t, err)
		assert.Equal(t, odd, u.Name)
		assert.Equal(t, KindUser, u.Kind)
		assert.WithinDuration(t, time.Now(), u.Created, time.Minute)
		assert.Empty(t, u.Servers)

		_, err = c.User(ctx, "nobody")
		assert.True(t, IsNotFound(err), "unknown user: %v", err)
	})

	t.Run("users across pages", func(t *testing.T) {
		users, err := c.Users(ctx, "")
		require.NoError(t, err)
		assert.ElementsMatch(t, append([]string{"alice"}, others...), names(users), "5 users in pages of 2")
	})

	t.Run("identify tokens", func(t *testing.T) {
		own := newToken(t, "alice", map[string]any{"note": "own", "expires_in": 600})
		id, err := c.Identify(ctx, own.Token)
		require.NoError(t, err)
		t.Logf("alice's token: %+v", *id)
		assert.Equal(t, KindUser, id.Kind)
		assert.Equal(t, "alice", id.Name)
		assert.False(t, id.Admin)
		assert.Empty(t, id.SessionID, "an API token belongs to no login session")
		assert.Contains(t, id.Scopes, "access:servers!user=alice", "the hub expands !user")
		assert.True(t, HasAccess(id, "alice", ""))
		assert.True(t, HasAccess(id, "alice", "desk"))
		assert.False(t, HasAccess(id, "bob", ""))

		// As a server's OAuth client grants it: one server only.
		narrow := newToken(t, "alice", map[string]any{"note": "narrow", "scopes": []string{"access:servers!server=alice/"}})
		id, err = c.Identify(ctx, narrow.Token)
		require.NoError(t, err)
		t.Logf("alice's narrowed token: %+v", *id)
		assert.Equal(t, "alice", id.Name, "a token may identify itself whatever its scopes")
		assert.True(t, HasAccess(id, "alice", ""))
		assert.False(t, HasAccess(id, "alice", "desk"))

		bobs := newToken(t, "bob", nil)
		id, err = c.Identify(ctx, bobs.Token)
		require.NoError(t, err)
		assert.Equal(t, "bob", id.Name)
		assert.False(t, HasAccess(id, "alice", ""), "bob's token on alice's server")

		odds := newToken(t, odd, nil)
		id, err = c.Identify(ctx, odds.Token)
		require.NoError(t, err)
		assert.Equal(t, odd, id.Name)
		assert.True(t, HasAccess(id, odd, ""))

		_, err = c.Identify(ctx, "not-a-token")
		assert.True(t, IsForbidden(err), "unknown token: %v", err)

		// Revoked.
		_, err = c.do(ctx, http.MethodDelete, "/users/alice/tokens/"+seg(own.ID), nil, nil)
		require.NoError(t, err)
		_, err = c.Identify(ctx, own.Token)
		assert.True(t, IsForbidden(err), "revoked token: %v", err)

		// Expired.
		short := newToken(t, "alice", map[string]any{"note": "short", "expires_in": 1})
		eventually(t, "a token with expires_in=1 to expire", serverTimeout, func() (bool, error) {
			_, err := c.Identify(ctx, short.Token)
			return IsForbidden(err), err
		})
	})

	t.Run("a user's token may not act on another user", func(t *testing.T) {
		// bob's token has read:users and users:activity, filtered to bob:
		// the hub answers 404, not 403, so as not to tell whether alice
		// exists.
		bob := newToken(t, "bob", nil)
		asBob := &Client{BaseURL: hub.API, Token: bob.Token}
		_, err := asBob.User(ctx, "alice")
		assert.True(t, IsNotFound(err), "bob reading alice: %v", err)
		err = asBob.ReportActivity(ctx, "alice", "", time.Time{})
		assert.True(t, IsNotFound(err), "bob reporting alice's activity: %v", err)
		// Without any form of the scope (a user's role has no list:users),
		// it is 403.
		_, err = asBob.Users(ctx, "")
		assert.True(t, IsForbidden(err), "bob listing users: %v", err)
	})

	t.Run("server lifecycle and activity", func(t *testing.T) {
		// Activity on the default server of a user nobody has looked at
		// since its creation, whose server never started.
		// The hub creates the default server's record with the user.
		require.NoError(t, c.ReportActivity(ctx, "carol", "", time.Time{}))

		pending, err := c.StartServer(ctx, "alice", "", nil)
		require.NoError(t, err)
		t.Logf("start: pending=%v", pending)
		eventually(t, "alice's default server to be ready", serverTimeout, func() (bool, error) {
			s, ok := server(t, "alice", "")
			return ok && s.Ready, nil
		})
		s, _ := server(t, "alice", "")
		assert.Equal(t, "/user/alice/", s.URL)
		if !strings.HasPrefix(hub.Version, "4.") {
			assert.Equal(t, "alice/", s.FullName, "full_name is new in JupyterHub 5")
		}
		assert.WithinDuration(t, time.Now(), s.Started, time.Minute)

		// The server's own token (its JUPYTERHUB_API_TOKEN) is its owner's,
		// with access to that one server: the launcher agent's HTML5 proxy
		// lets it in through Identify and HasAccess like a browser's token.
		serverToken, err := os.ReadFile(filepath.Join(hub.tmp, "server-token-alice-"))
		require.NoError(t, err)
		id, err := c.Identify(ctx, string(serverToken))
		require.NoError(t, err)
		t.Logf("alice's server's token: %+v", *id)
		assert.Equal(t, KindUser, id.Kind)
		assert.Equal(t, "alice", id.Name)
		assert.True(t, HasAccess(id, "alice", ""), "the server's token on its own server")
		assert.False(t, HasAccess(id, "alice", "desk"), "the server's token on another server of its owner")

		_, err = c.StartServer(ctx, "alice", "", nil)
		assert.Equal(t, http.StatusBadRequest, statusOf(err), "starting a running server: %v", err)

		active, err := c.Users(ctx, StateActive)
		require.NoError(t, err)
		assert.Equal(t, []string{"alice"}, names(active))
		ready, err := c.Users(ctx, StateReady)
		require.NoError(t, err)
		assert.Equal(t, []string{"alice"}, names(ready))
		inactive, err := c.Users(ctx, StateInactive)
		require.NoError(t, err)
		assert.ElementsMatch(t, others, names(inactive))

		// Activity: a time in the near future is kept as sent (to the
		// microsecond), an older one does not move it back, and one more
		// than 59 minutes ahead is refused.
		at := time.Now().Add(30 * time.Minute).Truncate(time.Microsecond)
		require.NoError(t, c.ReportActivity(ctx, "alice", "", at))
		require.NoError(t, c.ReportActivity(ctx, "alice", "", at.Add(-time.Hour)))
		u, err := c.User(ctx, "alice")
		require.NoError(t, err)
		assert.True(t, at.Equal(u.LastActivity), "user last_activity %s, reported %s", u.LastActivity, at)
		assert.True(t, at.Equal(u.Servers[""].LastActivity), "server last_activity %s, reported %s", u.Servers[""].LastActivity, at)

		err = c.ReportActivity(ctx, "alice", "", time.Now().Add(2*time.Hour))
		assert.Equal(t, http.StatusBadRequest, statusOf(err), "activity 2h ahead: %v", err)
		err = c.ReportActivity(ctx, "alice", "no-such-server", time.Time{})
		assert.Equal(t, http.StatusBadRequest, statusOf(err), "activity of an unknown server: %v", err)
		err = c.ReportActivity(ctx, "nobody", "", time.Time{})
		assert.True(t, IsNotFound(err), "activity of an unknown user: %v", err)

		pending, err = c.StopServer(ctx, "alice", "")
		require.NoError(t, err)
		t.Logf("stop: pending=%v", pending)
		eventually(t, "alice's default server to be gone", serverTimeout, func() (bool, error) {
			_, ok := server(t, "alice", "")
			return !ok, nil
		})
		pending, err = c.StopServer(ctx, "alice", "")
		require.NoError(t, err, "stopping a stopped server")
		assert.False(t, pending)

		// The server's record outlives the stop: activity is accepted.
		require.NoError(t, c.ReportActivity(ctx, "alice", "", time.Time{}))
	})

	t.Run("named server with options", func(t *testing.T) {
		_, err := c.StartServer(ctx, "alice", "desk", map[string]any{"profile": "big"})
		require.NoError(t, err)
		eventually(t, "alice's server desk to be ready", serverTimeout, func() (bool, error) {
			s, ok := server(t, "alice", "desk")
			return ok && s.Ready, nil
		})
		s, _ := server(t, "alice", "desk")
		assert.Equal(t, "/user/alice/desk/", s.URL)
		assert.Equal(t, map[string]any{"profile": "big"}, s.UserOptions)
		require.NoError(t, c.ReportActivity(ctx, "alice", "desk", time.Time{}))

		_, err = c.StopServer(ctx, "alice", "desk")
		require.NoError(t, err)
		eventually(t, "alice's server desk to be gone", serverTimeout, func() (bool, error) {
			_, ok := server(t, "alice", "desk")
			return !ok, nil
		})

		_, err = c.StopServer(ctx, "alice", "never-started")
		assert.True(t, IsNotFound(err), "stopping an unknown named server: %v", err)
		_, err = c.StartServer(ctx, "nobody", "", nil)
		assert.True(t, IsNotFound(err), "starting a server of an unknown user: %v", err)
	})
}

func names(users []User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}
