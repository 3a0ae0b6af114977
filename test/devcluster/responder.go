package devcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

// Responder is the pod responder a test runs with (see StartResponder).
type Responder struct {
	// Port is where every pod IP answers (podresponder.Port).
	Port int
	// Shared is true when another process holds the port without
	// SO_REUSEPORT (an older hack/podresponder) and this test relies on it.
	Shared bool
}

// URL is the address of a pod's server as JupyterHub would poll it.
func (r *Responder) URL(podIP string) string {
	return "http://" + net.JoinHostPort(podIP, strconv.Itoa(r.Port))
}

// responderProbeTimeout bounds the identity check of a foreign listener.
const responderProbeTimeout = 5 * time.Second

// The in-process responder is shared by all tests of the binary and closed
// when the last of them ends, so parallel tests neither fight over the port
// nor leave a serving goroutine behind for leak checks after the run.
var responder struct {
	mu    sync.Mutex
	users int
	srv   *http.Server
}

// StartResponder makes every pod IP of the dev cluster answer HTTP on
// podresponder.Port for the duration of the test (see package podresponder
// for what it answers; sessions on kwok's nodes must be given that port). It
// listens on 0.0.0.0:podresponder.Port with SO_REUSEPORT, so test binaries
// running in parallel and a hack/podresponder process all serve side by
// side; if the port is held by a responder that did not set SO_REUSEPORT, the
// test uses that one. A port held by anything else fails the test.
func StartResponder(tb testing.TB) *Responder {
	tb.Helper()
	responder.mu.Lock()
	defer responder.mu.Unlock()
	r := &Responder{Port: podresponder.Port}
	if responder.srv == nil {
		addr := net.JoinHostPort("0.0.0.0", strconv.Itoa(podresponder.Port))
		ln, err := podresponder.Listen(context.Background(), addr)
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), responderProbeTimeout)
			defer cancel()
			if podresponder.IsResponder(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(podresponder.Port))) {
				tb.Logf("devcluster: sharing the pod responder another process runs on %s", addr)
				r.Shared = true
				return r
			}
			tb.Fatalf("devcluster: pod responder: %v (and what holds the port is no responder)", err)
		}
		srv := &http.Server{Handler: podresponder.Handler(""), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				panic(fmt.Sprintf("devcluster: pod responder: %v", err))
			}
		}()
		responder.srv = srv
	}
	responder.users++
	tb.Cleanup(func() {
		responder.mu.Lock()
		defer responder.mu.Unlock()
		responder.users--
		if responder.users == 0 {
			_ = responder.srv.Close()
			responder.srv = nil
		}
	})
	return r
}
