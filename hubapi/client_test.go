package hubapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorded is one request as the fake hub saw it.
type recorded struct {
	Method, EscapedPath, RawQuery string
	Header                        http.Header
	Body                          string
}

// fakeHub serves handler and records every request.
type fakeHub struct {
	*httptest.Server
	reqs chan recorded
}

func newFakeHub(t *testing.T, handler http.HandlerFunc) (*fakeHub, *Client) {
	t.Helper()
	f := &fakeHub{reqs: make(chan recorded, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.reqs <- recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b)}
		handler(w, r)
	}))
	t.Cleanup(f.Close)
	return f, &Client{BaseURL: f.URL + "/hub/api/", Token: "client-token", HTTPClient: f.Client()}
}

// only returns the one request the fake hub received.
func (f *fakeHub) only(t *testing.T) recorded {
	t.Helper()
	require.Len(t, f.reqs, 1)
	return <-f.reqs
}

func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func TestNewFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"both set", map[string]string{EnvAPIURL: "http://127.0.0.1:8081/hub/api", EnvAPIToken: "t"}, ""},
		{"https", map[string]string{EnvAPIURL: "https://hub.example.org/hub/api/", EnvAPIToken: "t"}, ""},
		{"no url", map[string]string{EnvAPIToken: "t"}, "hubapi: JUPYTERHUB_API_URL is not set"},
		{"no token", map[string]string{EnvAPIURL: "http://hub:8081/hub/api"}, "hubapi: JUPYTERHUB_API_TOKEN is not set"},
		{"empty token", map[string]string{EnvAPIURL: "http://hub:8081/hub/api", EnvAPIToken: ""}, "hubapi: JUPYTERHUB_API_TOKEN is not set"},
		{"relative url", map[string]string{EnvAPIURL: "/hub/api", EnvAPIToken: "t"}, `hubapi: JUPYTERHUB_API_URL="/hub/api" is not an absolute http(s) URL`},
		{"other scheme", map[string]string{EnvAPIURL: "unix:///run/hub.sock", EnvAPIToken: "t"}, `hubapi: JUPYTERHUB_API_URL="unix:///run/hub.sock" is not an absolute http(s) URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := newFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, &Client{BaseURL: tc.env[EnvAPIURL], Token: tc.env[EnvAPIToken]}, c)
		})
	}
}

func TestNewFromEnvReadsTheProcessEnvironment(t *testing.T) {
	t.Setenv(EnvAPIURL, "http://127.0.0.1:8081/hub/api")
	t.Setenv(EnvAPIToken, "secret")
	c, err := NewFromEnv()
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8081/hub/api", c.BaseURL)
	assert.Equal(t, "secret", c.Token)
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		code        int
		body        string
		wantMessage string
		notFound    bool
		forbidden   bool
		unauth      bool
	}{
		{"not found", 404, `{"status": 404, "message": "Not Found"}`, "Not Found", true, false, false},
		{"forbidden", 403, `{"status": 403, "message": "Action is not authorized with current scopes; requires any of [read:users]"}`,
			"Action is not authorized with current scopes; requires any of [read:users]", false, true, false},
		{"unauthorized", 401, `{"status": 401, "message": "Unauthorized"}`, "Unauthorized", false, false, true},
		{"bad request", 400, `{"status": 400, "message": "alice's server is already running"}`, "alice's server is already running", false, false, false},
		{"server error", 500, `{"status": 500, "message": "Internal Server Error"}`, "Internal Server Error", false, false, false},
		{"empty message", 429, `{"status": 429, "message": ""}`, `{"status": 429, "message": ""}`, false, false, false},
		{"proxy page", 502, "<html>\n<body>  Bad\tgateway </body></html>\n", "<html> <body> Bad gateway </body></html>", false, false, false},
		{"no body", 503, "", "Service Unavailable", false, false, false},
		{"not a hub document", 404, `{"detail": "nope"}`, `{"detail": "nope"}`, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, c := newFakeHub(t, answer(tc.code, tc.body))
			_, err := c.User(context.Background(), "alice")
			require.Error(t, err)

			var herr *Error
			require.ErrorAs(t, err, &herr)
			assert.Equal(t, tc.code, herr.StatusCode)
			assert.Equal(t, tc.wantMessage, herr.Message)
			assert.Equal(t, tc.notFound, IsNotFound(err), "IsNotFound")
			assert.Equal(t, tc.forbidden, IsForbidden(err), "IsForbidden")
			assert.Equal(t, tc.unauth, IsUnauthorized(err), "IsUnauthorized")
			assert.Equal(t, fmt.Sprintf("GET /users/alice: hub API: %d %s: %s", tc.code, http.StatusText(tc.code), tc.wantMessage), err.Error())
		})
	}
}

func TestErrorMessageIsBounded(t *testing.T) {
	t.Parallel()
	_, c := newFakeHub(t, answer(502, strings.Repeat("é", 1000)))
	_, err := c.User(context.Background(), "alice")
	var herr *Error
	require.ErrorAs(t, err, &herr)
	assert.LessOrEqual(t, len(herr.Message), 200+len("…"))
	assert.True(t, strings.HasSuffix(herr.Message, "é…"), "cut on a rune boundary: %q", herr.Message)
}

func TestHelpersOnOtherErrors(t *testing.T) {
	t.Parallel()
	for _, err := range []error{nil, errors.New("boom"), context.Canceled} {
		assert.False(t, IsNotFound(err))
		assert.False(t, IsForbidden(err))
		assert.False(t, IsUnauthorized(err))
	}
	assert.True(t, IsUnauthorized(fmt.Errorf("check: %w", ErrNoToken)))
}

func TestTransportErrorIsNotAHubError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := &Client{BaseURL: url + "/hub/api", Token: "t"}
	_, err := c.User(context.Background(), "alice")
	require.Error(t, err)
	var herr *Error
	assert.False(t, errors.As(err, &herr))
}

func TestContextIsHonoured(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	_, c := newFakeHub(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.User(ctx, "alice")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestRequests checks what each method sends: method, escaped path, query,
// headers and body.
func TestRequests(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name      string
		code      int
		answer    string
		call      func(*Client) (any, error)
		method    string
		path      string
		query     string
		body      string // JSON, compared semantically; "" for none
		wantToken string
		want      any
	}{
		{
			name: "user", code: 200, answer: `{"name": "alice"}`,
			call:   func(c *Client) (any, error) { return c.User(context.Background(), "alice") },
			method: "GET", path: "/hub/api/users/alice",
			want: &User{Name: "alice"},
		},
		{
			name: "user with an email name", code: 200, answer: `{"name": "a.b@example.org"}`,
			call:   func(c *Client) (any, error) { return c.User(context.Background(), "a.b@example.org") },
			method: "GET", path: "/hub/api/users/a.b@example.org",
			want: &User{Name: "a.b@example.org"},
		},
		{
			name: "user with space, slash, percent, question mark and unicode", code: 200, answer: `{}`,
			call:   func(c *Client) (any, error) { return c.User(context.Background(), "é v/w%x?y#z") },
			method: "GET", path: "/hub/api/users/%C3%A9%20v%2Fw%25x%3Fy%23z",
			want: &User{},
		},
		{
			name: "identify sends the given token", code: 200,
			answer: `{"kind": "user", "name": "alice", "admin": false, "groups": ["g"], "scopes": ["access:servers!user=alice"], "session_id": null, "token_id": "a12"}`,
			call:   func(c *Client) (any, error) { return c.Identify(context.Background(), "browser-token") },
			method: "GET", path: "/hub/api/user", wantToken: "browser-token",
			want: &Identity{Kind: "user", Name: "alice", Groups: []string{"g"}, Scopes: []string{"access:servers!user=alice"}, TokenID: "a12"},
		},
		{
			name: "whoami sends the client's token", code: 200,
			answer: `{"kind": "service", "name": "kubedesk", "admin": false, "roles": ["r"], "scopes": [], "session_id": null, "token_id": "a1"}`,
			call:   func(c *Client) (any, error) { return c.WhoAmI(context.Background()) },
			method: "GET", path: "/hub/api/user",
			want: &Identity{Kind: "service", Name: "kubedesk", Roles: []string{"r"}, Scopes: []string{}, TokenID: "a1"},
		},
		{
			name: "activity on the default server",
			code: 200,
			call: func(c *Client) (any, error) {
				return nil, c.ReportActivity(context.Background(), "alice", "", at)
			},
			method: "POST", path: "/hub/api/users/alice/activity",
			body: `{"last_activity": "2025-03-04T04:06:07.891234Z", "servers": {"": {"last_activity": "2025-03-04T04:06:07.891234Z"}}}`,
		},
		{
			name: "activity on a named server of an escaped user",
			code: 200,
			call: func(c *Client) (any, error) {
				return nil, c.ReportActivity(context.Background(), "b/c", "desk", at.Truncate(time.Second))
			},
			method: "POST", path: "/hub/api/users/b%2Fc/activity",
			body: `{"last_activity": "2025-03-04T04:06:07.000000Z", "servers": {"desk": {"last_activity": "2025-03-04T04:06:07.000000Z"}}}`,
		},
		{
			name: "start the default server, started", code: 201,
			call: func(c *Client) (any, error) {
				return c.StartServer(context.Background(), "alice", "", nil)
			},
			method: "POST", path: "/hub/api/users/alice/server", want: false,
		},
		{
			name: "start a named server with options, pending", code: 202,
			call: func(c *Client) (any, error) {
				return c.StartServer(context.Background(), "alice", "my desk", map[string]any{"profile": "big"})
			},
			method: "POST", path: "/hub/api/users/alice/servers/my%20desk", body: `{"profile": "big"}`, want: true,
		},
		{
			name: "stop the default server, stopped", code: 204,
			call:   func(c *Client) (any, error) { return c.StopServer(context.Background(), "alice", "") },
			method: "DELETE", path: "/hub/api/users/alice/server", want: false,
		},
		{
			name: "stop a named server, pending", code: 202,
			call:   func(c *Client) (any, error) { return c.StopServer(context.Background(), "alice", "desk") },
			method: "DELETE", path: "/hub/api/users/alice/servers/desk", want: true,
		},
		{
			name: "users with a state", code: 200, answer: `{"items": [], "_pagination": {"offset": 0, "limit": 50, "total": 0, "next": null}}`,
			call:   func(c *Client) (any, error) { return c.Users(context.Background(), StateActive) },
			method: "GET", path: "/hub/api/users", query: "state=active",
			want: []User(nil),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hub, c := newFakeHub(t, answer(tc.code, tc.answer))
			got, err := tc.call(c)
			require.NoError(t, err)
			if tc.want != nil {
				assert.Equal(t, tc.want, got)
			}

			r := hub.only(t)
			assert.Equal(t, tc.method, r.Method)
			assert.Equal(t, tc.path, r.EscapedPath)
			assert.Equal(t, tc.query, r.RawQuery)
			token := tc.wantToken
			if token == "" {
				token = "client-token"
			}
			assert.Equal(t, "token "+token, r.Header.Get("Authorization"))
			assert.Contains(t, r.Header.Get("Accept"), "application/jupyterhub-pagination+json")
			if tc.body == "" {
				assert.Empty(t, r.Body)
				assert.Empty(t, r.Header.Get("Content-Type"))
			} else {
				assert.JSONEq(t, tc.body, r.Body)
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			}
		})
	}
}

func TestIdentifyWithoutTokenSendsNothing(t *testing.T) {
	t.Parallel()
	hub, c := newFakeHub(t, answer(200, `{}`))
	_, err := c.Identify(context.Background(), "")
	require.ErrorIs(t, err, ErrNoToken)
	assert.True(t, IsUnauthorized(err))
	assert.Empty(t, hub.reqs)
}

func TestServerTimes(t *testing.T) {
	t.Parallel()
	_, c := newFakeHub(t, answer(200, `{
		"kind": "user", "name": "alice", "admin": false, "roles": ["user"], "groups": [],
		"server": "/user/alice/", "pending": null,
		"created": "2025-01-02T03:04:05.123456Z", "last_activity": null,
		"servers": {"": {
			"name": "", "full_name": "alice/", "ready": true, "pending": null, "stopped": false,
			"url": "/user/alice/", "progress_url": "/hub/api/users/alice/server/progress",
			"full_url": null, "full_progress_url": null,
			"started": "2025-01-02T03:04:06Z", "last_activity": "2025-01-02T03:05:00.5Z",
			"user_options": {"profile": "big"}
		}}
	}`))
	u, err := c.User(context.Background(), "alice")
	require.NoError(t, err)
	assert.Equal(t, &User{
		Kind: "user", Name: "alice", Roles: []string{"user"}, Groups: []string{},
		Server:  "/user/alice/",
		Created: time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC),
		Servers: map[string]Server{"": {
			FullName: "alice/", Ready: true, URL: "/user/alice/",
			ProgressURL:  "/hub/api/users/alice/server/progress",
			Started:      time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
			LastActivity: time.Date(2025, 1, 2, 3, 5, 0, 500000000, time.UTC),
			UserOptions:  map[string]any{"profile": "big"},
		}},
	}, u)
	assert.True(t, u.LastActivity.IsZero(), "null is the zero time")
}

func TestReportActivityZeroTimeIsNow(t *testing.T) {
	t.Parallel()
	hub, c := newFakeHub(t, answer(200, ""))
	before := time.Now().Add(-time.Second)
	require.NoError(t, c.ReportActivity(context.Background(), "alice", "", time.Time{}))
	var body struct {
		LastActivity string `json:"last_activity"`
	}
	require.NoError(t, json.Unmarshal([]byte(hub.only(t).Body), &body))
	ts, err := time.Parse(time.RFC3339Nano, body.LastActivity)
	require.NoError(t, err)
	assert.WithinRange(t, ts, before, time.Now().Add(time.Second))
	assert.True(t, strings.HasSuffix(body.LastActivity, "Z"), body.LastActivity)
}

// pagedUsers is a fake GET /users that serves names in pages of limit, the
// way JupyterHub does when asked for the paginated form.
func pagedUsers(t *testing.T, names []string, limit int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hub/api/users" || !strings.Contains(r.Header.Get("Accept"), paginationMediaType) {
			http.Error(w, `{"status": 400, "message": "unexpected request"}`, 400)
			return
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		end := min(offset+limit, len(names))
		items := []map[string]any{}
		for _, n := range names[offset:end] {
			items = append(items, map[string]any{"kind": "user", "name": n})
		}
		var next any
		if end < len(names) {
			q := r.URL.Query()
			q.Set("offset", strconv.Itoa(end))
			q.Set("limit", strconv.Itoa(limit))
			// An unreachable URL: the client must follow the offset only.
			next = map[string]any{"offset": end, "limit": limit, "url": "http://hub-internal:8081/hub/api/users?" + q.Encode()}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"items":       items,
			"_pagination": map[string]any{"offset": offset, "limit": limit, "total": len(names), "next": next},
		})
	}
}

func TestUsersPagination(t *testing.T) {
	t.Parallel()
	names := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("user-%02d", i))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		users     int
		limit     int
		state     string
		wantPages []string // query of each request
	}{
		{"no users", 0, 3, "", []string{""}},
		{"one page", 3, 3, "", []string{""}},
		{"exactly two pages", 6, 3, "", []string{"", "offset=3"}},
		{"partial last page, state kept", 7, 3, StateReady, []string{"state=ready", "offset=3&state=ready", "offset=6&state=ready"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := names(tc.users)
			hub, c := newFakeHub(t, pagedUsers(t, want, tc.limit))
			users, err := c.Users(context.Background(), tc.state)
			require.NoError(t, err)
			var got []string
			for _, u := range users {
				got = append(got, u.Name)
			}
			assert.Equal(t, want, got)
			var queries []string
			for len(hub.reqs) > 0 {
				queries = append(queries, (<-hub.reqs).RawQuery)
			}
			assert.Equal(t, tc.wantPages, queries)
		})
	}
}

func TestUsersFromAHubWithoutPagination(t *testing.T) {
	t.Parallel()
	_, c := newFakeHub(t, answer(200, `[{"name": "a"}, {"name": "b"}]`))
	users, err := c.Users(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, []User{{Name: "a"}, {Name: "b"}}, users)
}

func TestUsersPaginationErrors(t *testing.T) {
	t.Parallel()
	t.Run("next does not advance", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeHub(t, answer(200, `{"items": [{"name": "a"}], "_pagination": {"offset": 0, "limit": 1, "total": 2, "next": {"offset": 0, "limit": 1}}}`))
		_, err := c.Users(context.Background(), "")
		assert.EqualError(t, err, "GET /users: pagination does not advance (next offset 0)")
	})
	t.Run("second page fails", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeHub(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("offset") != "" {
				answer(500, `{"status": 500, "message": "db gone"}`)(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"items": [{"name": "a"}], "_pagination": {"next": {"offset": 1, "limit": 1}}}`)
		})
		_, err := c.Users(context.Background(), "")
		var herr *Error
		require.ErrorAs(t, err, &herr)
		assert.Equal(t, 500, herr.StatusCode)
		assert.Contains(t, err.Error(), "GET /users?offset=1: ")
	})
	t.Run("bad state", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeHub(t, answer(400, `{"status": 400, "message": "Unrecognized state filter: 'x'"}`))
		_, err := c.Users(context.Background(), "x")
		assert.EqualError(t, err, "GET /users?state=x: hub API: 400 Bad Request: Unrecognized state filter: 'x'")
	})
	t.Run("garbage", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeHub(t, answer(200, `{"items": 3}`))
		_, err := c.Users(context.Background(), "")
		assert.ErrorContains(t, err, "GET /users: decode answer: ")
	})
}

func TestStartServerErrors(t *testing.T) {
	t.Parallel()
	_, c := newFakeHub(t, answer(400, `{"status": 400, "message": "alice's server is already running"}`))
	pending, err := c.StartServer(context.Background(), "alice", "", nil)
	assert.False(t, pending)
	assert.EqualError(t, err, "POST /users/alice/server: hub API: 400 Bad Request: alice's server is already running")
}
