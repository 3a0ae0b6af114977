package sessionapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/sessionapi/sessionapitest"
)

// TestClient: each call sends the token its file holds at that moment,
// to the route of the session API, and reads the answer or the Error.
func TestClient(t *testing.T) {
	t.Parallel()
	var seen []string
	// The fake is held to openapi.yaml (what it answers, the service
	// would), but for GET /apps, which answers what a proxy in between may
	// and the service never does: a 418 in plain text.
	service := sessionapitest.Checked(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /api/v1/session/catalog":
			_ = json.NewEncoder(w).Encode([]CatalogApp{{ID: "xterm", Name: "XTerm", Version: "1"}})
		case "POST /api/v1/session/apps":
			var req LaunchRequest
			require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(App{ID: "xterm-1", App: req.App, Status: StatusStarting})
		case "GET /api/v1/session/apps/a b":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"not_found","message":"No such app in this session."}`))
		case "DELETE /api/v1/session/apps/gone":
			w.Header().Del("Content-Type")
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.EscapedPath()+" "+r.Header.Get("Authorization"))
		if r.Method == http.MethodGet && r.URL.Path == "/api/v1/session/apps" {
			http.Error(w, "no route", http.StatusTeapot)
			return
		}
		service.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("first\n"), 0o600))
	c := NewClient(srv.URL+"/", token, srv.Client())
	ctx := t.Context()

	list, err := c.Catalog(ctx)
	require.NoError(t, err)
	assert.Equal(t, []CatalogApp{{ID: "xterm", Name: "XTerm", Version: "1"}}, list)

	require.NoError(t, os.WriteFile(token, []byte("renewed"), 0o600))
	a, err := c.Launch(ctx, LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	assert.Equal(t, App{ID: "xterm-1", App: "xterm", Status: StatusStarting}, a)

	_, err = c.Get(ctx, "a b")
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "No such app in this session."}, e)
	require.NoError(t, c.Stop(ctx, "gone"))

	_, err = c.List(ctx)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "http_418", e.Code, "a body that is no Error document")
	assert.Equal(t, "no route", e.Message)

	assert.Equal(t, []string{
		"GET /api/v1/session/catalog Bearer first",
		"POST /api/v1/session/apps Bearer renewed",
		"GET /api/v1/session/apps/a%20b Bearer renewed",
		"DELETE /api/v1/session/apps/gone Bearer renewed",
		"GET /api/v1/session/apps Bearer renewed",
	}, seen)
}

func TestClientFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := NewClient("http://127.0.0.1:1", filepath.Join(dir, "missing"), nil).Catalog(t.Context())
	require.ErrorContains(t, err, "read the session token")
	assert.False(t, errors.Is(err, ErrUnreachable), "the agent's own trouble, not the service's")

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n"), 0o600))
	_, err = NewClient("http://127.0.0.1:1", empty, nil).Catalog(t.Context())
	require.ErrorContains(t, err, "is empty")

	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("t"), 0o600))
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there now
	_, err = NewClient(srv.URL, token, nil).Catalog(t.Context())
	assert.ErrorIs(t, err, ErrUnreachable)
}
