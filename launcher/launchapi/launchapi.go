// Package launchapi is the contract between the launcher agent and its
// local clients (the launch CLI, and tests): where the agent's HTTP API on
// a Unix socket lives, and a Client for it.
//
// The API lives on a Unix socket only (DefaultSocket, mode 0600, owned by
// the session user); the agent also checks the caller's uid with
// SO_PEERCRED. There is no TCP listener and no other authentication.
//
//	GET    /catalog     → 200 []sessionapi.CatalogApp, the apps this session may launch
//	POST   /apps        sessionapi.LaunchRequest → 202 sessionapi.App (as the service answered)
//	GET    /apps        → 200 []sessionapi.App, the session's apps, newest first
//	GET    /apps/{id}   → 200 sessionapi.App
//	DELETE /apps/{id}   → 204 (idempotent)
//
// Errors are a sessionapi.Error document with the status the spawner
// service gave (its code and message are passed through unchanged, so a
// person reads the service's words), or 502 service_unreachable when the
// agent could not reach the service. The Xpra secrets of an app (its
// password and encryption key) never leave the agent over this API: an
// App's Xpra has neither here.
//
// # Why the session API's types
//
// The local API is the session API (spawner/sessionapi) relayed: the agent
// adds the session's token, checks what it can locally, and passes the
// service's documents and errors through. So its documents are
// sessionapi's types, not a copy of them: a field the service adds reaches
// the CLI without a second declaration to keep in step, and the one
// difference (no Xpra secrets) is the agent's to enforce, not a type's.
// sessionapi imports only the standard library, so the launch CLI stays
// small.
package launchapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// DefaultSocket is where the agent listens unless KUBEDESK_LAUNCHER_SOCKET
// says otherwise.
const DefaultSocket = "/tmp/kubedesk/launcher.sock"

// EnvSocket names the socket for the agent and the CLI.
const EnvSocket = "KUBEDESK_LAUNCHER_SOCKET"

// Client talks to the agent over its Unix socket.
type Client struct {
	hc *http.Client
}

// NewClient returns a Client for the agent listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// ErrAgentUnreachable wraps failures to reach the agent at all.
var ErrAgentUnreachable = errors.New("the launcher agent is not running or its socket is not reachable")

// Catalog returns the apps this session may launch, every version.
func (c *Client) Catalog(ctx context.Context) ([]sessionapi.CatalogApp, error) {
	var list []sessionapi.CatalogApp
	err := c.do(ctx, http.MethodGet, "/catalog", nil, &list)
	return list, err
}

// Launch asks the agent to launch an app.
func (c *Client) Launch(ctx context.Context, req sessionapi.LaunchRequest) (sessionapi.App, error) {
	var a sessionapi.App
	err := c.do(ctx, http.MethodPost, "/apps", req, &a)
	return a, err
}

// List returns the session's apps.
func (c *Client) List(ctx context.Context) ([]sessionapi.App, error) {
	var list []sessionapi.App
	err := c.do(ctx, http.MethodGet, "/apps", nil, &list)
	return list, err
}

// Get returns one app.
func (c *Client) Get(ctx context.Context, id string) (sessionapi.App, error) {
	var a sessionapi.App
	err := c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(id), nil, &a)
	return a, err
}

// Stop stops an app; stopping one that is gone is not an error.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/apps/"+url.PathEscape(id), nil, nil)
}

// do sends a request; an answer other than 2xx is a *sessionapi.Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	// The host is ignored: the transport always dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://launcher"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAgentUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return sessionapi.DecodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
