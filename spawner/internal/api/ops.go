package api

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewOps returns the operations handler: /healthz (the process serves),
// /readyz (the sessions are loaded from the cluster) and /metrics. It serves
// no user data and carries no credentials; the chart exposes its port only to
// the kubelet and Prometheus.
//
// warnings are sentences about the configuration that do not stop the
// service but leave users without something (no app catalog, say); /readyz
// adds them to its answer, one "warning: …" line each, so an operator who
// checks readiness by hand sees them.
//
// standby (nil: never) reports a replica that stands by for the leader: it
// is not ready, so that a Kubernetes Service routes only to the leader,
// and /readyz says "standing by"; /healthz stays ok.
func NewOps(ready, standby func() bool, warnings []string, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if standby != nil && standby() {
			http.Error(w, "standing by: another replica leads", http.StatusServiceUnavailable)
			return
		}
		if !ready() {
			http.Error(w, "loading sessions from the cluster", http.StatusServiceUnavailable)
			return
		}
		var b strings.Builder
		b.WriteString("ok\n")
		for _, warning := range warnings {
			b.WriteString("warning: " + warning + "\n")
		}
		_, _ = w.Write([]byte(b.String()))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}
