package hubapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The kinds of Identity.
const (
	KindUser    = "user"
	KindService = "service"
)

// Identity is the owner of a token as GET /user describes it. The hub always
// lets a token read its owner's kind, name, admin flag and groups, whatever
// the token's scopes; the other fields of its model are left out here.
type Identity struct {
	// Kind is KindUser or KindService.
	Kind string `json:"kind"`
	// Name is the user's or service's name.
	Name string `json:"name"`
	// Admin is the owner's admin flag. It says nothing about this token,
	// which may carry far fewer permissions than its owner has: decide
	// access with Scopes (see HasAccess), never with Admin.
	Admin bool `json:"admin"`
	// Groups are a user's groups (empty for a service).
	Groups []string `json:"groups"`
	// Roles are the owner's roles, when the token may read them.
	Roles []string `json:"roles,omitempty"`
	// Scopes are the token's own scopes, expanded by the hub: sub-scopes
	// are listed and "!user" filters carry the owner's name, e.g.
	// "access:servers!user=alice".
	Scopes []string `json:"scopes"`
	// SessionID is the hub login session the token belongs to (JupyterHub
	// >= 2.0); empty for tokens issued outside a browser login, such as API
	// tokens.
	SessionID string `json:"session_id"`
	// TokenID is the token's id in the hub's token API (JupyterHub >= 5.0).
	TokenID string `json:"token_id"`
}

// User is a user model from GET /users or GET /users/{name}. Fields the
// client's token may not read are zero.
type User struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Admin  bool     `json:"admin"`
	Roles  []string `json:"roles"`
	Groups []string `json:"groups"`
	// Server is the URL path of the default server while it runs, else "".
	Server string `json:"server"`
	// Pending is "spawn" or "stop" while the default server is on its way,
	// else "".
	Pending      string    `json:"pending"`
	Created      time.Time `json:"created"`
	LastActivity time.Time `json:"last_activity"`
	// Servers holds the user's active (running or pending) servers by name,
	// "" being the default server. It needs the read:servers scope; stopped
	// servers are listed only when the request asks for them, which these
	// methods do not.
	Servers map[string]Server `json:"servers"`
}

// Server is one of a user's servers.
type Server struct {
	// Name is "" for the default server.
	Name string `json:"name"`
	// FullName is "<user>/<name>" (JupyterHub >= 5.0).
	FullName string `json:"full_name"`
	Ready    bool   `json:"ready"`
	// Pending is "spawn" or "stop" while the server is on its way, else "".
	Pending string `json:"pending"`
	Stopped bool   `json:"stopped"`
	// URL is the server's path under the hub's public URL, e.g.
	// /user/alice/ or /user/alice/desk/.
	URL string `json:"url"`
	// ProgressURL is the hub API path of its spawn progress event stream.
	ProgressURL string `json:"progress_url"`
	// FullURL and FullProgressURL are absolute URLs, set only when the hub
	// knows its public URL (JupyterHub >= 5.0).
	FullURL         string         `json:"full_url"`
	FullProgressURL string         `json:"full_progress_url"`
	Started         time.Time      `json:"started"`
	LastActivity    time.Time      `json:"last_activity"`
	UserOptions     map[string]any `json:"user_options"`
}

// Identify returns the owner and scopes of token, asking GET /user with that
// token instead of the client's own; this is how a service checks a token
// that a browser or API client presented. The hub answers an unknown,
// revoked or expired token with 403 (IsForbidden); an empty token fails at
// once with ErrNoToken. Any token may identify itself, whatever its scopes.
func (c *Client) Identify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	var id Identity
	if _, err := c.doAs(ctx, token, http.MethodGet, "/user", nil, &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// WhoAmI identifies the client's own token.
func (c *Client) WhoAmI(ctx context.Context) (*Identity, error) {
	return c.Identify(ctx, c.Token)
}

// User returns the user called name (GET /users/{name}). An unknown user is
// a 404 (IsNotFound). Reading Servers needs read:servers.
func (c *Client) User(ctx context.Context, name string) (*User, error) {
	var u User
	if _, err := c.do(ctx, http.MethodGet, "/users/"+seg(name), nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// The states Users filters on; "" lists every user.
const (
	// StateActive: users with at least one running or pending server.
	StateActive = "active"
	// StateReady: users with at least one ready server.
	StateReady = "ready"
	// StateInactive: users with no running or pending server.
	StateInactive = "inactive"
)

// Users lists the users the client's token may see (GET /users), filtered by
// state (StateActive, StateReady, StateInactive, or "" for all). It follows
// the hub's pagination to the last page. Pages are separate requests, so a
// user added or removed meanwhile may be missed or listed twice.
func (c *Client) Users(ctx context.Context, state string) ([]User, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	var users []User
	offset := 0
	for {
		if offset > 0 {
			q.Set("offset", strconv.Itoa(offset))
		}
		path := "/users"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var raw json.RawMessage
		if _, err := c.do(ctx, http.MethodGet, path, nil, &raw); err != nil {
			return nil, err
		}
		// A hub that ignores the pagination media type sends a bare list.
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			var page []User
			if err := json.Unmarshal(raw, &page); err != nil {
				return nil, fmt.Errorf("GET %s: decode answer: %w", path, err)
			}
			return append(users, page...), nil
		}
		var page struct {
			Items      []User `json:"items"`
			Pagination struct {
				Next *struct {
					Offset int `json:"offset"`
				} `json:"next"`
			} `json:"_pagination"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, fmt.Errorf("GET %s: decode answer: %w", path, err)
		}
		users = append(users, page.Items...)
		next := page.Pagination.Next
		if next == nil {
			return users, nil
		}
		// Follow next by its offset, not its url: the hub builds that URL
		// from the request as it saw it, which behind a proxy or with
		// hub_connect_url need not be a URL this client can reach. The hub
		// keeps the page size it chose, so no limit is sent.
		if next.Offset <= offset {
			return nil, fmt.Errorf("GET %s: pagination does not advance (next offset %d)", path, next.Offset)
		}
		offset = next.Offset
	}
}

// ActivityTimeFormat is how activity times are sent: UTC, microseconds, "Z",
// as JupyterHub writes its own timestamps.
const ActivityTimeFormat = "2006-01-02T15:04:05.000000Z"

// ReportActivity tells the hub that user's server (by name, "" for the
// default server) was in use at time at (POST /users/{user}/activity); the
// zero time means now. It sets both the user's and the server's
// last_activity, which is what idle culling reads. The hub keeps the later
// of the stored and the reported time, so an old report is harmless. It
// answers 404 for an unknown user, and 400 for a named server that was never
// started (the default server's record exists from the user's creation) or
// when at is more than 59 minutes in the future. It needs users:activity.
func (c *Client) ReportActivity(ctx context.Context, user, server string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	ts := at.UTC().Format(ActivityTimeFormat)
	type lastActivity struct {
		LastActivity string `json:"last_activity"`
	}
	body := struct {
		LastActivity string                  `json:"last_activity"`
		Servers      map[string]lastActivity `json:"servers"`
	}{ts, map[string]lastActivity{server: {ts}}}
	_, err := c.do(ctx, http.MethodPost, "/users/"+seg(user)+"/activity", body, nil)
	return err
}

// serverPath is the API path of user's server; "" is the default server.
func serverPath(user, server string) string {
	if server == "" {
		return "/users/" + seg(user) + "/server"
	}
	return "/users/" + seg(user) + "/servers/" + seg(server)
}

// StartServer asks the hub to start user's server (by name, "" for the
// default one; a named server needs c.JupyterHub.allow_named_servers). options,
// when not nil, is the request body, which the hub hands to the spawner as
// user_options; JupyterHub 6 still accepts this form as long as options has
// no "user_options" or "display_name" key. pending is true when the hub
// answered 202 (the spawn goes on; follow it with User or the progress
// stream) and false on 201 (started). A server that already runs or is
// stopping is a 400; a spawn already pending is a 202.
func (c *Client) StartServer(ctx context.Context, user, server string, options map[string]any) (pending bool, err error) {
	var in any
	if options != nil {
		in = options
	}
	code, err := c.do(ctx, http.MethodPost, serverPath(user, server), in, nil)
	if err != nil {
		return false, err
	}
	return code == http.StatusAccepted, nil
}

// StopServer asks the hub to stop user's server (by name, "" for the default
// one). pending is true when the hub answered 202 (the stop goes on) and
// false on 204 (stopped, or was not running). The server's record stays, so
// it can be started again.
func (c *Client) StopServer(ctx context.Context, user, server string) (pending bool, err error) {
	code, err := c.do(ctx, http.MethodDelete, serverPath(user, server), nil, nil)
	if err != nil {
		return false, err
	}
	return code == http.StatusAccepted, nil
}
