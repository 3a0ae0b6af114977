package httpguard

import (
	"context"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Limits of one listener.
type Limits struct {
	// MaxHeaderBytes bounds a request's header. net/http reads at most this
	// plus 4 KiB before it answers 431, so it also bounds what a client
	// that never ends its header makes a connection hold.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds how long a client may take to send its
	// header; IdleTimeout how long a keep-alive connection may wait for
	// its next request.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxConns bounds the connections served at once; 0 means no cap.
	MaxConns int
}

// DefaultMaxHeaderBytes is far above what JupyterHub, the launcher agent
// and Prometheus send (a bearer token and a few short headers), far below
// net/http's 1 MiB default that made 300 connections cost 500 MB.
const DefaultMaxHeaderBytes = 16 << 10

// Listen listens on addr and serves at most lim.MaxConns connections at
// once: Accept waits while the cap is reached, so further clients wait in
// the kernel's backlog, holding no memory of the service.
func Listen(addr string, lim Limits) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if lim.MaxConns > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConns)
	}
	return ln, nil
}

// Server is an http.Server for h with lim applied; base is every request's
// base context.
func Server(base context.Context, h http.Handler, lim Limits) *http.Server {
	maxHeader := lim.MaxHeaderBytes
	if maxHeader == 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    maxHeader,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// BodyDeadline sets a deadline for reading the request's body, so a client
// that trickles a body cannot hold its connection (and the handler) for
// ever; it returns the function that lifts the deadline again once the body
// is read. Where the connection does not support deadlines (tests with
// httptest.ResponseRecorder), it does nothing.
func BodyDeadline(w http.ResponseWriter, d time.Duration) (lift func()) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return func() {}
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// Peer is the address the request came from: the connection's peer, never
// a client-supplied header such as X-Forwarded-For, which anyone can set.
// No proxy stands between the service and its clients (the hub and session
// pods call it directly), so the peer is the client.
func Peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
