package hubapi

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
	"unicode/utf8"
)

// The environment variables that NewFromEnv reads. JupyterHub sets both in
// every single-user server and hub-managed service.
const (
	EnvAPIURL   = "JUPYTERHUB_API_URL"
	EnvAPIToken = "JUPYTERHUB_API_TOKEN"
)

// acceptHeader asks for JSON and opts in to the hub's paginated list format
// (JupyterHub >= 2.0). Only list endpoints look at the pagination media
// type; every other endpoint answers plain JSON either way. Sending it on
// every request keeps do free of per-call options and means a list can
// never be silently truncated at the hub's page limit.
const acceptHeader = paginationMediaType + ", application/json"

const paginationMediaType = "application/jupyterhub-pagination+json"

// maxErrorBody bounds how much of an error response is read for its message.
const maxErrorBody = 64 << 10

// ErrNoToken is returned by Identify when it is given an empty token; no
// request is sent. IsUnauthorized reports true for it.
var ErrNoToken = errors.New("hubapi: no token to identify")

// Client is a client of the JupyterHub REST API. The zero value is not
// usable: BaseURL and Token must be set. A Client is safe for concurrent use.
type Client struct {
	// BaseURL is the hub's API root, as in JUPYTERHUB_API_URL, for example
	// http://127.0.0.1:8081/hub/api. A trailing slash is ignored.
	BaseURL string
	// Token authenticates the client's own requests (an API token of a
	// service or a server). Identify sends the token it is given instead.
	Token string
	// HTTPClient sends the requests; nil means http.DefaultClient. Deadlines
	// come from the context of each call.
	HTTPClient *http.Client
}

// NewFromEnv returns a Client for the hub named by JUPYTERHUB_API_URL,
// authenticated with JUPYTERHUB_API_TOKEN. It fails, naming the variable,
// when either is unset or empty or when the URL is not an absolute http(s)
// URL.
func NewFromEnv() (*Client, error) {
	return newFromEnv(os.Getenv)
}

func newFromEnv(getenv func(string) string) (*Client, error) {
	base := getenv(EnvAPIURL)
	if base == "" {
		return nil, fmt.Errorf("hubapi: %s is not set", EnvAPIURL)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hubapi: %s=%q is not an absolute http(s) URL", EnvAPIURL, base)
	}
	token := getenv(EnvAPIToken)
	if token == "" {
		return nil, fmt.Errorf("hubapi: %s is not set", EnvAPIToken)
	}
	return &Client{BaseURL: base, Token: token}, nil
}

// Error is a non-2xx answer of the hub. The hub's API handlers answer errors
// with {"status": <code>, "message": <text>}; Message is that text, or a
// short excerpt of the body when it is not such a document (an error page of
// a proxy in between, say). Check for it with errors.As or the Is* helpers.
type Error struct {
	StatusCode int
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("hub API: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// IsNotFound reports whether err is or wraps a 404 from the hub: no such
// user, server or token, or one the token's scopes cover for other
// resources only (the hub answers 404, not 403, when a token holds a scope
// filtered to other users, so as not to reveal what exists).
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsForbidden reports whether err is or wraps a 403 from the hub. The hub
// answers 403, not 401, both to a token without any form of the scope a
// request needs and to a token it does not know at all (unknown, revoked or
// expired), so for Identify a 403 means "this token identifies nobody".
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsUnauthorized reports whether err is or wraps a 401 from the hub, or is
// ErrNoToken.
func IsUnauthorized(err error) bool {
	return errors.Is(err, ErrNoToken) || hasStatus(err, http.StatusUnauthorized)
}

func hasStatus(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == code
}

// do sends one request to the hub and decodes its answer. path is relative
// to BaseURL, starts with "/" and has its user-supplied parts already
// escaped (see seg); it may carry a query. in, when not nil, is sent as a
// JSON body; out, when not nil, receives the decoded JSON answer. The
// client's own Token authenticates the request. It returns the status code
// of a 2xx answer; any other answer is an *Error wrapped with the method and
// path.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	return c.doAs(ctx, c.Token, method, path, in, out)
}

// doAs is do with an explicit token, for Identify.
func (c *Client) doAs(ctx context.Context, token, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Accept", acceptHeader)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error already names the method and URL.
		return 0, err
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, errorFrom(resp))
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// errorFrom builds the *Error of a non-2xx answer.
func errorFrom(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode}
	var doc struct {
		Message *string `json:"message"`
	}
	switch {
	case json.Unmarshal(b, &doc) == nil && doc.Message != nil && *doc.Message != "":
		e.Message = *doc.Message
	case len(bytes.TrimSpace(b)) > 0:
		e.Message = excerpt(string(b), 200)
	default:
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// excerpt collapses whitespace in s and cuts it to at most n bytes.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

// seg escapes one path segment: a user or server name.
func seg(name string) string { return url.PathEscape(name) }
