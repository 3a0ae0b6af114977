package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// FuzzRequests sends the REST API what a hub, a session or anyone on the
// network might: any user and server name, any body, to each route that
// decodes one, with the right credentials and without. The service never
// answers 5xx or panics, and every refusal is an error document with a code
// and a message.
func FuzzRequests(f *testing.F) {
	sessionToken, err := testSigner.Mint("alice", "", "uid-1")
	require.NoError(f, err)
	for _, seed := range []struct {
		route      uint8
		user, name string
		body       string
	}{
		{0, "alice", "", validBody},
		{0, "alice", "", `{"env": {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}, "user_options": {"profile": [1]}}`},
		{0, "Ünïcödé", "", `{"env": {"JUPYTERHUB_SERVICE_PREFIX": "/"}, "user_options": null}`},
		{1, "alice", "gpu-1", validBody},
		{1, "50% off", "Á%ì", validBody},
		{1, "alice", strings.Repeat("x", 300), `{}`},
		{2, "alice", "", ``},
		{3, "a/b", "", ``},
		{4, "", "", `{"app": "xterm", "files": ["/home/jovyan/a"]}`},
		{4, "", "", `{"app": "xterm", "version": 1}`},
		{5, "", "", `[]`},
		{6, "", "", `{"app": "xterm"}`},
	} {
		f.Add(seed.route, seed.user, seed.name, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, user, name string, body []byte) {
		server := "/server"
		if name != "" {
			server = "/servers/" + url.PathEscape(name)
		}
		base := "/api/v1/users/" + url.PathEscape(user) + server
		hub, own := "Bearer "+hubToken, "Bearer "+sessionToken
		var method, path, auth string
		switch route % 7 {
		case 0, 1:
			method, path, auth = http.MethodPost, base, hub
		case 2:
			method, path, auth = http.MethodGet, base, hub
		case 3:
			method, path, auth = http.MethodDelete, base, hub
		case 4:
			method, path, auth = http.MethodPost, "/api/v1/session/apps", own
		case 5:
			method, path, auth = http.MethodGet, "/api/v1/session/apps/"+url.PathEscape(user), own
		case 6:
			// No credentials: refused before the body is read.
			method, path, auth = http.MethodPost, base, ""
		}
		sessions := &fakeSessions{ready: true}
		rec := do(t, newTestServer(t, sessions), method, path, auth, string(body))
		require.Less(t, rec.Code, 500, "%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		valid := func(n string) bool { return utf8.ValidString(n) && len(n) <= 255 }
		if method == http.MethodPost && auth == hub && string(body) == validBody && user != "" && valid(user) && valid(name) {
			// Any user and server name JupyterHub can send is taken.
			require.Equal(t, http.StatusAccepted, rec.Code, "%s %s: %s", method, path, rec.Body)
		}
		if rec.Code == http.StatusAccepted && method == http.MethodPost && auth == hub {
			// The names the hub sent, decoded once, whatever they hold.
			require.Equal(t, []session.Key{{User: user, Server: name}}, sessions.spawned, "%s %s", method, path)
		}
		if rec.Code >= 400 {
			var e sessionapi.Error
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), "%s %s: %d %s", method, path, rec.Code, rec.Body)
			require.NotEmpty(t, e.Code, "%s %s: %s", method, path, rec.Body)
			require.NotEmpty(t, e.Message, "%s %s: %s", method, path, rec.Body)
		}
	})
}
