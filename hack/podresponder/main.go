// Command podresponder serves podresponder.Handler on 0.0.0.0:18888
// (podresponder.Port; sessions on kwok's nodes must use that port) so that
// every dev-cluster pod IP (127.42.x.y) answers like a running single-user
// server. Benchmarks and the JupyterHub end-to-end test run it as a separate
// process; Go tests use devcluster.StartResponder instead, which shares a
// running instance of this command if one holds the port.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"strconv"
	"time"

	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

func main() {
	addr := flag.String("addr", net.JoinHostPort("0.0.0.0", strconv.Itoa(podresponder.Port)), "listen address")
	hubVersion := flag.String("jupyterhub-version", podresponder.DefaultJupyterHubVersion,
		"version to send in X-JupyterHub-Version; the hub's own version keeps its log free of a mismatch warning")
	flag.Parse()
	srv := &http.Server{
		Addr:              *addr,
		Handler:           podresponder.Handler(*hubVersion),
		ReadHeaderTimeout: 10 * time.Second, // a stuck client must not pin a goroutine forever
	}
	// SO_REUSEPORT: test binaries' in-process responders may share the port.
	ln, err := podresponder.Listen(context.Background(), *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("podresponder listening on %s", *addr)
	log.Fatal(srv.Serve(ln))
}
