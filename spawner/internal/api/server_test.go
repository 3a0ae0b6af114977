package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/apps"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/internal/sessiontoken"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

const hubToken = "0123456789abcdef-hub-token"

// fakeSessions records what the API asked of the session manager.
type fakeSessions struct {
	mu      sync.Mutex
	ready   bool
	spawned []session.Key
	specs   []session.Spec
	stopped []session.Key
	// volumes are the servers whose volumes were deleted; volumesErr is
	// the answer of DeleteVolumes.
	volumes    []session.Key
	volumesErr error
	logs       map[session.Key]*progress.Log
	err        error
}

func (f *fakeSessions) Ready() bool { return f.ready }
func (f *fakeSessions) Get(k session.Key) (session.Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.spawned {
		if s == k {
			return session.Session{User: k.User, Server: k.Server, Status: session.StatusPending}, true
		}
	}
	return session.Session{}, false
}
func (f *fakeSessions) List() []session.Session { return []session.Session{} }
func (f *fakeSessions) Spawn(_ context.Context, k session.Key, spec session.Spec) (session.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return session.Session{}, f.err
	}
	f.spawned = append(f.spawned, k)
	f.specs = append(f.specs, spec)
	return session.Session{User: k.User, Server: k.Server, Status: session.StatusPending}, nil
}
func (f *fakeSessions) Stop(_ context.Context, k session.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, k)
	return nil
}
func (f *fakeSessions) DeleteVolumes(_ context.Context, k session.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.volumesErr != nil {
		return f.volumesErr
	}
	f.volumes = append(f.volumes, k)
	return nil
}
func (f *fakeSessions) Progress(k session.Key) (*progress.Log, bool) {
	l, ok := f.logs[k]
	return l, ok
}

type fakeProfiles struct{}

func (fakeProfiles) Resolve(opts map[string]any) (string, podspec.Settings, error) {
	if p, ok := opts["profile"]; ok && p != "desktop" {
		return "", podspec.Settings{}, &OptionsError{Field: "profile", Message: fmt.Sprintf(`Unknown profile "%v"; choose one of "desktop".`, p)}
	}
	return "desktop", podspec.Defaults(), nil
}
func (fakeProfiles) Public() any  { return []map[string]string{{"slug": "desktop"}} }
func (fakeProfiles) Form() string { return `<input type="radio" name="profile" value="desktop">` }

// fakeApps records launches; it refuses "forbidden-app" like a profile would.
type fakeApps struct {
	mu       sync.Mutex
	launched []apps.Caller
	// owned are the apps that exist: id → the UID of the session pod that
	// launched them. Get, List and Stop answer for the caller's own only,
	// as the manager does, so a handler that passed another caller than
	// the token's would be seen.
	owned map[string]string
}

func (f *fakeApps) Ready() bool { return true }

// Catalog has an entry with every field the service uses to build pods.
func (f *fakeApps) Catalog(apps.Caller) ([]catalog.App, error) {
	return []catalog.App{{
		ID: "xterm", Name: "XTerm", Version: "1", Description: "A terminal", Icon: "xterm",
		Categories: []string{"System"}, FileTypes: []string{".txt"}, Terminal: true,
		Image: "registry.example/xterm:1", Command: []string{"xterm"}, Args: []string{"{file}"},
		Env: map[string]string{"LICENSE_SERVER": "secret-host:27000"}, Resources: catalog.Resources{CPU: "1", GPU: "1"},
		Placement: catalog.Placement{NodeSelector: map[string]string{"pool": "gpu"}}, Profiles: []string{"gpu"},
	}}, nil
}
func (f *fakeApps) Launch(_ context.Context, c apps.Caller, r sessionapi.LaunchRequest) (sessionapi.App, error) {
	if r.App == "forbidden-app" {
		return sessionapi.App{}, &apps.Error{Code: apps.CodeNotAllowed, Message: "not in this profile"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.launched = append(f.launched, c)
	return sessionapi.App{ID: "pod-1", App: r.App, Status: sessionapi.StatusStarting}, nil
}
func (f *fakeApps) List(_ context.Context, c apps.Caller) ([]sessionapi.App, error) {
	var out []sessionapi.App
	for id, uid := range f.owned {
		if uid == c.SessionUID {
			out = append(out, sessionapi.App{ID: id, App: "xterm", Status: sessionapi.StatusRunning})
		}
	}
	return out, nil
}
func (f *fakeApps) Get(_ context.Context, c apps.Caller, id string) (sessionapi.App, error) {
	if uid, ok := f.owned[id]; ok && uid == c.SessionUID {
		return sessionapi.App{ID: id, App: "xterm", Status: sessionapi.StatusRunning}, nil
	}
	return sessionapi.App{}, &apps.Error{Code: apps.CodeNotFound, Message: "No such app in this session."}
}
func (f *fakeApps) Stop(context.Context, apps.Caller, string) error { return nil }

var testSigner = func() *sessiontoken.Signer {
	s, err := sessiontoken.NewSigner([]byte("0123456789abcdef0123456789abcdef"), time.Hour)
	if err != nil {
		panic(err)
	}
	return s
}()

func newTestServer(t *testing.T, sessions *fakeSessions) http.Handler {
	t.Helper()
	return newTestServerWithApps(t, sessions, &fakeApps{})
}

func newTestServerWithApps(t *testing.T, sessions *fakeSessions, a *fakeApps) http.Handler {
	t.Helper()
	h, err := New(Options{
		Apps:         a,
		Tokens:       testSigner,
		HubToken:     hubToken,
		MaxBodyBytes: 4096,
		Sessions:     sessions,
		Profiles:     fakeProfiles{},
		Metrics:      metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil }),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return h
}

func do(t *testing.T, h http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) sessionapi.Error {
	t.Helper()
	var e sessionapi.Error
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	return e
}

const validBody = `{"user_options": {}, "env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "JUPYTERHUB_API_TOKEN": "secret"}}`

func TestNewRefusesEmptyToken(t *testing.T) {
	t.Parallel()
	_, err := New(Options{})
	require.ErrorContains(t, err, "hub token is required")
}

func TestRequestsThatAreRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		method      string
		path        string
		auth        string
		body        string
		notReady    bool
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		{"no token", "GET", "/api/v1/sessions", "", "", false, 401, "unauthorized", "This API is for JupyterHub only"},
		{"wrong token", "GET", "/api/v1/sessions", "Bearer not-the-token", "", false, 401, "unauthorized", ""},
		{"token of the right length but wrong", "GET", "/api/v1/profiles", "Bearer 0123456789abcdef-hub-tokeN", "", false, 401, "unauthorized", ""},
		{"unknown scheme", "GET", "/api/v1/profiles", "Basic " + hubToken, "", false, 401, "unauthorized", ""},
		{"oversized body", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken,
			`{"env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "X": "` + strings.Repeat("a", 5000) + `"}}`, false, 413, "too_large", "larger than the 4096 bytes"},
		{"malformed JSON", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken, `{"env": `, false, 400, "bad_request", "not a valid spawn request"},
		{"unknown field", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken,
			`{"user_option": {}, "env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}}`, false, 400, "bad_request", `unknown field "user_option"`},
		{"trailing data", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken, validBody + `{}`, false, 400, "bad_request", "data after the JSON object"},
		{"a start timeout below a second", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken,
			`{"env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}, "start_timeout": 1.2e-07}`, false, 400, "bad_request", "at least 1 second"},
		{"a null in the environment", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken,
			`{"env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "X": null}}`, false, 400, "bad_request", "env.X is null"},
		{"missing service prefix", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken, `{"env": {}}`, false, 400, "invalid_env", "JUPYTERHUB_SERVICE_PREFIX"},
		{"bad env name", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken,
			`{"env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/", "A B": "x"}}`, false, 400, "invalid_env", `"A B" is not a valid environment variable name`},
		{"unknown profile", "POST", "/api/v1/users/alice/server", "Bearer " + hubToken,
			`{"user_options": {"profile": "gpu"}, "env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}}`, false, 400, "invalid_options", `Unknown profile "gpu"`},
		{"user name over 255 bytes", "GET", "/api/v1/users/" + strings.Repeat("%C3%A9", 128) + "/server", "Bearer " + hubToken, "", false, 400, "invalid_name", "at most 255 bytes"},
		{"not ready after restart", "GET", "/api/v1/users/alice/server", "Bearer " + hubToken, "", true, 503, "not_ready", "still loading"},
		{"unknown route", "GET", "/api/v1/nothing", "Bearer " + hubToken, "", false, 404, "not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sessions := &fakeSessions{ready: !tc.notReady}
			rec := do(t, newTestServer(t, sessions), tc.method, tc.path, tc.auth, tc.body)
			require.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			e := decodeError(t, rec)
			assert.Equal(t, tc.wantCode, e.Code)
			assert.Contains(t, e.Message, tc.wantMessage)
			assert.Empty(t, sessions.spawned, "a refused request must change nothing")
			assert.Empty(t, sessions.stopped, "a refused request must change nothing")
			if tc.wantStatus == 401 {
				assert.Equal(t, `Bearer realm="kubedesk"`, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestCreatePassesNamesAndEnv(t *testing.T) {
	t.Parallel()
	sessions := &fakeSessions{ready: true}
	h := newTestServer(t, sessions)
	for _, auth := range []string{"Bearer " + hubToken, "token " + hubToken} {
		rec := do(t, h, "POST", "/api/v1/users/J%C3%B6rg%2FM%C3%BCller/servers/gpu%20box", auth, validBody)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	}
	require.Len(t, sessions.spawned, 2)
	assert.Equal(t, session.Key{User: "Jörg/Müller", Server: "gpu box"}, sessions.spawned[0])
	assert.Equal(t, "desktop", sessions.specs[0].Profile)
	assert.Equal(t, "secret", sessions.specs[0].Env["JUPYTERHUB_API_TOKEN"])

	rec := do(t, h, "POST", "/api/v1/users/alice/server", "Bearer "+hubToken, validBody)
	require.Equal(t, http.StatusAccepted, rec.Code)
	assert.Equal(t, session.Key{User: "alice"}, sessions.spawned[2], "the default server is the empty name")

	// A name with "%" in it is decoded once: Go keeps no raw path when the
	// default escaping gives the request's, and the router then saw the
	// decoded name, which was decoded a second time (schemathesis found it).
	rec = do(t, h, "POST", "/api/v1/users/50%25%20off/servers/%C3%81%25%C3%AC", "Bearer "+hubToken, validBody)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Equal(t, session.Key{User: "50% off", Server: "Á%ì"}, sessions.spawned[3])
}

// delete_forever reaches the manager with the server's names; a server
// that runs is a 409 with the manager's code, and a failure is no 204.
func TestDeleteVolumes(t *testing.T) {
	t.Parallel()
	sessions := &fakeSessions{ready: true}
	h := newTestServer(t, sessions)
	rec := do(t, h, "DELETE", "/api/v1/users/J%C3%B6rg/servers/gpu%20box/volumes", "Bearer "+hubToken, "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	rec = do(t, h, "DELETE", "/api/v1/users/alice/server/volumes", "Bearer "+hubToken, "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.Equal(t, []session.Key{{User: "Jörg", Server: "gpu box"}, {User: "alice"}}, sessions.volumes)

	rec = do(t, h, "DELETE", "/api/v1/users/alice/server/volumes", "", "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "the hub's token only")

	sessions.volumesErr = &session.Error{Code: session.CodeRunning, Message: "The server still runs."}
	rec = do(t, h, "DELETE", "/api/v1/users/alice/server/volumes", "Bearer "+hubToken, "")
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "running", decodeError(t, rec).Code)

	sessions.volumesErr = fmt.Errorf("delete home volume hub/claim-alice: the API server is away")
	rec = do(t, h, "DELETE", "/api/v1/users/alice/server/volumes", "Bearer "+hubToken, "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "delete_failed", decodeError(t, rec).Code)
	assert.Len(t, sessions.volumes, 2)
}

func TestCreateConflict(t *testing.T) {
	t.Parallel()
	sessions := &fakeSessions{ready: true, err: &session.Error{Code: session.CodeBusy, Message: "The server is starting; try again when that is done."}}
	rec := do(t, newTestServer(t, sessions), "POST", "/api/v1/users/alice/server", "Bearer "+hubToken, validBody)
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Equal(t, "busy", decodeError(t, rec).Code)
}

// A create the service could not record is "ask again", like a service that
// is still rebuilding its state: 503 with Retry-After, never 500.
func TestCreateNotRecordedIsAskAgain(t *testing.T) {
	t.Parallel()
	sessions := &fakeSessions{ready: true, err: &session.Error{Code: session.CodeUnavailable, Message: "The service could not record the spawn in the cluster; try again in a moment."}}
	rec := do(t, newTestServer(t, sessions), "POST", "/api/v1/users/alice/server", "Bearer "+hubToken, validBody)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "unavailable", decodeError(t, rec).Code)
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
}

// The same body is the same start: its digest is what the manager matches;
// another hub token (another start) gets another digest.
func TestCreateDigestNamesOneStart(t *testing.T) {
	t.Parallel()
	sessions := &fakeSessions{ready: true}
	h := newTestServer(t, sessions)
	other := strings.Replace(validBody, `"secret"`, `"another-secret"`, 1)
	require.NotEqual(t, validBody, other)
	for _, body := range []string{validBody, validBody, other} {
		rec := do(t, h, "POST", "/api/v1/users/alice/server", "Bearer "+hubToken, body)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	}
	require.Len(t, sessions.specs, 3)
	assert.NotEmpty(t, sessions.specs[0].Request)
	assert.Equal(t, sessions.specs[0].Request, sessions.specs[1].Request)
	assert.NotEqual(t, sessions.specs[0].Request, sessions.specs[2].Request)
}

func TestProgressStreamReplaysAndEnds(t *testing.T) {
	t.Parallel()
	log := progress.New()
	log.Append(progress.Event{Kind: progress.KindProgress, Progress: 20, Message: "Kubernetes accepted the desktop pod."})
	sessions := &fakeSessions{ready: true, logs: map[session.Key]*progress.Log{{User: "alice"}: log}}
	srv := httptest.NewServer(newTestServer(t, sessions))
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/users/alice/server/progress", nil)
	req.Header.Set("Authorization", "Bearer "+hubToken)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	log.Append(progress.Event{Kind: progress.KindReady, Progress: 100, Message: "Your desktop is ready.", URL: "http://127.42.0.9:8888"})
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	assert.Equal(t, []string{
		"event: progress",
		`data: {"progress":20,"message":"Kubernetes accepted the desktop pod."}`,
		"event: ready",
		`data: {"progress":100,"message":"Your desktop is ready.","url":"http://127.42.0.9:8888"}`,
	}, lines, "the stream replays history, follows, and ends after the terminal event")

	rec := do(t, newTestServer(t, sessions), "GET", "/api/v1/users/bob/server/progress", "Bearer "+hubToken, "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

// TestOpenAPIMatchesRoutes keeps openapi.yaml and the handlers in step: every
// documented operation is served, and every served /api/v1 route is
// documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(OpenAPI, &doc))
	require.Equal(t, Prefix, doc.Servers[0].URL)
	var documented []string
	param := regexp.MustCompile(`\{(\w+)\}`)
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+Prefix+param.ReplaceAllString(path, ":$1"))
		}
	}
	h := newTestServer(t, &fakeSessions{ready: true})
	var served []string
	for _, r := range h.(*echo.Echo).Routes() {
		if strings.HasPrefix(r.Path, Prefix) && r.Path != Prefix+"/openapi.yaml" && !strings.HasPrefix(r.Method, "echo_") {
			served = append(served, r.Method+" "+r.Path)
		}
	}
	sort.Strings(documented)
	sort.Strings(served)
	assert.Equal(t, documented, served)
}

func TestSessionRoutes(t *testing.T) {
	t.Parallel()
	token, err := testSigner.Mint("alice", "", "uid-1")
	require.NoError(t, err)
	other, err := sessiontoken.NewSigner([]byte("another-key-another-key-another-k"), time.Hour)
	require.NoError(t, err)
	forged, err := other.Mint("alice", "", "uid-1")
	require.NoError(t, err)

	cases := []struct {
		name, method, path, auth, body string
		status                         int
		code                           string
	}{
		{"launch with the session token", "POST", "/api/v1/session/apps", "Bearer " + token, `{"app": "xterm"}`, 202, ""},
		{"the hub's token is not a session token", "POST", "/api/v1/session/apps", "Bearer " + hubToken, `{"app": "xterm"}`, 401, "invalid_token"},
		{"token signed with another key", "POST", "/api/v1/session/apps", "Bearer " + forged, `{"app": "xterm"}`, 401, "invalid_token"},
		{"no token", "GET", "/api/v1/session/catalog", "", "", 401, "unauthorized"},
		{"unknown field", "POST", "/api/v1/session/apps", "Bearer " + token, `{"app": "xterm", "image": "evil"}`, 400, "bad_request"},
		{"no app", "POST", "/api/v1/session/apps", "Bearer " + token, `{}`, 400, "bad_request"},
		{"refused by the manager", "POST", "/api/v1/session/apps", "Bearer " + token, `{"app": "forbidden-app"}`, 403, "not_allowed"},
		{"its own app", "GET", "/api/v1/session/apps/pod-of-alice", "Bearer " + token, "", 200, ""},
		{"another session's app", "GET", "/api/v1/session/apps/pod-of-bob", "Bearer " + token, "", 404, "not_found"},
		{"session token on hub routes", "GET", "/api/v1/sessions", "Bearer " + token, "", 401, "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Alice's session is uid-1; bob's app exists, in his.
			a := &fakeApps{owned: map[string]string{"pod-of-alice": "uid-1", "pod-of-bob": "uid-2"}}
			rec := do(t, newTestServerWithApps(t, &fakeSessions{ready: true}, a), tc.method, tc.path, tc.auth, tc.body)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			switch {
			case tc.code != "":
				assert.Equal(t, tc.code, decodeError(t, rec).Code)
				assert.Empty(t, a.launched, "a refused request launches nothing")
			case tc.method == "POST":
				assert.Equal(t, []apps.Caller{{User: "alice", SessionUID: "uid-1"}}, a.launched, "the caller comes from the token")
			default:
				assert.Contains(t, rec.Body.String(), `"id":"pod-of-alice"`)
			}
		})
	}
}

// TestSessionCatalogIsWhatMenusShow: a session, where any user code runs,
// reads the apps it may launch as its menus show them, and nothing of how
// the service builds their pods (image, command, env, resources,
// placement, profiles).
func TestSessionCatalogIsWhatMenusShow(t *testing.T) {
	t.Parallel()
	token, err := testSigner.Mint("alice", "", "uid-1")
	require.NoError(t, err)
	rec := do(t, newTestServerWithApps(t, &fakeSessions{ready: true}, &fakeApps{}), "GET", "/api/v1/session/catalog", "Bearer "+token, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got []map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{
		"id": "xterm", "name": "XTerm", "version": "1", "description": "A terminal", "icon": "xterm",
		"categories": []any{"System"}, "file_types": []any{".txt"}, "terminal": true,
	}, got[0])
}

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	ready := false
	h := NewOps(func() bool { return ready }, nil, nil, prometheus.NewRegistry())
	for _, tc := range []struct {
		path string
		want int
	}{{"/healthz", 200}, {"/readyz", 503}, {"/metrics", 200}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		assert.Equal(t, tc.want, rec.Code, tc.path)
	}
	ready = true
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "ok\n", rec.Body.String())
}

// A configuration that leaves users without apps is still ready, and
// /readyz says what is missing.
func TestReadyzNamesWarnings(t *testing.T) {
	t.Parallel()
	h := NewOps(func() bool { return true }, nil, []string{"no app catalog"}, prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "ok\nwarning: no app catalog\n", rec.Body.String())
}

// A method a route does not have is 405 with Allow, as HTTP says, not 404
// (schemathesis found TRACE /profiles answered 404); a path no route has
// is 404; both are JSON errors.
func TestWrongMethodAndUnknownPath(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, &fakeSessions{ready: true})
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"TRACE", "/api/v1/profiles", http.StatusMethodNotAllowed, "GET, OPTIONS"},
		{"PUT", "/api/v1/users/alice/server", http.StatusMethodNotAllowed, "DELETE, GET, OPTIONS, POST"},
		{"PATCH", "/api/v1/session/apps", http.StatusMethodNotAllowed, "GET, OPTIONS, POST"},
		{"GET", "/api/v1/no-such-route", http.StatusNotFound, ""},
	} {
		rec := do(t, h, tc.method, tc.path, "Bearer "+hubToken, "")
		assert.Equal(t, tc.status, rec.Code, "%s %s: %s", tc.method, tc.path, rec.Body)
		if tc.allow != "" {
			allow := strings.Split(strings.ReplaceAll(rec.Header().Get("Allow"), " ", ""), ",")
			slices.Sort(allow)
			assert.Equal(t, tc.allow, strings.Join(allow, ", "), "%s %s: Allow", tc.method, tc.path)
		}
		assert.NotEmpty(t, decodeError(t, rec).Code, "%s %s", tc.method, tc.path)
	}
}
