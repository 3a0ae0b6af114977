package agent

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"kubedesk.dev/kubedesk/hubapi"
)

// fakeXpra stands in for an app's Xpra server: pages echo what reached
// them (the client's page, / and /index.html, as HTML with Xpra's own
// headers, gzipped when the request accepts it, as Xpra does), and a
// websocket echoes.
func fakeXpra(t *testing.T) *httptest.Server {
	ws := websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		// Echoes until the client goes; how the copy ends is not the test's.
		Handler: func(c *websocket.Conn) { _, _ = io.Copy(c, c) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			ws.ServeHTTP(w, r)
			return
		}
		echo := fmt.Sprintf("path=%s query=%s auth=%q cookie=%q", r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Cookie"))
		if r.URL.Path == "/" || r.URL.Path == "/index.html" {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			var out io.Writer = w
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				w.Header().Set("Content-Encoding", "gzip")
				gz := gzip.NewWriter(w)
				defer gz.Close()
				out = gz
			}
			fmt.Fprintf(out, `<!DOCTYPE html><html><HEAD lang="en"><script src="js/Client.js"></script></head><body>%s referer=%q</body></html>`, echo, r.Header.Get("Referer"))
			return
		}
		fmt.Fprint(w, echo)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type proxyFixture struct {
	hub   *fakeHub
	pres  *presence
	front *httptest.Server
	hc    *http.Client
}

func newProxyFixture(t *testing.T) *proxyFixture {
	upstream := fakeXpra(t)
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(upstream.URL, "http://"))
	port, _ := strconv.Atoi(portStr)
	hub := newFakeHub(t)
	hub.tokens["alice-token"] = &hubapi.Identity{Kind: "user", Name: "alice", Scopes: []string{"access:servers!user=alice"}}
	hub.tokens["alice-oauth"] = &hubapi.Identity{Kind: "user", Name: "alice", Scopes: []string{"access:servers!server=alice/"}}
	// The session server's own JUPYTERHUB_API_TOKEN, with the scopes a real
	// JupyterHub 4, 5 and 6 gives it (hubapi's TestJupyterHub checks them):
	// JupyterLab's server extension calls the proxy with it.
	hub.tokens["alice-server"] = &hubapi.Identity{Kind: "user", Name: "alice", Scopes: []string{
		"access:servers!server=alice/", "read:users:activity!user=alice", "read:users:groups!user=alice",
		"read:users:name!user=alice", "users:activity!user=alice",
	}}
	hub.tokens["alice-narrow"] = &hubapi.Identity{Kind: "user", Name: "alice", Scopes: []string{"read:users!user=alice"}}
	hub.tokens["bob-token"] = &hubapi.Identity{Kind: "user", Name: "bob", Scopes: []string{"access:servers!user=bob"}}
	hub.tokens["admin-token"] = &hubapi.Identity{Kind: "user", Name: "root", Admin: true, Scopes: []string{"access:servers"}}
	hub.tokens["service-token"] = &hubapi.Identity{Kind: "service", Name: "alice", Scopes: []string{"access:servers"}}
	hub.expired["old-token"] = true
	pres := newPresence(nil)
	p := &proxy{
		hub: hub.client(t), user: "alice", server: "", pres: pres,
		log: testLogger(t), now: time.Now,
		lookup: func(_ context.Context, id string) (route, error) {
			switch id {
			case "a1":
				return route{AppID: "a1", Host: host, Port: port, Password: "xpra-pw", EncryptionKey: "xpra-key"}, nil
			case "starting":
				return route{}, errNotRunning{status: "starting"}
			}
			return route{}, fmt.Errorf("unexpected app %s", id)
		},
	}
	front := httptest.NewServer(p.handler())
	t.Cleanup(front.Close)
	hc := &http.Client{Transport: &http.Transport{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(hc.CloseIdleConnections)
	return &proxyFixture{hub: hub, pres: pres, front: front, hc: hc}
}

func (f *proxyFixture) get(t *testing.T, path, token, cookie string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.front.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestProxyAuth(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"owner", "alice-token", http.StatusOK},
		{"owner's OAuth token for this server", "alice-oauth", http.StatusOK},
		{"the session server's own token", "alice-server", http.StatusOK},
		{"owner without access scope", "alice-narrow", http.StatusForbidden},
		{"other user", "bob-token", http.StatusForbidden},
		{"admin", "admin-token", http.StatusForbidden},
		{"service named like the owner", "service-token", http.StatusForbidden},
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "forged", http.StatusUnauthorized},
		{"expired token", "old-token", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(t, "/apps/a1/index.html?x=1", tc.token, "")
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusOK && !strings.Contains(body, `path=/index.html query=x=1 auth="" cookie=""`) {
				t.Errorf("upstream saw %s", body)
			}
		})
	}
}

func TestProxyQueryTokenSetsCookie(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	resp, body := f.get(t, "/apps/a1/?token=alice-token", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `path=/ query= auth="" cookie=""`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var sid string
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			sid = c.Value
			if !c.HttpOnly || strings.Contains(c.Value, "alice-token") {
				t.Errorf("cookie %+v", c)
			}
		}
	}
	if sid == "" {
		t.Fatal("no session cookie")
	}
	if resp, body := f.get(t, "/apps/a1/js/Client.js", "", sid); resp.StatusCode != http.StatusOK {
		t.Fatalf("with the cookie: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.get(t, "/apps/a1/js/Client.js", "", "made-up"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("with a made-up cookie: %d", resp.StatusCode)
	}
}

// TestProxyPassword: the browser's client gets the app's Xpra password in
// the page, never in a URL. Tried: the first visit with ?token= (as the
// launch tests open it), the page again with the session cookie, the page
// named index.html, a password someone put in the URL, another user.
func TestProxyPassword(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	resp, body := f.get(t, "/apps/a1/default-settings.txt", "alice-token", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "\npassword=xpra-pw\nencryption=AES\nkey=xpra-key\n") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("default-settings.txt: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ := f.get(t, "/apps/a1/default-settings.txt", "bob-token", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob got the settings: %d", resp.StatusCode)
	}

	resp, _ = f.get(t, "/apps/a1/?token=alice-token", "", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
		t.Fatalf("the page: %d Location %q (a redirect would carry the password)", resp.StatusCode, resp.Header.Get("Location"))
	}
	sid := ""
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			sid = c.Value
		}
	}
	const script = `<script>try{var s=sessionStorage;s.setItem("password","xpra-pw");` +
		`s.setItem("encryption","AES");s.setItem("key","xpra-key");}catch(e){}</script>`
	for _, page := range []struct{ name, path, cookie string }{
		{"first visit", "/apps/a1/?token=alice-token", ""},
		{"with the cookie", "/apps/a1/", sid},
		{"index.html", "/apps/a1/index.html?password=leaked&key=leaked&x=1", sid},
	} {
		resp, body := f.get(t, page.path, "", page.cookie)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, `<!DOCTYPE html><html><HEAD lang="en">`+script+`<script src="js/Client.js">`) {
			t.Errorf("%s: %d, the password is not first in the head: %s", page.name, resp.StatusCode, body)
		}
		if strings.Contains(body, "query=password") || strings.Contains(body, "leaked") || strings.Contains(body, "token=") || !strings.Contains(body, `referer=""`) {
			t.Errorf("%s: the app pod saw %s", page.name, body)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", page.name, resp.Header)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("%s: Content-Length %d for %d bytes", page.name, resp.ContentLength, len(body))
		}
	}
	// Only the page carries it; the rest of the client passes as it is.
	if _, body := f.get(t, "/apps/a1/js/Client.js", "", sid); strings.Contains(body, "xpra-pw") || strings.Contains(body, "xpra-key") {
		t.Errorf("Client.js: %s", body)
	}
	if resp, body := f.get(t, "/apps/a1/", "bob-token", ""); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "xpra-pw") {
		t.Errorf("bob: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.get(t, "/apps/a1", "", ""); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "a1/" {
		t.Fatalf("redirect to the folder: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := f.get(t, "/apps/starting/", "alice-token", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("app not running: %d", resp.StatusCode)
	}
}

func TestWithSecrets(t *testing.T) {
	t.Parallel()
	const script = `<script>try{var s=sessionStorage;s.setItem("password","p\u003c/script\u003e\"");}catch(e){}</script>`
	for _, tc := range []struct{ name, page, want string }{
		{"head", `<html><head><title>x</title></head>`, `<html><head>` + script + `<title>x</title></head>`},
		{"head with attributes", "<html><head\nlang=en>", "<html><head\nlang=en>" + script},
		{"a header element is not the head", `<header>h</header><HEAD>`, `<header>h</header><HEAD>` + script},
		{"no head", `<p>x</p>`, script + `<p>x</p>`},
	} {
		// A service that predates encryption sends no key: none is set.
		if got := string(withSecrets([]byte(tc.page), route{Password: `p</script>"`})); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestProxyWebSocket(t *testing.T) {
	t.Parallel()
	f := newProxyFixture(t)
	wsURL := "ws" + strings.TrimPrefix(f.front.URL, "http") + "/apps/a1/"

	cfg, err := websocket.NewConfig(wsURL, f.front.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := websocket.DialConfig(cfg); err == nil {
		t.Fatal("websocket without a token was let through")
	}

	cfg.Header = http.Header{"Authorization": {"token alice-token"}}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("hello xpra")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "hello xpra" {
		t.Fatalf("echo %q, %v", buf[:n], err)
	}
	if n, _ := f.pres.viewing("a1"); n != 1 {
		t.Errorf("viewers while connected = %d, want 1", n)
	}
	conn.Close()
	waitUntil(t, f.pres, "the viewer to leave", func() bool { n, _ := f.pres.viewing("a1"); return n == 0 })
}
