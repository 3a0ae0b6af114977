package sessionapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Prefix is where the session routes live on the service.
const Prefix = "/api/v1/session"

// Client calls the session routes of the service with a session's token,
// read from its file on every call (the launcher agent's token is renewed
// in place).
type Client struct {
	base      string // the service's URL, without a trailing slash
	tokenFile string
	hc        *http.Client
}

// NewClient returns a Client for the service at serviceURL (such as
// "http://kubedesk-spawner:8080") with the token in tokenFile; hc nil is
// http.DefaultClient.
func NewClient(serviceURL, tokenFile string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(serviceURL, "/"), tokenFile: tokenFile, hc: hc}
}

// ErrUnreachable marks failures to get any answer from the service.
var ErrUnreachable = errors.New("service unreachable")

// Catalog returns what the session's menus show: the apps of its profile,
// every version, by ID and newest version first.
func (c *Client) Catalog(ctx context.Context) ([]CatalogApp, error) {
	var list []CatalogApp
	err := c.do(ctx, http.MethodGet, "/catalog", nil, &list)
	return list, err
}

// Launch asks for an app; it answers once the app's pod exists.
func (c *Client) Launch(ctx context.Context, req LaunchRequest) (App, error) {
	var a App
	err := c.do(ctx, http.MethodPost, "/apps", req, &a)
	return a, err
}

// List returns the session's apps, newest first.
func (c *Client) List(ctx context.Context) ([]App, error) {
	var list []App
	err := c.do(ctx, http.MethodGet, "/apps", nil, &list)
	return list, err
}

// Get returns one of the session's apps.
func (c *Client) Get(ctx context.Context, id string) (App, error) {
	var a App
	err := c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(id), nil, &a)
	return a, err
}

// Stop stops one of the session's apps; stopping one that is gone is not
// an error.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/apps/"+url.PathEscape(id), nil, nil)
}

func (c *Client) token() (string, error) {
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return "", fmt.Errorf("read the session token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read the session token: %s is empty", c.tokenFile)
	}
	return t, nil
}

// do sends a request; an answer other than 2xx is an *Error, a failure to
// get an answer wraps ErrUnreachable.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	token, err := c.token()
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+Prefix+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %w", method, path, DecodeError(resp))
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
