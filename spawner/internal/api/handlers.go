package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"kubedesk.dev/kubedesk/spawner/internal/httpguard"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

func (s *server) listProfiles(c echo.Context) error {
	return c.JSON(http.StatusOK, s.opts.Profiles.Public())
}

func (s *server) profileForm(c echo.Context) error {
	return c.HTML(http.StatusOK, s.opts.Profiles.Form())
}

func (s *server) listSessions(c echo.Context) error {
	return c.JSON(http.StatusOK, s.opts.Sessions.List())
}

// key reads the user and server from the path. Names arrive
// percent-encoded and may hold any Unicode.
func key(c echo.Context) (session.Key, error) {
	var k session.Key
	for _, p := range []struct {
		param string
		dst   *string
	}{{"user", &k.User}, {"server", &k.Server}} {
		raw := c.Param(p.param)
		if raw == "" {
			continue
		}
		v, err := url.PathUnescape(raw)
		if err != nil || !utf8.ValidString(v) || len(v) > 255 {
			return k, fail(http.StatusBadRequest, "invalid_name", fmt.Sprintf("The %s name in the path is not valid percent-encoded UTF-8 of at most 255 bytes.", p.param))
		}
		*p.dst = v
	}
	if k.User == "" {
		return k, fail(http.StatusBadRequest, "invalid_name", "The user name is empty.")
	}
	return k, nil
}

// createRequest is the body of a spawn.
type createRequest struct {
	UserOptions map[string]any `json:"user_options"`
	Env         hubEnv         `json:"env"`
	DisplayName string         `json:"display_name"`
	// StartTimeout is the hub's Spawner.start_timeout, in seconds.
	StartTimeout float64 `json:"start_timeout"`
}

// digest identifies a spawn request. The hub's environment holds the API
// token it minted for this start, so two requests with the same digest are
// one start sent twice (a retry after an answer that was lost, or after the
// service restarted), which the service answers as the first.
func (r createRequest) digest() string {
	data, _ := json.Marshal(r) // maps marshal with sorted keys: stable
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// hubEnv is the hub's environment for a server. A null value is refused:
// JupyterHub never sends one, and the server would start with that
// variable empty (schemathesis found null accepted as "").
type hubEnv map[string]string

func (e *hubEnv) UnmarshalJSON(data []byte) error {
	var raw map[string]*string
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*e = nil
		return nil
	}
	env := make(hubEnv, len(raw))
	for name, v := range raw {
		if v == nil {
			return fmt.Errorf("env.%s is null; the environment's values are strings", name)
		}
		env[name] = *v
	}
	*e = env
	return nil
}

func (s *server) create(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	var req createRequest
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	if err := validateEnv(map[string]string(req.Env)); err != nil {
		return err
	}
	profile, settings, err := s.opts.Profiles.Resolve(req.UserOptions)
	if err != nil {
		var oe *OptionsError
		if errors.As(err, &oe) {
			return echo.NewHTTPError(http.StatusBadRequest, sessionapi.Error{Code: "invalid_options", Message: oe.Message, Field: oe.Field})
		}
		return fail(http.StatusBadRequest, "invalid_options", err.Error())
	}
	// Below a second no spawn can be recorded, let alone start: the
	// deadline ended the intent's write and the hub heard "try again"
	// (schemathesis sent 1.2e-07).
	if req.StartTimeout < 0 || (req.StartTimeout > 0 && req.StartTimeout < 1) {
		return echo.NewHTTPError(http.StatusBadRequest, sessionapi.Error{Code: "bad_request", Field: "start_timeout",
			Message: "start_timeout must be 0 (none) or at least 1 second."})
	}
	spec := session.Spec{Profile: profile, Settings: settings, Env: map[string]string(req.Env), Request: req.digest()}
	if req.StartTimeout > 0 {
		spec.Deadline = time.Duration(req.StartTimeout * 0.9 * float64(time.Second))
	}
	sess, err := s.opts.Sessions.Spawn(c.Request().Context(), k, spec)
	if err != nil {
		return sessionError(c, err)
	}
	c.Response().Header().Set(echo.HeaderLocation, c.Request().URL.Path)
	return c.JSON(http.StatusAccepted, sess)
}

// decodeStrict decodes the request's body, one JSON object, and refuses
// unknown fields and trailing data, so a misspelt field is an error rather
// than ignored. The body must arrive within bodyReadTimeout.
func decodeStrict(c echo.Context, dst any) error {
	lift := httpguard.BodyDeadline(c.Response(), bodyReadTimeout)
	data, err := io.ReadAll(c.Request().Body)
	lift()
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // 413 from the body limit
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fail(http.StatusRequestTimeout, "timeout", fmt.Sprintf("The request body did not arrive within %s.", bodyReadTimeout))
		}
		return fail(http.StatusBadRequest, "bad_request", "The request body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fail(http.StatusBadRequest, "bad_request", "The request body is not a valid spawn request: "+err.Error())
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "bad_request", "The request body has data after the JSON object.")
	}
	return nil
}

func validateEnv(env map[string]string) error {
	prefix, ok := env["JUPYTERHUB_SERVICE_PREFIX"]
	if !ok || !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return echo.NewHTTPError(http.StatusBadRequest, sessionapi.Error{Code: "invalid_env", Field: "env.JUPYTERHUB_SERVICE_PREFIX",
			Message: "env must hold JUPYTERHUB_SERVICE_PREFIX, a path that starts and ends with '/' (the hub's Spawner.get_env() provides it)."})
	}
	for name := range env {
		if !envName.MatchString(name) {
			return echo.NewHTTPError(http.StatusBadRequest, sessionapi.Error{Code: "invalid_env", Field: "env",
				Message: fmt.Sprintf("%q is not a valid environment variable name.", name)})
		}
	}
	return nil
}

func sessionError(c echo.Context, err error) error {
	var se *session.Error
	if !errors.As(err, &se) {
		return err
	}
	status := http.StatusConflict
	if se.Code == session.CodeNotReady || se.Code == session.CodeUnavailable {
		status = http.StatusServiceUnavailable
		c.Response().Header().Set("Retry-After", "2")
	}
	return fail(status, se.Code, se.Message)
}

func (s *server) get(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	sess, ok := s.opts.Sessions.Get(k)
	if !ok {
		return fail(http.StatusNotFound, "not_found", "No such server.")
	}
	return c.JSON(http.StatusOK, sess)
}

// stop deletes the server's pod and waits until it is gone: JupyterHub's
// stop() must return only when the server no longer runs. The wait does not
// depend on the client staying connected.
func (s *server) stop(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.StopTimeout)
	defer cancel()
	if err := s.opts.Sessions.Stop(ctx, k); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fail(http.StatusGatewayTimeout, "timeout", "The server is still stopping; ask again to wait for it.")
		}
		var se *session.Error
		if errors.As(err, &se) {
			return sessionError(c, err)
		}
		return fail(http.StatusInternalServerError, "stop_failed", err.Error())
	}
	return c.NoContent(http.StatusNoContent)
}

// deleteVolumes is JupyterHub's Spawner.delete_forever: the hub deleted the
// user, or removed the named server, and its home volume goes too
// (KubeSpawner's delete_pvc). It answers 204 once the claim is deleted or
// when there is none; a server that still runs is 409 running.
func (s *server) deleteVolumes(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	if err := s.opts.Sessions.DeleteVolumes(c.Request().Context(), k); err != nil {
		var se *session.Error
		if errors.As(err, &se) {
			return sessionError(c, err)
		}
		return fail(http.StatusInternalServerError, "delete_failed", err.Error())
	}
	return c.NoContent(http.StatusNoContent)
}

// progress streams the operation's events as Server-Sent Events: history
// first, then live, ending after the ready or failed event.
func (s *server) progress(c echo.Context) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	log, ok := s.opts.Sessions.Progress(k)
	if !ok {
		return fail(http.StatusNotFound, "not_found", "No such server.")
	}
	release, ok := s.acquireStream(k)
	if !ok {
		c.Response().Header().Set("Retry-After", "5")
		return fail(http.StatusTooManyRequests, "too_many_streams", fmt.Sprintf(
			"Too many progress streams are open (at most %d in all, %d per server); close one or ask again later.",
			s.opts.MaxProgressStreams, s.opts.MaxStreamsPerServer))
	}
	defer release()
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx-style proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)
	w.Flush()

	ctx := c.Request().Context()
	events := make(chan progress.Event)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		// Follow ends with nil once the log is closed (events closes, and
		// the loop below returns), or with ctx's error once the client is
		// gone: nothing is left to tell either way.
		_ = log.Follow(ctx, func(e progress.Event) error {
			select {
			case events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(events)
	}()
	keepAlive := time.NewTicker(s.opts.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case e, open := <-events:
			if !open {
				return nil
			}
			data, _ := json.Marshal(e)
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Kind, data); err != nil {
				return nil // the client went away
			}
			w.Flush()
		case <-keepAlive.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case <-ctx.Done():
			<-followed
			return nil
		}
	}
}
