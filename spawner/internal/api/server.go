package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"kubedesk.dev/kubedesk/spawner/internal/httpguard"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// OpenAPI is the API's description; a test keeps it and the routes in step.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Prefix is the path of the versioned API.
const Prefix = "/api/v1"

// Sessions is what the API needs of the session manager.
type Sessions interface {
	Ready() bool
	Get(session.Key) (session.Session, bool)
	List() []session.Session
	Spawn(context.Context, session.Key, session.Spec) (session.Session, error)
	Stop(context.Context, session.Key) error
	Progress(session.Key) (*progress.Log, bool)
	// DeleteVolumes deletes a stopped server's home volume for good.
	DeleteVolumes(context.Context, session.Key) error
}

// Profiles is what the API needs of the profile configuration.
type Profiles interface {
	// Resolve turns a request's user_options into a profile and settings;
	// bad options give an *OptionsError.
	Resolve(userOptions map[string]any) (profile string, settings podspec.Settings, err error)
	// Public is the JSON view of the profiles, without operator details.
	Public() any
	// Form is the HTML fragment of the profile form.
	Form() string
}

// OptionsError is a user_options value that cannot be honoured.
type OptionsError struct {
	Field   string
	Message string
}

func (e *OptionsError) Error() string { return e.Message }

// Options configure the API server.
type Options struct {
	// HubToken is the bearer token JupyterHub presents. Required.
	HubToken     string
	MaxBodyBytes int64
	// StopTimeout bounds how long DELETE waits for a pod to go.
	StopTimeout time.Duration
	// KeepAlive is the interval of comment lines on idle progress streams.
	KeepAlive time.Duration
	Sessions  Sessions
	Profiles  Profiles
	// Apps and Tokens serve the session routes (the launcher agent's);
	// without them those routes are not served.
	Apps    Apps
	Tokens  TokenVerifier
	Metrics *metrics.Spawner
	Logger  *slog.Logger
	// Failures limits failed authentication per source address; nil
	// takes httpguard.NewFailures(0).
	Failures *httpguard.Failures
	// MaxProgressStreams bounds the progress streams open at once, and
	// MaxStreamsPerServer those of one server (a person with many tabs):
	// each holds a connection and two goroutines for as long as a spawn.
	MaxProgressStreams  int
	MaxStreamsPerServer int
	// Standby reports whether this replica stands by for another that
	// leads (spawner/internal/leader): every route but the OpenAPI
	// document then answers 503 with Retry-After. nil never stands by.
	Standby func() bool
}

// Defaults of the stream limits. The total stays well under the API's
// connection cap (4096 by default), so streams can never take all the
// connections that polls and stops need.
const (
	DefaultMaxProgressStreams  = 2048
	DefaultMaxStreamsPerServer = 16
)

// What an unauthenticated client can cost is bounded (issue 13; the
// listeners' own limits are in httpguard): a source address that keeps
// failing authentication is refused with 429 before its credentials are
// checked or logged (httpguard.Failures), every rejection is logged with the
// connection's peer address, never a client-supplied X-Forwarded-For,
// progress streams are capped in all and per server, and a request body must
// arrive within bodyReadTimeout.

// bodyReadTimeout bounds the reading of a request body (at most
// MaxBodyBytes, 1 MiB by default): a client that trickles one holds its
// connection no longer.
const bodyReadTimeout = 30 * time.Second

type server struct {
	opts      Options
	tokenHash [32]byte
	streams   streams
}

// streams counts the open progress streams, in all and per server.
type streams struct {
	mu        sync.Mutex
	total     int
	perServer map[session.Key]int
}

// acquire takes a stream slot for k, or reports that a limit is reached.
func (s *server) acquireStream(k session.Key) (release func(), ok bool) {
	st := &s.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.total >= s.opts.MaxProgressStreams || st.perServer[k] >= s.opts.MaxStreamsPerServer {
		return nil, false
	}
	if st.perServer == nil {
		st.perServer = map[session.Key]int{}
	}
	st.total++
	st.perServer[k]++
	return func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.total--
		if st.perServer[k]--; st.perServer[k] == 0 {
			delete(st.perServer, k)
		}
	}, true
}

// New returns the API handler.
func New(opts Options) (http.Handler, error) {
	if opts.HubToken == "" {
		return nil, errors.New("a hub token is required: the API never runs unauthenticated")
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = time.Minute
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	if opts.Failures == nil {
		opts.Failures = httpguard.NewFailures(0)
	}
	if opts.MaxProgressStreams == 0 {
		opts.MaxProgressStreams = DefaultMaxProgressStreams
	}
	if opts.MaxStreamsPerServer == 0 {
		opts.MaxStreamsPerServer = DefaultMaxStreamsPerServer
	}
	s := &server{opts: opts, tokenHash: sha256.Sum256([]byte(opts.HubToken))}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Pre(escapedPath)
	e.Use(middleware.Recover(), s.observe, s.standingBy)
	e.GET(Prefix+"/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", OpenAPI)
	})

	bodyLimit := middleware.BodyLimit(strconv.FormatInt(opts.MaxBodyBytes, 10) + "B")
	// Middleware is given per route, not to e.Group: a group with
	// middleware adds catch-all routes for it, which answer a wrong method
	// 404 where the router answers 405 with Allow.
	if opts.Apps != nil && opts.Tokens != nil {
		// The launcher agent's routes: a session token, not the hub's.
		own := []echo.MiddlewareFunc{s.authenticateSession, bodyLimit}
		p := sessionapi.Prefix
		e.GET(p+"/catalog", s.sessionCatalog, own...)
		e.POST(p+"/apps", s.launchApp, own...)
		e.GET(p+"/apps", s.listApps, own...)
		e.GET(p+"/apps/:id", s.getApp, own...)
		e.DELETE(p+"/apps/:id", s.stopApp, own...)
	}
	hub := []echo.MiddlewareFunc{s.authenticate, bodyLimit}
	e.GET(Prefix+"/profiles", s.listProfiles, hub...)
	e.GET(Prefix+"/profiles/form", s.profileForm, hub...)

	sessions := append(slices.Clone(hub), s.requireReady)
	e.GET(Prefix+"/sessions", s.listSessions, sessions...)
	for _, base := range []string{"/users/:user/server", "/users/:user/servers/:server"} {
		e.POST(Prefix+base, s.create, sessions...)
		e.GET(Prefix+base, s.get, sessions...)
		e.DELETE(Prefix+base, s.stop, sessions...)
		e.GET(Prefix+base+"/progress", s.progress, sessions...)
		e.DELETE(Prefix+base+"/volumes", s.deleteVolumes, sessions...)
	}
	return e, nil
}

// escapedPath makes the router match the request's escaped path, always,
// so that path parameters arrive percent-encoded and key decodes them
// exactly once. Go leaves URL.RawPath empty when the default escaping gives
// the request's path back, and echo then routes on the decoded URL.Path: a
// name with "%" in it ("50% off", sent as 50%25%20off) was decoded twice
// and refused.
func escapedPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		u.RawPath = u.EscapedPath()
		return next(c)
	}
}

// fail is an error answer; its body, as of every error, is a
// sessionapi.Error (schema Error).
func fail(status int, code, msg string) *echo.HTTPError {
	return echo.NewHTTPError(status, sessionapi.Error{Code: code, Message: msg})
}

// handleError renders echo's own errors (404, 405, 413) in the API's shape.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		s.opts.Logger.Error("Request failed", "path", c.Path(), "err", err)
		he = fail(http.StatusInternalServerError, "internal", "The service failed unexpectedly; its log has the details.")
	}
	body, ok := he.Message.(sessionapi.Error)
	if !ok {
		body = sessionapi.Error{Code: codeFor(he.Code), Message: fmt.Sprint(he.Message)}
		if he.Code == http.StatusRequestEntityTooLarge {
			body.Message = fmt.Sprintf("The request body is larger than the %d bytes the service accepts.", s.opts.MaxBodyBytes)
		}
	}
	if he.Code == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="kubedesk"`)
	}
	if err := c.JSON(he.Code, body); err != nil {
		s.opts.Logger.Debug("Write error response", "err", err)
	}
}

func codeFor(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	default:
		return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	}
}

// authenticate accepts "Bearer <token>" and JupyterHub's "token <token>".
// Digests are compared so that neither content nor length leaks through
// timing. A source that keeps failing is refused before the comparison.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		peer := httpguard.Peer(c.Request())
		if err := s.limited(c, "hub", peer); err != nil {
			return err
		}
		scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		scheme = strings.ToLower(scheme)
		sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if (scheme != "bearer" && scheme != "token") || subtle.ConstantTimeCompare(sum[:], s.tokenHash[:]) != 1 {
			s.rejected(c, "hub", peer, "Rejected request without the hub's token")
			return fail(http.StatusUnauthorized, "unauthorized", "This API is for JupyterHub only: send the hub's token as 'Authorization: Bearer <token>'.")
		}
		return next(c)
	}
}

// limited refuses a source that has failed authentication too often, with
// 429 and Retry-After, without looking at its credentials or logging.
func (s *server) limited(c echo.Context, credential, peer string) error {
	blocked, retry := s.opts.Failures.Blocked(peer)
	if !blocked {
		return nil
	}
	s.opts.Metrics.AuthFailures.WithLabelValues(credential, "limited").Inc()
	secs := max(int((retry+time.Second-1)/time.Second), 1)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return fail(http.StatusTooManyRequests, "too_many_failures",
		fmt.Sprintf("Too many failed authentications from this address; try again in %d seconds.", secs))
}

// rejected records a failed authentication: the log names the connection's
// peer, not the X-Forwarded-For header a client can write itself.
func (s *server) rejected(c echo.Context, credential, peer, msg string, attrs ...any) {
	s.opts.Metrics.AuthFailures.WithLabelValues(credential, "rejected").Inc()
	s.opts.Logger.Warn(msg, append([]any{"peer", peer, "path", c.Request().URL.Path}, attrs...)...)
	if s.opts.Failures.Fail(peer) {
		s.opts.Logger.Warn("Source refused for a while after repeated failed authentication", "peer", peer,
			"burst", s.opts.Failures.Burst, "refill", s.opts.Failures.Refill)
	}
}

// StandbyCode is the error code a standby replica answers with.
const StandbyCode = "standby"

// StandbyMessage is the sentence of a standby replica's 503.
const StandbyMessage = "This replica of the spawner service is standing by; the leader answers. Try again."

// standingBy answers for a standby replica: 503 and Retry-After, which
// the hub's shim retries, before authentication (a standby holds no
// sessions to protect, and the answer says nothing but that it stands
// by). A Kubernetes Service sends nobody here, since a standby is not
// ready; a request arrives only in the moment of a failover.
func (s *server) standingBy(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Standby == nil || !s.opts.Standby() || c.Path() == Prefix+"/openapi.yaml" {
			return next(c)
		}
		c.Response().Header().Set("Retry-After", "1")
		return fail(http.StatusServiceUnavailable, StandbyCode, StandbyMessage)
	}
}

func (s *server) requireReady(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.opts.Sessions.Ready() {
			c.Response().Header().Set("Retry-After", "2")
			return fail(http.StatusServiceUnavailable, session.CodeNotReady, session.ErrNotReady.Message)
		}
		return next(c)
	}
}

// observe logs each request and records its duration by route.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.opts.Metrics.HTTPRequests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		} else if status >= 400 {
			level = slog.LevelInfo
		}
		s.opts.Logger.Log(c.Request().Context(), level, "HTTP request", "method", c.Request().Method, "route", route,
			"status", status, "elapsed", time.Since(start).Round(time.Microsecond))
		return nil
	}
}
