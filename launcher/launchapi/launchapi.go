// Package launchapi is the contract between the launcher agent and its
// local clients (the launch CLI, and tests): the agent's HTTP API on a Unix
// socket, its JSON types, and a Client for it.
//
// The API lives on a Unix socket only (DefaultSocket, mode 0600, owned by
// the session user); the agent also checks the caller's uid with
// SO_PEERCRED. There is no TCP listener and no other authentication.
//
//	GET    /catalog     → 200 []CatalogApp, the apps this session may launch
//	POST   /apps        LaunchRequest → 202 App (as the service answered)
//	GET    /apps        → 200 []App, the session's apps, newest first
//	GET    /apps/{id}   → 200 App
//	DELETE /apps/{id}   → 204 (idempotent)
//
// Errors are an Error document with the status the spawner service gave
// (its code and message are passed through unchanged, so a person reads
// the service's words), or 502 service_unreachable when the agent could not
// reach the service. The Xpra password of an app never leaves the agent
// over this API.
//
// launchapi imports nothing else from kubedesk, so the launch CLI stays
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
	"time"
)

// DefaultSocket is where the agent listens unless KUBEDESK_LAUNCHER_SOCKET
// says otherwise.
const DefaultSocket = "/tmp/kubedesk/launcher.sock"

// EnvSocket names the socket for the agent and the CLI.
const EnvSocket = "KUBEDESK_LAUNCHER_SOCKET"

// The statuses of an App.
const (
	StatusStarting = "starting"
	StatusRunning  = "running"
	StatusStopping = "stopping"
	StatusEnded    = "ended"
	StatusFailed   = "failed"
)

// LaunchRequest asks for an app. Files are absolute paths (the CLI resolves
// relative ones against its working directory); the service checks that
// they lie inside the user's home.
type LaunchRequest struct {
	App     string   `json:"app"`
	Version string   `json:"version,omitempty"`
	Files   []string `json:"files,omitempty"`
}

// App is one of the session's apps, as the spawner service reports it.
type App struct {
	ID        string     `json:"id"`
	App       string     `json:"app"`
	Version   string     `json:"version"`
	Status    string     `json:"status"`
	Message   string     `json:"message,omitempty"`
	Pod       string     `json:"pod"`
	URL       string     `json:"url,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	// Xpra is where the app's Xpra server listens, once it runs. The agent
	// keeps it to itself: answers of the local API leave it out.
	Xpra *Xpra `json:"xpra,omitempty"`
}

// Finished reports whether the app has ended or failed.
func (a App) Finished() bool { return a.Status == StatusEnded || a.Status == StatusFailed }

// CatalogApp is one version of an app this session may launch: what a
// person needs to pick it (the launcher/catalog.App fields a menu shows).
// The image, command and resources stay with the service.
type CatalogApp struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Icon is an icon theme name, an absolute file path or a URL.
	Icon       string   `json:"icon,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// FileTypes are what the app opens: extensions with their dot
	// (".nii.gz") and MIME types ("image/png").
	FileTypes []string `json:"file_types,omitempty"`
	Terminal  bool     `json:"terminal,omitempty"`
}

// Xpra is the app's Xpra server address and its per-app secrets: the
// password and the key of the stream's AES encryption.
type Xpra struct {
	Host          string `json:"host"`
	Port          int    `json:"port"`
	Password      string `json:"password,omitempty"`
	EncryptionKey string `json:"encryption_key,omitempty"`
}

// Error is an error answer of the agent (or of the service, passed
// through): a stable code and a message for a person.
type Error struct {
	// Status is the HTTP status; it is not part of the JSON document.
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}

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
func (c *Client) Catalog(ctx context.Context) ([]CatalogApp, error) {
	var list []CatalogApp
	err := c.do(ctx, http.MethodGet, "/catalog", nil, &list)
	return list, err
}

// Launch asks the agent to launch an app.
func (c *Client) Launch(ctx context.Context, req LaunchRequest) (App, error) {
	var a App
	err := c.do(ctx, http.MethodPost, "/apps", req, &a)
	return a, err
}

// List returns the session's apps.
func (c *Client) List(ctx context.Context) ([]App, error) {
	var list []App
	err := c.do(ctx, http.MethodGet, "/apps", nil, &list)
	return list, err
}

// Get returns one app.
func (c *Client) Get(ctx context.Context, id string) (App, error) {
	var a App
	err := c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(id), nil, &a)
	return a, err
}

// Stop stops an app; stopping one that is gone is not an error.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/apps/"+url.PathEscape(id), nil, nil)
}

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
		return DecodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// DecodeError reads an Error document from a non-2xx answer; a body that
// is not one becomes an Error with code "http_<status>" and an excerpt.
func DecodeError(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(b, e) == nil && (e.Code != "" || e.Message != "") {
		return e
	}
	e.Code = fmt.Sprintf("http_%d", resp.StatusCode)
	msg := string(bytes.TrimSpace(b))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}
