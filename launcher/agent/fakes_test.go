package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi/sessionapitest"
)

// Named timeouts: how long a test waits for something that should happen.
const (
	waitShort = 5 * time.Second
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeService is the spawner service's session routes: each bearer token
// is a session with its own apps. Every request and answer is held to
// openapi.yaml (sessionapitest.Checked).
type fakeService struct {
	srv *httptest.Server

	mu       sync.Mutex
	catalog  []sessionapi.CatalogApp     // as the service lists it
	sessions map[string][]sessionapi.App // token → apps
	launched []sessionapi.LaunchRequest
	stopped  []string
	nextID   int
	// asked are the tokens requests came with, in order.
	asked []string
}

func newFakeService(t *testing.T, tokens ...string) *fakeService {
	f := &fakeService{sessions: map[string][]sessionapi.App{}}
	for _, tok := range tokens {
		f.sessions[tok] = nil
	}
	f.catalog = []sessionapi.CatalogApp{
		{ID: "itksnap", Name: "ITK-SNAP", Version: "4.2.2", Categories: []string{"visualization"}},
		{ID: "fsleyes", Name: "FSLeyes", Version: "1.0", Categories: []string{"visualization"}},
	}
	f.srv = httptest.NewServer(sessionapitest.Checked(t, http.HandlerFunc(f.serve)))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeService) fail(w http.ResponseWriter, status int, code, msg string) {
	reply(w, status, sessionapi.Error{Code: code, Message: msg})
}

// reply writes v as a JSON response with status. A failed write is the
// client's to see (a cut body), so the fakes do not look at it.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, tok)
	apps, ok := f.sessions[tok]
	if scheme != "Bearer" || !ok {
		f.fail(w, http.StatusUnauthorized, "invalid_token", "The session token is not valid.")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v1/session")
	switch {
	case r.Method == http.MethodGet && path == "/catalog":
		reply(w, http.StatusOK, append([]sessionapi.CatalogApp{}, f.catalog...))
	case r.Method == http.MethodPost && path == "/apps":
		var req sessionapi.LaunchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.fail(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		f.launched = append(f.launched, req)
		var app *sessionapi.CatalogApp
		for i := range f.catalog {
			if f.catalog[i].ID == req.App {
				app = &f.catalog[i]
			}
		}
		if app == nil {
			f.fail(w, http.StatusNotFound, "unknown_app", fmt.Sprintf("There is no app %q in the catalog.", req.App))
			return
		}
		f.nextID++
		a := sessionapi.App{ID: fmt.Sprintf("%s-%d", req.App, f.nextID), App: req.App, Version: app.Version, Status: sessionapi.StatusStarting, Pod: "app-pod"}
		f.sessions[tok] = append([]sessionapi.App{a}, apps...)
		reply(w, http.StatusAccepted, a)
	case r.Method == http.MethodGet && path == "/apps":
		if apps == nil {
			apps = []sessionapi.App{}
		}
		reply(w, http.StatusOK, apps)
	case strings.HasPrefix(path, "/apps/"):
		id := strings.TrimPrefix(path, "/apps/")
		for i, a := range apps {
			if a.ID != id {
				continue
			}
			if r.Method == http.MethodDelete {
				f.stopped = append(f.stopped, id)
				apps[i].Status = sessionapi.StatusStopping
				w.WriteHeader(http.StatusNoContent)
				return
			}
			reply(w, http.StatusOK, a)
			return
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.fail(w, http.StatusNotFound, "not_found", "This session has no app "+id+".")
	default:
		f.fail(w, http.StatusNotFound, "not_found", "no route")
	}
}

// setApps replaces a session's apps.
func (f *fakeService) setApps(token string, apps ...sessionapi.App) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[token] = apps
}

func (f *fakeService) setStatus(token, id string, status sessionapi.Status, x *sessionapi.Xpra) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.sessions[token] {
		if f.sessions[token][i].ID == id {
			f.sessions[token][i].Status = status
			f.sessions[token][i].Xpra = x
		}
	}
}

// tokens are the distinct tokens requests came with.
func (f *fakeService) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, t := range f.asked {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (f *fakeService) launches() []sessionapi.LaunchRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sessionapi.LaunchRequest(nil), f.launched...)
}

func (f *fakeService) stops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stopped...)
}

// client returns a service client with a token file holding token.
func (f *fakeService) client(t *testing.T, token string) (*sessionapi.Client, string) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return sessionapi.NewClient(f.srv.URL, file, hc), file
}

func running(id, host string, port int32, password string) sessionapi.App {
	return sessionapi.App{ID: id, App: "itksnap", Version: "4.2.2", Status: sessionapi.StatusRunning, Pod: "app-" + id,
		Xpra: &sessionapi.Xpra{Host: host, Port: port, Password: password}}
}

// fakeAttacher records attaches; a test ends one with end(id, err).
type fakeAttacher struct {
	attached chan route
	detached chan string
	// silent attaches never connect (as one to a server that does not
	// answer); the others connect at once.
	silent bool

	mu   sync.Mutex
	ends map[string]chan error
}

func newFakeAttacher() *fakeAttacher {
	return &fakeAttacher{attached: make(chan route, 16), detached: make(chan string, 16), ends: map[string]chan error{}}
}

func (f *fakeAttacher) endc(id string) chan error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ends[id] == nil {
		f.ends[id] = make(chan error)
	}
	return f.ends[id]
}

func (f *fakeAttacher) Attach(ctx context.Context, r route, connected func()) error {
	if !f.silent {
		connected()
	}
	f.attached <- r
	select {
	case <-ctx.Done():
		f.detached <- r.AppID
		return ctx.Err()
	case err := <-f.endc(r.AppID):
		return err
	}
}

// end makes the running attach of app id return err.
func (f *fakeAttacher) end(t *testing.T, id string, err error) {
	t.Helper()
	select {
	case f.endc(id) <- err:
	case <-time.After(waitShort):
		t.Fatalf("no attach of %s to end", id)
	}
}

func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitShort):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// fakeHub is the hub's /hub/api: tokens and activity reports.
type fakeHub struct {
	srv      *httptest.Server
	tokens   map[string]*hubapi.Identity // token → owner
	expired  map[string]bool
	activity chan string // "user/server" per report
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{tokens: map[string]*hubapi.Identity{}, expired: map[string]bool{}, activity: make(chan string, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/hub/api/user":
			if h.expired[tok] {
				reply(w, http.StatusUnauthorized, map[string]any{"status": 401, "message": "token expired"})
				return
			}
			id, ok := h.tokens[tok]
			if !ok {
				reply(w, http.StatusForbidden, map[string]any{"status": 403, "message": "Forbidden"})
				return
			}
			reply(w, http.StatusOK, id)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/activity"):
			var body struct {
				Servers map[string]any `json:"servers"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				reply(w, http.StatusBadRequest, map[string]any{"status": 400, "message": err.Error()})
				return
			}
			user := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/hub/api/users/"), "/activity")
			for s := range body.Servers {
				h.activity <- user + "/" + s
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHub) client(t *testing.T) *hubapi.Client {
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &hubapi.Client{BaseURL: h.srv.URL + "/hub/api", Token: "server-token", HTTPClient: hc}
}
