package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// localAPI serves launchapi on a Unix socket for the launch CLI. Only the
// agent's own uid may call it: the socket is 0600 and each connection's
// SO_PEERCRED uid is checked.
type localAPI struct {
	socket string
	svc    sessionAPI
	// serviceURL is where svc calls, for the sentence users see when it
	// does not answer.
	serviceURL string
	log        *slog.Logger
	// uid is the uid allowed to call; the agent's own.
	uid int
	// kick asks the supervisor to look at the apps now (after a launch or
	// a stop); it never blocks.
	kick func()
}

type peerKey struct{}

// Start listens on the socket until ctx ends.
func (l *localAPI) Start(ctx context.Context) error {
	ln, err := listenUnix(l.socket)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           l.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       peerContext(l.log),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	l.log.Info("Launch API listening", "socket", l.socket)
	return serve(ctx, srv, ln, func() { _ = os.Remove(l.socket) })
}

// peerContext puts each connection's SO_PEERCRED uid (-1 if unknown) into
// its requests' context, under peerKey.
func peerContext(log *slog.Logger) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		uid, err := peerUID(c)
		if err != nil {
			log.Warn("No peer credentials on the launch socket", "err", err)
			uid = -1
		}
		return context.WithValue(ctx, peerKey{}, uid)
	}
}

// listenUnix listens on a 0600 socket at path, in place of a stale one.
// The folder is created 0700 if missing. The socket is bound under a
// name of its own beside path and renamed onto it once it listens, 0600:
// a client that finds path can connect at once, where a socket bound but
// not yet listening refuses it, and never finds it with another mode.
// The caller removes path when it is done (ln.Close leaves it).
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("launch socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("launch socket: %s exists and is not a socket", path)
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".kd%d", os.Getpid()))
	_ = os.Remove(tmp) // a killed agent's of the same pid
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("launch socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	err = os.Chmod(tmp, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("launch socket: %w", err)
	}
	return ln, nil
}

// serve runs srv on ln until ctx ends, then shuts it down gracefully
// (5 s), then hard.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, cleanup func()) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if cleanup != nil {
			cleanup()
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	// Serve returns ErrServerClosed once Shutdown (or Close) ran; any other
	// error is its own failure.
	err := <-errc
	if cleanup != nil {
		cleanup()
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (l *localAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /catalog", l.catalog)
	mux.HandleFunc("POST /apps", l.launch)
	mux.HandleFunc("GET /apps", l.list)
	mux.HandleFunc("GET /apps/{id}", l.get)
	mux.HandleFunc("DELETE /apps/{id}", l.stop)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uid, _ := r.Context().Value(peerKey{}).(int); uid != l.uid {
			l.log.Warn("Refused a launch API call from another uid", "uid", uid)
			writeError(w, &sessionapi.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "Only the session's user may use the launcher."})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// catalog answers the service's catalog for this session as it came (what
// a client shows, sessionapi.CatalogApp), so the JupyterLab extension and
// notebooks list the same apps as the desktop's menu.
func (l *localAPI) catalog(w http.ResponseWriter, r *http.Request) {
	list, err := l.svc.Catalog(r.Context())
	if err != nil {
		l.serviceError(w, "catalog", err)
		return
	}
	if list == nil {
		list = []sessionapi.CatalogApp{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (l *localAPI) launch(w http.ResponseWriter, r *http.Request) {
	var req sessionapi.LaunchRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, &sessionapi.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "The request is not a launch request: " + err.Error()})
		return
	}
	if req.App == "" {
		writeError(w, &sessionapi.Error{Status: http.StatusBadRequest, Code: "bad_request", Field: "app", Message: "Name the app to launch."})
		return
	}
	for _, f := range req.Files {
		if !filepath.IsAbs(f) {
			writeError(w, &sessionapi.Error{Status: http.StatusBadRequest, Code: "bad_file", Field: "files", Message: fmt.Sprintf("%q is not an absolute path.", f)})
			return
		}
	}
	a, err := l.svc.Launch(r.Context(), req)
	if err != nil {
		l.serviceError(w, "launch", err)
		return
	}
	l.log.Info("App launched", "app", a.App, "version", a.Version, "id", a.ID)
	l.kick()
	writeJSON(w, http.StatusAccepted, public(a))
}

func (l *localAPI) list(w http.ResponseWriter, r *http.Request) {
	list, err := l.svc.List(r.Context())
	if err != nil {
		l.serviceError(w, "list apps", err)
		return
	}
	out := make([]sessionapi.App, 0, len(list))
	for _, a := range list {
		out = append(out, public(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (l *localAPI) get(w http.ResponseWriter, r *http.Request) {
	a, err := l.svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		l.serviceError(w, "get app", err)
		return
	}
	writeJSON(w, http.StatusOK, public(a))
}

func (l *localAPI) stop(w http.ResponseWriter, r *http.Request) {
	if err := l.svc.Stop(r.Context(), r.PathValue("id")); err != nil {
		l.serviceError(w, "stop app", err)
		return
	}
	l.kick()
	w.WriteHeader(http.StatusNoContent)
}

// serviceError passes the service's own error through, or says the service
// could not be reached.
func (l *localAPI) serviceError(w http.ResponseWriter, what string, err error) {
	var e *sessionapi.Error
	if errors.As(err, &e) {
		writeError(w, e)
		return
	}
	l.log.Error("Service call failed", "call", what, "err", err)
	if isUnreachable(err) {
		writeError(w, &sessionapi.Error{Status: http.StatusBadGateway, Code: CodeServiceUnreachable,
			Message: unreachable(l.serviceURL, err)})
		return
	}
	writeError(w, &sessionapi.Error{Status: http.StatusServiceUnavailable, Code: CodeLauncherUnavailable,
		Message: "Apps are unavailable in this session: " + oneLine(err.Error()) + ". Tell your operator."})
}

// public drops what the local API never hands out: the Xpra secrets.
func public(a sessionapi.App) sessionapi.App {
	if a.Xpra != nil {
		x := *a.Xpra
		x.Password, x.EncryptionKey = "", ""
		a.Xpra = &x
	}
	return a
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *sessionapi.Error) {
	status := e.Status
	if status < 400 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, e)
}
