package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// identifier is what the proxy needs of the hub: *hubapi.Client.
type identifier interface {
	Identify(ctx context.Context, token string) (*hubapi.Identity, error)
}

// SessionCookie is the proxy's own cookie: an opaque id the agent maps to
// the hub token the browser first presented in ?token=. The hub token
// itself is never put in a cookie.
const SessionCookie = "kubedesk-launcher-session"

const (
	// identityTTL is how long a token's identity is trusted before the hub
	// is asked again (a revoked token stops working within it).
	identityTTL = 30 * time.Second
	// sessionTTL is how long a proxy session cookie lives.
	sessionTTL = 12 * time.Hour
	// nativeDetachTimeout bounds the wait for the desktop's attach to end
	// before a browser's websocket goes on to the app: xpra attach gets
	// SIGINT and is killed 5 s later (xpraAttacher).
	nativeDetachTimeout = 6 * time.Second
)

// proxy serves /apps/{id}/… : the Xpra HTML5 client of the app (pages and
// its websocket), reverse-proxied to the app's Xpra server, for the
// session's owner only.
type proxy struct {
	addr         string
	hub          identifier
	user, server string
	lookup       func(ctx context.Context, id string) (route, error)
	pres         *presence
	log          *slog.Logger
	now          func() time.Time

	mu         sync.Mutex
	identities map[[32]byte]cachedIdentity
	sessions   map[string]proxySession
}

type cachedIdentity struct {
	id      *hubapi.Identity
	expires time.Time
}

type proxySession struct {
	token   string
	expires time.Time
}

// errNotRunning is a lookup of an app that is not (yet) running.
type errNotRunning struct{ status sessionapi.Status }

func (e errNotRunning) Error() string { return "the app is " + string(e.status) }

func (p *proxy) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("html5 proxy: %w", err)
	}
	srv := &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	p.log.Info("HTML5 proxy listening", "addr", ln.Addr().String())
	return serve(ctx, srv, ln, nil)
}

// maxPageBytes bounds the client's page the proxy reads to put the
// secrets in (Xpra 3.1's index.html is about 40 KB).
const maxPageBytes = 4 << 20

type routeKey struct{}

// proxied is what the handler tells the reverse proxy about a request.
type proxied struct {
	route
	// page is a request for the HTML5 client's page, which the proxy
	// hands the password and key in (withSecrets).
	page bool
}

func (p *proxy) handler() http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			px := pr.In.Context().Value(routeKey{}).(proxied)
			r := px.route
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
			pr.Out.Host = pr.Out.URL.Host
			pr.Out.URL.Path = "/" + pr.In.PathValue("rest")
			pr.Out.URL.RawPath = ""
			q := pr.In.URL.Query()
			// Neither the hub token nor the app's Xpra secrets (which
			// only the browser's client needs) reach the app pod's logs.
			q.Del("token")
			q.Del("password")
			q.Del("key")
			pr.Out.URL.RawQuery = q.Encode()
			// The hub's credentials stay here: the app pod is not the hub.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			// The page that embeds the view (JupyterLab's, with its own
			// query) is none of the app pod's business either.
			pr.Out.Header.Del("Referer")
			if px.page {
				// Without an Accept-Encoding of the browser's, Go's
				// transport asks for gzip itself and hands ModifyResponse
				// the page decoded, whatever Xpra compresses.
				pr.Out.Header.Del("Accept-Encoding")
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			px := resp.Request.Context().Value(routeKey{}).(proxied)
			if !px.page || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				return nil
			}
			if enc := resp.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
				return fmt.Errorf("the client's page came %s-encoded: the password cannot be put in", enc)
			}
			page, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("read the client's page: %w", err)
			}
			if len(page) > maxPageBytes {
				return fmt.Errorf("the client's page is over %d bytes", maxPageBytes)
			}
			page = withSecrets(page, px.route)
			resp.Body = io.NopCloser(bytes.NewReader(page))
			resp.ContentLength = int64(len(page))
			resp.Header.Set("Content-Length", strconv.Itoa(len(page)))
			// The page now holds a secret: no cache keeps it, no other
			// origin reads it (Xpra's own headers allow any), and no link
			// from it tells where it was.
			resp.Header.Set("Cache-Control", "no-store")
			resp.Header.Del("Access-Control-Allow-Origin")
			resp.Header.Set("Referrer-Policy", "no-referrer")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("HTML5 proxy could not reach the app", "path", r.URL.Path, "err", err)
			http.Error(w, "The app's Xpra server did not answer.", http.StatusBadGateway)
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/apps/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Relative, so it works under any prefix a proxy in front strips.
		relativeRedirect(w, url.PathEscape(r.PathValue("id"))+"/"+query(r.URL.RawQuery))
	})
	mux.HandleFunc("/apps/{id}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		if !p.authorize(w, r) {
			return
		}
		id := r.PathValue("id")
		rt, err := p.lookup(r.Context(), id)
		var nr errNotRunning
		var ae *sessionapi.Error
		switch {
		case errors.As(err, &nr):
			w.Header().Set("Retry-After", "2")
			http.Error(w, fmt.Sprintf("The app %s is not running: %s.", id, nr.status), http.StatusServiceUnavailable)
			return
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			http.Error(w, "This session has no app "+id+".", http.StatusNotFound)
			return
		case err != nil:
			p.log.Warn("HTML5 proxy: app lookup failed", "id", id, "err", err)
			http.Error(w, "The launcher could not look the app up.", http.StatusBadGateway)
			return
		}
		rest := r.PathValue("rest")
		if rest == "default-settings.txt" {
			// The separate xpra-html5 client (Xpra 5 and later) reads its
			// defaults from here; the secrets among them never appear in
			// a URL.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprintf(w, "# from the kubedesk launcher agent\npassword=%s\n", rt.Password)
			if rt.EncryptionKey != "" {
				fmt.Fprintf(w, "encryption=AES\nkey=%s\n", rt.EncryptionKey)
			}
			return
		}
		px := proxied{route: rt, page: r.Method == http.MethodGet && (rest == "" || rest == "index.html") && !isWebSocket(r)}
		if isWebSocket(r) {
			p.pres.viewerOpened(id)
			defer p.pres.viewerClosed(id)
			// Xpra gives the session to its newest client: the browser
			// connects once the desktop's attach, which the supervisor ends
			// when a viewer opens, has let go, or the attach would take
			// the app back.
			if !p.pres.waitNativeDetached(r.Context(), id, nativeDetachTimeout) {
				p.log.Warn("HTML5 proxy: the desktop's attach did not let the app go; connecting anyway", "id", id)
			}
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, px)))
	})
	return mux
}

// withSecrets puts the app's Xpra password, and the key of its stream's
// encryption, where the HTML5 client looks when its URL has none,
// sessionStorage (Utilities.getparam of Xpra 3.1's client and of
// xpra-html5), in a script at the top of the page's head, so it runs before
// the client's own. The client reads them once jQuery calls its ready
// handler, and removes the password itself. The key stays in the tab's
// sessionStorage: no moment is safe to remove it (jQuery runs ready
// handlers asynchronously, so with a cached page the window's load event
// can come first, and a removal then made the client connect unencrypted),
// and the only scripts that can read it are JupyterLab's origin's, which
// can fetch this page anyway. Neither is ever in a URL: not in the
// browser's history, not in an access log, not in a Referer. Xpra's
// Content-Security-Policy allows inline scripts (its page has its own).
func withSecrets(page []byte, r route) []byte {
	// json.Marshal escapes <, > and &: a value cannot end the script.
	str := func(v string) string { js, _ := json.Marshal(v); return string(js) }
	js := `var s=sessionStorage;s.setItem("password",` + str(r.Password) + `);`
	if r.EncryptionKey != "" {
		js += `s.setItem("encryption","AES");s.setItem("key",` + str(r.EncryptionKey) + `);`
	}
	script := []byte(`<script>try{` + js + `}catch(e){}</script>`)
	at := 0
	lower := bytes.ToLower(page)
	for off := 0; ; {
		i := bytes.Index(lower[off:], []byte("<head"))
		if i < 0 {
			break
		}
		i += off
		// <head> or <head …>, not <header>.
		if rest := lower[i+len("<head"):]; len(rest) > 0 && (rest[0] == '>' || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r') {
			if end := bytes.IndexByte(rest, '>'); end >= 0 {
				at = i + len("<head") + end + 1
			}
			break
		}
		off = i + len("<head")
	}
	out := make([]byte, 0, len(page)+len(script))
	out = append(out, page[:at]...)
	out = append(out, script...)
	return append(out, page[at:]...)
}

// relativeRedirect redirects to a URL relative to the request's, which
// http.Redirect would make absolute (and wrong behind a prefix-stripping
// proxy).
func relativeRedirect(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
}

func query(raw string) string {
	if raw == "" {
		return ""
	}
	return "?" + raw
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// authorize lets the session's owner through: a hub token from the
// Authorization header ("token …" or "Bearer …"), from ?token= (which
// also sets the proxy's session cookie, for the page's assets and its
// websocket, which cannot carry headers), or from that cookie. The token
// must belong to the user JUPYTERHUB_USER (not a service, not an admin, not
// a user the server is shared with) and carry access to this server. No
// token, or one the hub does not know: 401; someone else's: 403.
func (p *proxy) authorize(w http.ResponseWriter, r *http.Request) bool {
	token, fromQuery := p.token(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `token realm="kubedesk"`)
		http.Error(w, "Log in to JupyterHub first: send a hub token.", http.StatusUnauthorized)
		return false
	}
	id, err := p.identify(r.Context(), token)
	switch {
	case hubapi.IsUnauthorized(err) || hubapi.IsForbidden(err):
		w.Header().Set("WWW-Authenticate", `token realm="kubedesk"`)
		http.Error(w, "The hub does not accept this token (expired or revoked?).", http.StatusUnauthorized)
		return false
	case err != nil:
		p.log.Warn("HTML5 proxy: the hub did not answer", "err", err)
		http.Error(w, "The hub could not check the token.", http.StatusBadGateway)
		return false
	case id.Kind != hubapi.KindUser || id.Name != p.user || !hubapi.HasAccess(id, p.user, p.server):
		p.log.Warn("HTML5 proxy: refused a token of someone else", "kind", id.Kind, "name", id.Name)
		http.Error(w, "Only the session's owner may view its apps.", http.StatusForbidden)
		return false
	}
	if fromQuery {
		http.SetCookie(w, &http.Cookie{
			Name:     SessionCookie,
			Value:    p.newSession(token),
			MaxAge:   int(sessionTTL / time.Second),
			HttpOnly: true,
			Secure:   r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
			SameSite: http.SameSiteLaxMode,
		})
	}
	return true
}

func (p *proxy) token(r *http.Request) (token string, fromQuery bool) {
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && (strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
		return strings.TrimSpace(t), false
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t, true
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		if s, ok := p.sessions[c.Value]; ok && p.now().Before(s.expires) {
			return s.token, false
		}
	}
	return "", false
}

func (p *proxy) newSession(token string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	sid := base64.RawURLEncoding.EncodeToString(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.sessions == nil {
		p.sessions = map[string]proxySession{}
	}
	for k, s := range p.sessions {
		if !now.Before(s.expires) {
			delete(p.sessions, k)
		}
	}
	p.sessions[sid] = proxySession{token: token, expires: now.Add(sessionTTL)}
	return sid
}

// identify asks the hub who owns token, remembering a good answer for
// identityTTL.
func (p *proxy) identify(ctx context.Context, token string) (*hubapi.Identity, error) {
	key := sha256.Sum256([]byte(token))
	p.mu.Lock()
	if c, ok := p.identities[key]; ok && p.now().Before(c.expires) {
		p.mu.Unlock()
		return c.id, nil
	}
	p.mu.Unlock()
	id, err := p.hub.Identify(ctx, token)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.identities == nil {
		p.identities = map[[32]byte]cachedIdentity{}
	}
	now := p.now()
	for k, c := range p.identities {
		if !now.Before(c.expires) {
			delete(p.identities, k)
		}
	}
	p.identities[key] = cachedIdentity{id: id, expires: now.Add(identityTTL)}
	return id, nil
}
