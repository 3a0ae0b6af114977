package launchcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/launcher/agent"
	"kubedesk.dev/kubedesk/launcher/launchcli"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi/sessionapitest"
)

const waitShort = 5 * time.Second

// service is a fake spawner service: one session (token "tok"), one app
// in its catalog (itksnap). startAgent holds it to openapi.yaml
// (sessionapitest.Checked).
type service struct {
	mu       sync.Mutex
	launched []sessionapi.LaunchRequest
	gets     int
	stopped  []string
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer tok" {
		reply(w, http.StatusUnauthorized, sessionapi.Error{Code: "invalid_token", Message: "The session token is not valid."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := sessionapi.App{ID: "itksnap-1", App: "itksnap", Version: "4.2.2", Status: "starting", Pod: "app-x",
		Xpra: &sessionapi.Xpra{Host: "10.1.2.3", Port: 14500, Password: "never-shown"}}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/session/apps":
		var req sessionapi.LaunchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, sessionapi.Error{Code: "bad_request", Message: err.Error()})
			return
		}
		s.launched = append(s.launched, req)
		if req.App != "itksnap" {
			reply(w, http.StatusNotFound, sessionapi.Error{Code: "unknown_app",
				Message: "There is no app \"" + req.App + "\" in the catalog; did you mean itksnap?"})
			return
		}
		reply(w, http.StatusAccepted, app)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/session/apps":
		reply(w, http.StatusOK, []sessionapi.App{app})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/session/apps/itksnap-1":
		if s.gets++; s.gets > 1 {
			app.Status = "running"
		}
		reply(w, http.StatusOK, app)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v1/session/apps/"):
		s.stopped = append(s.stopped, strings.TrimPrefix(r.URL.Path, "/api/v1/session/apps/"))
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// reply writes v as a JSON response with status. A failed write is the
// client's to see (a cut body), so the fake does not look at it.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// startAgent serves the agent's launch API on a fresh socket against a
// fake service; uid -1 is the test's own.
func startAgent(t *testing.T, uid int) (*service, string) {
	svc := &service{}
	srv := httptest.NewServer(sessionapitest.Checked(t, svc))
	t.Cleanup(srv.Close)
	dir, err := os.MkdirTemp("", "kd") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "launcher.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	hc := &http.Client{Transport: &http.Transport{}}
	go func() {
		done <- agent.ServeLaunchAPI(ctx, socket, srv.URL, tokenFile, uid, hc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("launch API: %v", err)
			}
		case <-time.After(waitShort):
			t.Error("launch API did not stop")
		}
		hc.CloseIdleConnections()
	})
	// Wait for the socket (the listener creates it before serving).
	deadline := time.After(waitShort)
	for {
		if fi, err := os.Stat(socket); err == nil {
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("launch API ended: %v", err)
		case <-deadline:
			t.Fatal("no socket")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return svc, socket
}

func run(t *testing.T, socket string, args ...string) (string, error) {
	t.Helper()
	cli := &launchcli.CLI{
		Socket: socket, Dir: "/home/jovyan/data", PollInterval: time.Millisecond,
		Stat: func(p string) (fs.FileInfo, error) {
			if p == "/home/jovyan/data/brain.nii.gz" {
				return nil, nil
			}
			return nil, fs.ErrNotExist
		},
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	err := cli.Run(ctx, args, &out, io.Discard)
	return out.String(), err
}

func TestLaunch(t *testing.T) {
	t.Parallel()
	svc, socket := startAgent(t, -1)
	for _, tc := range []struct {
		name string
		args []string
		want sessionapi.LaunchRequest
	}{
		{"menu entry", []string{"itksnap", "4.2.2", "/home/jovyan/a.nii"}, sessionapi.LaunchRequest{App: "itksnap", Version: "4.2.2", Files: []string{"/home/jovyan/a.nii"}}},
		{"relative file", []string{"itksnap", "4.2.2", "brain.nii.gz", "../b.nii"}, sessionapi.LaunchRequest{App: "itksnap", Version: "4.2.2", Files: []string{"/home/jovyan/data/brain.nii.gz", "/home/jovyan/b.nii"}}},
		{"file instead of a version", []string{"itksnap", "brain.nii.gz"}, sessionapi.LaunchRequest{App: "itksnap", Files: []string{"/home/jovyan/data/brain.nii.gz"}}},
		{"newest version", []string{"itksnap"}, sessionapi.LaunchRequest{App: "itksnap"}},
	} {
		out, err := run(t, socket, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(out, "Launching itksnap 4.2.2 (id itksnap-1)") {
			t.Errorf("%s: output %q", tc.name, out)
		}
		svc.mu.Lock()
		got := svc.launched[len(svc.launched)-1]
		svc.mu.Unlock()
		if g, w := jsonOf(got), jsonOf(tc.want); g != w {
			t.Errorf("%s: service got %s, want %s", tc.name, g, w)
		}
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestLaunchUnknownApp(t *testing.T) {
	t.Parallel()
	_, socket := startAgent(t, -1)
	_, err := run(t, socket, "itksnapp")
	if code := launchcli.ExitCode(err); code != launchcli.ExitFailure {
		t.Fatalf("exit code %d (%v)", code, err)
	}
	if want := `There is no app "itksnapp" in the catalog; did you mean itksnap?`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestListStopWait(t *testing.T) {
	t.Parallel()
	svc, socket := startAgent(t, -1)
	out, err := run(t, socket, "--list")
	if err != nil || !strings.Contains(out, "itksnap-1") || strings.Contains(out, "never-shown") {
		t.Fatalf("--list: %v\n%s", err, out)
	}
	if out, err := run(t, socket, "--stop", "itksnap-1"); err != nil || out != "Stopping itksnap-1.\n" {
		t.Fatalf("--stop: %v %q", err, out)
	}
	if svc.stopped[0] != "itksnap-1" {
		t.Errorf("stopped %v", svc.stopped)
	}
	if out, err := run(t, socket, "--wait", "itksnap"); err != nil || !strings.HasSuffix(out, "itksnap-1 is running.\n") {
		t.Fatalf("--wait: %v %q", err, out)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	if _, err := run(t, filepath.Join(t.TempDir(), "none.sock"), "itksnap"); launchcli.ExitCode(err) != launchcli.ExitUnreachable {
		t.Errorf("no agent: exit %d (%v)", launchcli.ExitCode(err), err)
	}
	if _, err := run(t, "/nonexistent"); launchcli.ExitCode(err) != launchcli.ExitUsage {
		t.Errorf("no app: exit %d (%v)", launchcli.ExitCode(err), err)
	}
	if _, err := run(t, "/nonexistent", "--list", "x"); launchcli.ExitCode(err) != launchcli.ExitUsage {
		t.Errorf("--list x: exit %d (%v)", launchcli.ExitCode(err), err)
	}
	// A caller with another uid (SO_PEERCRED) is refused.
	_, socket := startAgent(t, os.Getuid()+1)
	_, err := run(t, socket, "itksnap")
	if launchcli.ExitCode(err) != launchcli.ExitFailure || !strings.Contains(err.Error(), "Only the session's user") {
		t.Errorf("other uid: exit %d (%v)", launchcli.ExitCode(err), err)
	}
}
