// Package podresponder answers HTTP for every fake pod of the dev cluster.
//
// kwok gives pods loopback IPs (127.42.x.y) but runs no containers, so nothing
// would listen at a pod's IP. A single listener on 0.0.0.0:Port receives the
// connections for all of them (on Linux every 127.0.0.0/8 address is local),
// which lets JupyterHub's readiness poll and kubedesk's own probes see a
// "running notebook server" at any pod's IP. The handler lives here, in a
// package with no dependencies, so that both the Go test helper
// (devcluster.StartResponder) and the standalone process
// (hack/podresponder) serve exactly the same thing.
package podresponder

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
)

const (
	// Port is where the responder answers, and so the port that sessions
	// on kwok's nodes must be given (the spawner's port setting). Not
	// JupyterHub's default 8888: the dev node's real sessions listen on
	// 8888 at their own pod IPs, which a listener on 0.0.0.0:8888 would
	// keep them from binding while any test binary runs a responder.
	Port = 18888

	// Identity is the version the responder reports in its /api document
	// and in IdentityHeader; it tells a second test binary that the process
	// holding the port is a responder it can share, not some other server.
	Identity = "kubedesk-responder"

	// IdentityHeader carries Identity on every response.
	IdentityHeader = "X-Kubedesk-Responder"

	// JupyterHubVersionHeader is what a real jupyterhub-singleuser sends
	// and what the hub reads after its readiness poll succeeds.
	JupyterHubVersionHeader = "X-JupyterHub-Version"

	// DefaultJupyterHubVersion is sent in JupyterHubVersionHeader unless the
	// caller knows the hub's version. It must parse as a PEP 440 version:
	// JupyterHub (4.x to 6.x) runs packaging.version.parse on the header and
	// an unparseable value ("kubedesk-responder") raises InvalidVersion and
	// fails the spawn. With a different major version than the hub's, the hub
	// logs one "version mismatch" warning and carries on; pass the hub's own
	// version (hack/podresponder -jupyterhub-version) for a clean log.
	DefaultJupyterHubVersion = "0.0.0+kubedesk.responder"
)

// Handler returns the responder's handler; jupyterhubVersion goes into
// JupyterHubVersionHeader ("" means DefaultJupyterHubVersion).
//
// Any path ending in /api (JupyterHub polls <server url>/api, where the server
// url carries the user's prefix such as /user/alice/) gets a Jupyter-server
// style JSON version document; anything else gets 200 text that names the
// address the request came to, so a test can see which pod IP it reached.
func Handler(jupyterhubVersion string) http.Handler {
	if jupyterhubVersion == "" {
		jupyterhubVersion = DefaultJupyterHubVersion
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(IdentityHeader, Identity)
		w.Header().Set(JupyterHubVersionHeader, jupyterhubVersion)
		if strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/api") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"version": Identity})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		local := ""
		if addr, ok := r.Context().Value(http.LocalAddrContextKey).(fmt.Stringer); ok {
			local = addr.String()
		}
		fmt.Fprintf(w, "%s at %s: %s %s\n", Identity, local, r.Method, r.URL.Path)
	})
}

// Listen opens addr with SO_REUSEPORT, so that several responders (one per
// test binary running in parallel, plus a hack/podresponder process) can all
// hold 0.0.0.0:Port at once: the kernel spreads connections over them, and
// when one exits the others keep answering, with no gap and no hand-over.
// All of them serve the same Handler, so which one answers does not matter.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			}); err != nil {
				return err
			}
			return serr
		},
	}
	return lc.Listen(ctx, "tcp", addr)
}

// soReusePort is SO_REUSEPORT on Linux (the only platform the dev cluster
// runs on); package syscall names it only on some architectures, and
// golang.org/x/sys is not worth a dependency for one constant.
const soReusePort = 0xf

// IsResponder reports whether a server at addr (host:port) is a responder,
// by its identity header; used to share a port held by a responder that was
// started without SO_REUSEPORT.
func IsResponder(ctx context.Context, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && resp.Header.Get(IdentityHeader) == Identity
}
