package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/apps"
	"kubedesk.dev/kubedesk/spawner/internal/httpguard"
	"kubedesk.dev/kubedesk/spawner/internal/sessiontoken"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Apps is what the session routes need of the app manager.
type Apps interface {
	Ready() bool
	Catalog(apps.Caller) ([]catalog.App, error)
	Launch(context.Context, apps.Caller, sessionapi.LaunchRequest) (sessionapi.App, error)
	List(context.Context, apps.Caller) ([]sessionapi.App, error)
	Get(context.Context, apps.Caller, string) (sessionapi.App, error)
	Stop(context.Context, apps.Caller, string) error
}

// TokenVerifier checks session tokens.
type TokenVerifier interface {
	Verify(token string) (*sessiontoken.Claims, error)
}

const callerKey = "kubedesk.caller"

// authenticateSession accepts a session token and puts its claims in the
// context. Which session a request acts on comes from the token alone: no
// path names a user, so no request can reach another user's session.
func (s *server) authenticateSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		peer := httpguard.Peer(c.Request())
		if err := s.limited(c, "session", peer); err != nil {
			return err
		}
		scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if !strings.EqualFold(scheme, "bearer") || token == "" {
			s.rejected(c, "session", peer, "Rejected request without a session token")
			return fail(http.StatusUnauthorized, "unauthorized", "Send the session token as 'Authorization: Bearer <token>'.")
		}
		claims, err := s.opts.Tokens.Verify(strings.TrimSpace(token))
		switch {
		case errors.Is(err, sessiontoken.ErrExpired):
			// Signed by the service: an agent that missed a renewal, not
			// a guess; not counted against its source.
			return fail(http.StatusUnauthorized, "token_expired", err.Error())
		case err != nil:
			s.rejected(c, "session", peer, "Rejected session token", "err", err)
			return fail(http.StatusUnauthorized, "invalid_token", sessiontoken.ErrInvalid.Error())
		}
		if !s.opts.Apps.Ready() || !s.opts.Sessions.Ready() {
			return fail(http.StatusServiceUnavailable, "not_ready", "The service is still loading its state; try again in a moment.")
		}
		c.Set(callerKey, apps.Caller{User: claims.User, Server: claims.Server, SessionUID: claims.SessionUID})
		return next(c)
	}
}

func caller(c echo.Context) apps.Caller { return c.Get(callerKey).(apps.Caller) }

func appError(err error) error {
	var e *apps.Error
	if !errors.As(err, &e) {
		return err
	}
	status := map[string]int{
		apps.CodeStaleToken: http.StatusUnauthorized,
		apps.CodeUnknownApp: http.StatusNotFound,
		apps.CodeNotAllowed: http.StatusForbidden,
		apps.CodeBadFile:    http.StatusBadRequest,
		apps.CodeQuota:      http.StatusTooManyRequests,
		apps.CodeNotFound:   http.StatusNotFound,
		// Over the caps on file arguments.
		apps.CodeTooManyFiles: http.StatusBadRequest,
		apps.CodeArgsTooLong:  http.StatusRequestEntityTooLarge,
	}[e.Code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	return fail(status, e.Code, e.Message)
}

// sessionCatalog answers the apps the session may launch with what its
// menus show (catalog.App.Listing) and nothing more: images, command
// lines, env, resources and placement are the service's to use, and a
// session, where any user code runs, has no need to read them.
func (s *server) sessionCatalog(c echo.Context) error {
	list, err := s.opts.Apps.Catalog(caller(c))
	if err != nil {
		return appError(err)
	}
	out := make([]sessionapi.CatalogApp, 0, len(list))
	for _, a := range list {
		out = append(out, a.Listing())
	}
	return c.JSON(http.StatusOK, out)
}

func (s *server) launchApp(c echo.Context) error {
	var req sessionapi.LaunchRequest
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	if req.App == "" {
		return echo.NewHTTPError(http.StatusBadRequest, sessionapi.Error{Code: "bad_request", Field: "app", Message: "Name the app to launch."})
	}
	a, err := s.opts.Apps.Launch(c.Request().Context(), caller(c), req)
	if err != nil {
		return appError(err)
	}
	return c.JSON(http.StatusAccepted, a)
}

func (s *server) listApps(c echo.Context) error {
	list, err := s.opts.Apps.List(c.Request().Context(), caller(c))
	if err != nil {
		return appError(err)
	}
	return c.JSON(http.StatusOK, list)
}

func (s *server) getApp(c echo.Context) error {
	a, err := s.opts.Apps.Get(c.Request().Context(), caller(c), c.Param("id"))
	if err != nil {
		return appError(err)
	}
	return c.JSON(http.StatusOK, a)
}

func (s *server) stopApp(c echo.Context) error {
	if err := s.opts.Apps.Stop(c.Request().Context(), caller(c), c.Param("id")); err != nil {
		return appError(err)
	}
	return c.NoContent(http.StatusNoContent)
}
