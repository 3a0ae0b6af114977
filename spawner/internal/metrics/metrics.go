package metrics

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "kubedesk"

// Spawner holds the spawner service's metrics.
type Spawner struct {
	SpawnDuration   *prometheus.HistogramVec
	SpawnFailures   *prometheus.CounterVec
	StopDuration    prometheus.Histogram
	KubeRequests    *prometheus.CounterVec
	HTTPRequests    *prometheus.HistogramVec
	ReconcileRounds prometheus.Counter
	// SpawnsResumed counts spawns a restarted service picked up.
	SpawnsResumed *prometheus.CounterVec
	AppLaunches   *prometheus.CounterVec
	AppStart      prometheus.Histogram
	// NameConflicts counts objects found under a session's name that
	// belong to another user (see podspec.OwnerOf).
	NameConflicts *prometheus.CounterVec
	// AuthFailures counts requests refused for their credentials.
	AuthFailures *prometheus.CounterVec
	// CatalogApps is the number of apps the catalog loaded at start, and
	// CatalogSkipped the entries it left out for their mistakes: 0 apps
	// means sessions can launch nothing (no catalog configured).
	CatalogApps    prometheus.Gauge
	CatalogSkipped prometheus.Gauge
	// Leader is 1 while this process acts (it holds the leader Lease, or
	// runs without leader election) and 0 while it stands by;
	// LeaderAcquisitions counts the times it took the Lease.
	Leader             prometheus.Gauge
	LeaderAcquisitions prometheus.Counter
	// VolumesDeleted counts home PVCs deleted because the hub deleted
	// their server for good (Spawner.delete_forever).
	VolumesDeleted prometheus.Counter
	// Orphans counts the objects of sessions the hub no longer has, by
	// kind (pod, secret) and action (collected, would_collect in
	// dry-run mode, failed).
	Orphans *prometheus.CounterVec
}

// spawnBuckets reach ten minutes: image pulls and node scale-ups put the p99
// of real spawns past the two minutes that default buckets cover.
var spawnBuckets = []float64{0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600}

// NewSpawner creates the metrics and registers them on reg. sessions and
// apps are called at scrape time and return the number of sessions and of
// app pods per status, so the gauges can never drift from the service's own
// state.
func NewSpawner(reg prometheus.Registerer, sessions, apps func() map[string]int) *Spawner {
	m := &Spawner{
		SpawnDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "spawn_duration_seconds",
			Help:    "Time from a spawn request to the session being ready or failed, by profile and outcome (ready, failed, cancelled).",
			Buckets: spawnBuckets,
		}, []string{"profile", "outcome"}),
		SpawnFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "spawn_failures_total",
			Help: "Spawns that failed, by reason (image_pull, crash_loop, unschedulable, timeout, pod_deleted, config, kubernetes, exited).",
		}, []string{"reason"}),
		StopDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "stop_duration_seconds",
			Help:    "Time from a stop request until the session's pod is gone.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120},
		}),
		KubeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "kube_requests_total",
			Help: "Requests the service sent to the Kubernetes API server, by verb, resource and HTTP status code.",
		}, []string{"verb", "resource", "code"}),
		HTTPRequests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "http_request_duration_seconds",
			Help:    "Time to answer requests to the service's REST API, by route, method and status code. Progress streams are measured until they end.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
		AppLaunches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "app_launches_total",
			Help: "App launch requests from sessions, by outcome: created, or the code of the refusal (unknown_app, not_allowed, bad_file, quota, stale_token, error).",
		}, []string{"outcome"}),
		AppStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "app_start_duration_seconds",
			Help:    "Time from an app pod's creation until its app runs and its Xpra sidecar is ready to attach.",
			Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300},
		}),
		NameConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "name_conflicts_total",
			Help: "Spawns refused because an object under the session's name (kind: pvc, pod, secret, session) belongs to another user or records no owner; an operator must resolve each one.",
		}, []string{"kind"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "auth_failures_total",
			Help: "Requests refused for their credentials, by credential (hub, session) and outcome (rejected: a wrong token; limited: the source had failed too often and was not checked).",
		}, []string{"credential", "outcome"}),
		CatalogApps: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "catalog_apps",
			Help: "Apps (id and version) in the app catalog loaded at start; 0: sessions can launch no apps.",
		}),
		CatalogSkipped: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "catalog_entries_skipped",
			Help: "Catalog entries left out at start for a mistake (each is logged with its file and line).",
		}),
		SpawnsResumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "spawns_resumed_total",
			Help: "Spawns in flight when the service last stopped that it resumed at start, by what it found: pod (the pod existed) or intent (only the recorded intent, so it created the pod).",
		}, []string{"from"}),
		ReconcileRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "reconcile_rounds_total",
			Help: "Times the service rebuilt its view of sessions from the cluster.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "leader",
			Help: "1 while this replica acts on sessions (it holds the leader Lease, or runs without leader election), 0 while it stands by.",
		}),
		LeaderAcquisitions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "leader_acquisitions_total",
			Help: "Times this replica took the leader Lease (at most once per process: one that loses it exits).",
		}),
		VolumesDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "volumes_deleted_total",
			Help: "Home volumes (PVCs) deleted because the hub deleted their server for good (a user deleted, a named server removed).",
		}),
		Orphans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "spawner", Name: "orphans_total",
			Help: "Objects of sessions whose server the hub no longer has, by kind (pod; secret, its hub environment) and action (collected; would_collect in dry-run mode; failed: the stop did not succeed and is tried again next round).",
		}, []string{"kind", "action"}),
	}
	active := prometheus.NewDesc(prometheus.BuildFQName(namespace, "spawner", "sessions"),
		"Sessions the service knows, by status (pending, running, stopping, failed).", []string{"status"}, nil)
	appPods := prometheus.NewDesc(prometheus.BuildFQName(namespace, "spawner", "apps"),
		"App pods, by status (starting, running, stopping, ended, failed).", []string{"status"}, nil)
	reg.MustRegister(m.SpawnDuration, m.SpawnFailures, m.StopDuration, m.KubeRequests, m.HTTPRequests, m.ReconcileRounds, m.SpawnsResumed,
		m.AppLaunches, m.AppStart,
		m.NameConflicts, m.AuthFailures, m.CatalogApps, m.CatalogSkipped, m.Leader, m.LeaderAcquisitions,
		m.VolumesDeleted, m.Orphans,
		&funcCollector{desc: active, fn: sessions}, &funcCollector{desc: appPods, fn: apps})
	return m
}

// funcCollector exports a map computed at scrape time as one gauge per key.
type funcCollector struct {
	desc *prometheus.Desc
	fn   func() map[string]int
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	for status, n := range c.fn() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}

// CountKubeRequests wraps a client-go transport so that every request to the
// API server is counted by verb and resource. Install it with
// rest.Config.Wrap.
func (m *Spawner) CountKubeRequests(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		code := "error"
		if err == nil {
			code = strconv.Itoa(resp.StatusCode)
		}
		verb, resource := KubeVerb(req)
		m.KubeRequests.WithLabelValues(verb, resource, code).Inc()
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// KubeVerb derives the Kubernetes verb (get, list, watch, create, update,
// patch, delete, deletecollection) and resource from a request path such as
// /api/v1/namespaces/ns/pods/name, the way the API server's own
// apiserver_request_total does, so both can be compared.
func KubeVerb(req *http.Request) (verb, resource string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// Skip the group prefix: api/v1 or apis/<group>/<version>.
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(req.Method), "other"
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	named := len(parts) >= 2
	if len(parts) > 0 {
		resource = parts[0]
	}
	if len(parts) >= 3 {
		resource += "/" + parts[2] // subresource, e.g. pods/status
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(req.Method)
	}
	return verb, resource
}
