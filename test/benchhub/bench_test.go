package benchhub

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

const (
	spawnerKubedesk    = "kubedesk"
	spawnerKubeSpawner = "kubespawner"
	image              = "kubedesk/desktop:bench"
	// waveTimeout bounds one wave's requests; the hub's start_timeout
	// (300 s, as in Zero to JupyterHub) ends a stuck spawn before it.
	waveTimeout = 15 * time.Minute
	// namespaceGoneTimeout bounds the wait for a run's namespace to be
	// deleted, so that the next run starts on an idle cluster.
	namespaceGoneTimeout = 5 * time.Minute
)

// Result is one run, as written to .cache/benchhub/results/<name>.json.
type Result struct {
	Name       string `json:"name"`
	Scenario   string `json:"scenario"`
	Hub        string `json:"hub"`
	HubVersion string `json:"hub_version"`
	Spawner    string `json:"spawner"`
	// Variant names a diagnostic run (BENCH_VARIANT), such as a service
	// built with a changed setting; empty for the benchmark proper.
	Variant string    `json:"variant,omitempty"`
	N       int       `json:"n"`
	PVC     bool      `json:"pvc"`
	Started time.Time `json:"started"`
	// Load averages (1, 5, 15 min) when the wave started and ended: other
	// work on the machine shares its 2 cores.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`

	Latencies []float64      `json:"latencies"` // seconds, successful users
	P50       float64        `json:"p50"`
	P95       float64        `json:"p95"`
	P99       float64        `json:"p99"`
	Max       float64        `json:"max"`
	Total     float64        `json:"total"` // first request to last answer
	Ready     int            `json:"ready"` // ready in the hub's user list afterwards
	Failed    int            `json:"failed"`
	Failures  map[string]int `json:"failures,omitempty"` // message → count

	HubCPU     float64 `json:"hub_cpu"`     // CPU s during the wave
	HubRSS     float64 `json:"hub_rss_mib"` // peak RSS (VmHWM) at the end
	ProxyCPU   float64 `json:"proxy_cpu"`
	ProxyRSS   float64 `json:"proxy_rss_mib"`
	ServiceCPU float64 `json:"service_cpu"`
	ServiceRSS float64 `json:"service_rss_mib"`

	// apiserver_request_total during the wave, all clients, by
	// "VERB resource[/subresource]", and the service's own requests.
	API        map[string]float64 `json:"api"`
	APITotal   float64            `json:"api_total"`
	ServiceAPI map[string]float64 `json:"service_api,omitempty"`

	Series []Sample `json:"series"`

	// Scenario-specific figures (restart, kill, steady).
	Extra map[string]any `json:"extra,omitempty"`
}

// Sample is one second of a run.
type Sample struct {
	T          float64 `json:"t"`
	Ready      int     `json:"ready"`
	HubCPU     float64 `json:"hub_cpu"`
	ProxyCPU   float64 `json:"proxy_cpu"`
	ServiceCPU float64 `json:"service_cpu"`
	Load1      float64 `json:"load1"`
}

func envList(key, def string) []string {
	v := os.Getenv(key)
	if v == "" {
		v = def
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envInt(t *testing.T, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return n
}

func envInts(t *testing.T, key, def string) []int {
	var out []int
	for _, f := range envList(key, def) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		out = append(out, n)
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestHubBench runs the scenarios BENCH_SCENARIOS names (see doc.go).
func TestHubBench(t *testing.T) {
	if os.Getenv("KUBEDESK_BENCHHUB") != "1" {
		t.Skip("hub benchmark: set KUBEDESK_BENCHHUB=1 (make bench-hub)")
	}
	if os.Getenv("KUBEDESK_CLUSTER") != "kubedesk-bench" {
		t.Fatal("run on the benchmark cluster: KUBEDESK_CLUSTER=kubedesk-bench KUBEDESK_CLUSTER_FAST=1 (make bench-hub sets them)")
	}
	c := devcluster.Start(t)
	hubs := envList("BENCH_HUBS", "jh5,jh6")
	sizes := envInts(t, "BENCH_N", "100,500,1000,2000")
	spawners := envList("BENCH_SPAWNERS", "kubedesk,kubespawner")
	scenarios := envList("BENCH_SCENARIOS", "wave")

	for _, hubName := range hubs {
		hub := loadHub(t, hubName)
		stopResponder := startResponder(t, hub.Version)
		// Alternate which spawner goes first, so slow drifts in the
		// machine's background load hit both alike.
		order := func(i int) []string {
			if i%2 == 1 {
				r := append([]string(nil), spawners...)
				sort.Sort(sort.Reverse(sort.StringSlice(r)))
				return r
			}
			return spawners
		}
		if has(scenarios, "wave") {
			for i, n := range sizes {
				for _, sp := range order(i) {
					t.Run(fmt.Sprintf("%s/wave/%s/N=%d", hubName, sp, n), func(t *testing.T) {
						runScenario(t, c, hub, sp, "wave", n)
					})
				}
			}
		}
		for _, sc := range []struct {
			name, env string
			def       int
		}{
			{"profile", "BENCH_PROFILE_N", 500},
			{"pvc", "BENCH_PVC_N", 500},
			{"restart-hub", "BENCH_RESTART_N", 1000},
			{"steady", "BENCH_STEADY_N", 2000},
			{"kill-service", "BENCH_KILL_N", 500},
		} {
			if !has(scenarios, sc.name) {
				continue
			}
			n := envInt(t, sc.env, sc.def)
			for _, sp := range spawners {
				if sc.name == "kill-service" && sp != spawnerKubedesk {
					continue // only kubedesk has a service to kill
				}
				t.Run(fmt.Sprintf("%s/%s/%s/N=%d", hubName, sc.name, sp, n), func(t *testing.T) {
					runScenario(t, c, hub, sp, sc.name, n)
				})
			}
		}
		stopResponder()
	}
}

// startResponder answers at every pod IP on podresponder.Port with the hub's version
// (a clean hub log), or shares a responder another process runs.
func startResponder(t *testing.T, hubVersion string) func() {
	addr := "0.0.0.0:" + strconv.Itoa(podresponder.Port)
	ln, err := podresponder.Listen(context.Background(), addr)
	if err != nil {
		t.Logf("own responder: %v; sharing the running one", err)
		devcluster.StartResponder(t)
		return func() {}
	}
	srv := &http.Server{Handler: podresponder.Handler(hubVersion), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }
}

// namespace creates a fresh namespace and, at cleanup, deletes it and waits
// until it is gone (pods deleted without grace first).
func namespace(t *testing.T, c *devcluster.Cluster, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   prefix + "-" + utilrand.String(5),
		Labels: map[string]string{devcluster.TestNamespaceLabel: "true", "kubedesk.dev/bench": "hub"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := ns.Name
	t.Cleanup(func() { deleteNamespace(t, c, name) })
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s: no default ServiceAccount: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deleteNamespace(t *testing.T, c *devcluster.Cluster, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), namespaceGoneTimeout)
	defer cancel()
	zero := int64(0)
	start := time.Now()
	_ = c.Client.CoreV1().Pods(name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Logf("delete namespace %s: %v", name, err)
		return
	}
	for {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			t.Logf("namespace %s gone in %.0f s", name, time.Since(start).Seconds())
			return
		}
		if ctx.Err() != nil {
			t.Logf("namespace %s still there after %s; going on", name, namespaceGoneTimeout)
			return
		}
		time.Sleep(time.Second)
	}
}

func serviceProfiles(pvc bool) string {
	// The port is the responder's: kwok's pods run nothing.
	p := fmt.Sprintf(`- display_name: Desktop
  slug: desktop
  default: true
  kubespawner_override:
    image: %s
    port: %d
`, image, podresponder.Port)
	if !pvc {
		p += "    storage_pvc_ensure: false\n"
	}
	return p
}

// run is one hub (and service) in one namespace.
type run struct {
	t   *testing.T
	c   *devcluster.Cluster
	res *Result
	ns  string
	svc *spawnertest.Service
	// replicas, with KUBEDESK_CHAOS_REPLICAS: svc is then the view
	// through their forwarder.
	replicas []*spawnertest.Service
	hub      *hubProc
	ready    atomic.Int64
	svcBase  float64 // CPU of earlier service processes (kill scenario)
}

func runScenario(t *testing.T, c *devcluster.Cluster, hv hubVersion, sp, scenario string, n int) {
	pvc := scenario == "pvc"
	res := &Result{
		Name: fmt.Sprintf("%s-%s-%s-N%d", hv.Name, scenario, sp, n), Scenario: scenario,
		Hub: hv.Name, HubVersion: hv.Version, Spawner: sp, N: n, PVC: pvc, Extra: map[string]any{},
	}
	if v := os.Getenv("BENCH_VARIANT"); v != "" {
		res.Variant = v
		res.Name += "-" + v
	}
	r := &run{t: t, c: c, res: res}
	short := map[string]string{spawnerKubedesk: "kd", spawnerKubeSpawner: "ks"}[sp]
	r.ns = namespace(t, c, fmt.Sprintf("bench-%s-%s", short, hv.Name))

	var hubEnv []string
	if pvc {
		hubEnv = append(hubEnv, "BENCH_PVC=1")
	}
	if scenario == "steady" {
		hubEnv = append(hubEnv, "BENCH_POLL_INTERVAL=3", "BENCH_LAST_ACTIVITY_INTERVAL=30")
	}
	if sp == spawnerKubedesk {
		env := []string{"KUBEDESK_LOG_LEVEL=info", "KUBEDESK_SPAWN_TIMEOUT=9m"}
		if scenario == "profile" {
			env = append(env, "KUBEDESK_PPROF=true")
		}
		r.svc = spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: r.ns,
			Profiles: serviceProfiles(pvc), Env: env})
		hubEnv = append(hubEnv, "KUBEDESK_SERVICE_URL="+r.svc.URL, "KUBEDESK_SERVICE_TOKEN="+r.svc.Token)
	}
	r.hub = startHub(t, hubOptions{Hub: hv, Spawner: sp, Namespace: r.ns, Env: hubEnv}, c.Kubeconfig)
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("student-%05d", i)
	}
	r.createUsers(users)

	var during func()
	switch scenario {
	case "kill-service":
		during = r.killServiceDuringWave
	case "profile":
		during = r.profileDuringWave
	}
	r.wave(users, during)
	t.Logf("%s: p50 %.1f s, p95 %.1f s, max %.1f s, total %.1f s, failed %d, ready %d; hub CPU %.1f s RSS %.0f MiB; proxy CPU %.1f s; service CPU %.1f s RSS %.0f MiB; API requests %.0f; load %s → %s",
		res.Name, res.P50, res.P95, res.Max, res.Total, res.Failed, res.Ready, res.HubCPU, res.HubRSS, res.ProxyCPU,
		res.ServiceCPU, res.ServiceRSS, res.APITotal, res.LoadBefore, res.LoadAfter)
	for msg, k := range res.Failures {
		t.Logf("  failure ×%d: %s", k, msg)
	}

	if scenario == "wave" || scenario == "pvc" {
		r.afterPoll()
	}
	switch scenario {
	case "restart-hub":
		r.topUp()
		r.restartHub()
	case "steady":
		r.topUp()
		r.steady()
	case "kill-service":
		r.afterKill(users)
	}
	r.save()
}

func (r *run) createUsers(users []string) {
	ctx := context.Background()
	for i := 0; i < len(users); i += 500 {
		batch := users[i:min(i+500, len(users))]
		status, body, err := r.hub.api(ctx, "POST", "/users", map[string]any{"usernames": batch})
		if err != nil || status != http.StatusCreated {
			r.t.Fatalf("create users: %v %d %s", err, status, trunc(string(body), 500))
		}
	}
}

// snapshot is what a wave diffs: process CPU and the apiserver's counters.
type snapshot struct {
	at              time.Time
	hub, proxy, svc procStat
	api, svcAPI     map[string]float64
}

func (r *run) svcPid() int {
	if r.svc == nil {
		return 0
	}
	for _, s := range r.replicas {
		if s.Ready() {
			return s.Pid() // the leader's
		}
	}
	return r.svc.Pid()
}

func (r *run) snap() snapshot {
	s := snapshot{at: time.Now(), hub: readProc(r.hub.Pid()), proxy: readProc(r.hub.ProxyPid()), svc: readProc(r.svcPid())}
	s.svc.CPU += r.svcBase
	s.api = apiserverRequests(r.t, r.c)
	if r.svc != nil {
		s.svcAPI = serviceRequests(r.svc.Metrics(r.t))
	}
	return s
}

// diff fills the result's process and API figures from two snapshots.
func (r *run) diff(a, b snapshot) {
	res := r.res
	res.HubCPU, res.HubRSS = b.hub.CPU-a.hub.CPU, b.hub.RSSMiB
	res.ProxyCPU, res.ProxyRSS = b.proxy.CPU-a.proxy.CPU, b.proxy.RSSMiB
	res.ServiceCPU, res.ServiceRSS = b.svc.CPU-a.svc.CPU, b.svc.RSSMiB
	res.API, res.APITotal = diffMap(a.api, b.api)
	if b.svcAPI != nil {
		res.ServiceAPI, _ = diffMap(a.svcAPI, b.svcAPI)
	}
}

func diffMap(a, b map[string]float64) (map[string]float64, float64) {
	d := map[string]float64{}
	total := 0.0
	for k, v := range b {
		if delta := v - a[k]; delta > 0 {
			d[k] = delta
			total += delta
		}
	}
	return d, total
}

// sampler records one Sample a second until stop is called.
func (r *run) sampler(start time.Time) (stop func() []Sample) {
	var mu sync.Mutex
	var series []Sample
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			s := Sample{T: time.Since(start).Seconds(), Ready: int(r.ready.Load()),
				HubCPU: readProc(r.hub.Pid()).CPU, ProxyCPU: readProc(r.hub.ProxyPid()).CPU,
				ServiceCPU: readProc(r.svcPid()).CPU + r.svcBase, Load1: load1()}
			mu.Lock()
			series = append(series, s)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() []Sample {
		close(done)
		<-finished
		return series
	}
}

// wave starts every user's server at once through the hub's API and times
// each from its request to the answer that says it is ready or failed.
// during, if set, runs in the test goroutine while the wave is under way.
func (r *run) wave(users []string, during func()) {
	res := r.res
	r.ready.Store(0)
	before := r.snap()
	res.LoadBefore = loadAvg()
	res.Started = time.Now().UTC()
	start := time.Now()
	stopSampler := r.sampler(start)
	var mu sync.Mutex
	var wg sync.WaitGroup
	res.Failures = map[string]int{}
	lastAnswer := start
	ctx, cancel := context.WithTimeout(context.Background(), waveTimeout)
	defer cancel()
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			ok, msg := r.startServer(ctx, u)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				res.Latencies = append(res.Latencies, d.Seconds())
				r.ready.Add(1)
			} else {
				res.Failed++
				res.Failures[trunc(msg, 300)]++
			}
			if now := time.Now(); now.After(lastAnswer) {
				lastAnswer = now
			}
		}()
	}
	if during != nil {
		during()
	}
	wg.Wait()
	res.Total = lastAnswer.Sub(start).Seconds()
	res.Series = stopSampler()
	after := r.snap()
	res.LoadAfter = loadAvg()
	r.diff(before, after)
	sort.Float64s(res.Latencies)
	res.P50, res.P95, res.P99, res.Max = pct(res.Latencies, 50), pct(res.Latencies, 95), pct(res.Latencies, 99), pct(res.Latencies, 100)
	ready, err := r.hub.users(context.Background(), "ready")
	if err != nil {
		r.t.Errorf("list ready users: %v", err)
	}
	res.Ready = len(ready)
	if res.Failed > 0 {
		res.Extra["hub_log_errors"] = hubLogErrors(r.hub.Log)
	}
}

var (
	userRE  = regexp.MustCompile(`student-\d+|bench-k[ds]-jh\d-\w+|127\.0\.0\.1:\d+`)
	startRE = regexp.MustCompile(`Unhandled error starting \S+ server: (.*)`)
	errRE   = regexp.MustCompile(`^\s+(\w*(Error|Exception)): (.*)`)
)

// hubLogErrors counts the reasons the hub logged for failed spawns (the API
// answers only "error" or "timeout"), with user names and ports masked.
func hubLogErrors(path string) map[string]int {
	out := map[string]int{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	inUncaught := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "Uncaught exception POST") {
			inUncaught = true
			continue
		}
		if m := startRE.FindStringSubmatch(line); m != nil {
			out["spawn failed: "+trunc(userRE.ReplaceAllString(m[1], "…"), 200)]++
			continue
		}
		if m := errRE.FindStringSubmatch(line); m != nil && inUncaught {
			out["POST failed: "+m[1]+": "+trunc(userRE.ReplaceAllString(m[3], "…"), 200)]++
			inUncaught = false
		}
	}
	return out
}

// startServer asks the hub to start u's server. With slow_spawn_timeout
// raised to start_timeout the POST answers 201 once the server is ready; a
// 202 (it should not happen) is followed by polling the user model.
func (r *run) startServer(ctx context.Context, u string) (bool, string) {
	status, body, err := r.hub.api(ctx, "POST", "/users/"+u+"/server", map[string]any{})
	if err != nil {
		return false, "request: " + err.Error()
	}
	switch status {
	case http.StatusCreated:
		return true, ""
	case http.StatusAccepted:
		for ctx.Err() == nil {
			time.Sleep(time.Second)
			st, b, err := r.hub.api(ctx, "GET", "/users/"+u, nil)
			if err != nil || st != http.StatusOK {
				continue
			}
			var m userModel
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			s, ok := m.Servers[""]
			if ok && s.Ready {
				return true, ""
			}
			if !ok || (s.Pending == nil && !s.Ready) {
				return false, "server stopped while pending (no message in the user model)"
			}
		}
		return false, "wave timeout"
	default:
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Message == "" {
			e.Message = trunc(string(body), 300)
		}
		return false, fmt.Sprintf("HTTP %d: %s", status, e.Message)
	}
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// killServiceDuringWave SIGKILLs the service once it has created a third of
// the wave's pods (or after 30 s), and starts it again 2 s later, as
// Kubernetes would restart its pod.
func (r *run) killServiceDuringWave() {
	deadline := time.Now().Add(30 * time.Second)
	podsAtKill := 0
	for time.Now().Before(deadline) {
		pods, err := r.c.Client.CoreV1().Pods(r.ns).List(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
		if err == nil {
			podsAtKill = len(pods.Items)
			if podsAtKill >= r.res.N/3 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	readyAtKill := r.ready.Load()
	r.res.Extra["pods_at_kill"] = podsAtKill
	base := readProc(r.svc.Pid()).CPU
	t0 := time.Now()
	r.svc.Kill(r.t)
	r.svcBase += base
	time.Sleep(2 * time.Second)
	r.svc.Restart(r.t)
	r.res.Extra["ready_at_kill"] = readyAtKill
	r.res.Extra["service_down_s"] = time.Since(t0).Seconds()
	r.t.Logf("service killed with %d pods created and %d of %d ready; back after %.1f s", podsAtKill, readyAtKill, r.res.N, time.Since(t0).Seconds())
}

// afterKill checks for orphans and retries every failed user.
func (r *run) afterKill(users []string) {
	time.Sleep(5 * time.Second) // failed spawns' stops finish
	r.orphans("after_wave")
	var failed []string
	all, err := r.hub.users(context.Background(), "")
	if err != nil {
		r.t.Fatal(err)
	}
	for _, u := range all {
		if s, ok := u.Servers[""]; !ok || !s.Ready {
			failed = append(failed, u.Name)
		}
	}
	r.res.Extra["not_ready_after_wave"] = len(failed)
	if len(failed) == 0 {
		// Still prove that a retry works: stop and start one user.
		u := users[0]
		st, b, err := r.hub.api(context.Background(), "DELETE", "/users/"+u+"/server", nil)
		if err != nil || (st != http.StatusNoContent && st != http.StatusAccepted) {
			r.t.Errorf("stop %s: %v %d %s", u, err, st, b)
		}
		r.waitStopped(u)
		failed = []string{u}
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	msgs := map[string]int{}
	var mu sync.Mutex
	t0 := time.Now()
	for _, u := range failed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			good, msg := r.startServer(context.Background(), u)
			if good {
				ok.Add(1)
			} else {
				mu.Lock()
				msgs[trunc(msg, 300)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.res.Extra["retried"] = len(failed)
	r.res.Extra["retry_ready"] = ok.Load()
	r.res.Extra["retry_failures"] = msgs
	r.res.Extra["retry_s"] = time.Since(t0).Seconds()
	r.t.Logf("retry: %d of %d ready in %.1f s; failures %v", ok.Load(), len(failed), time.Since(t0).Seconds(), msgs)
	time.Sleep(3 * time.Second)
	r.orphans("after_retry")
}

func (r *run) waitStopped(u string) {
	for i := 0; i < 120; i++ {
		st, b, err := r.hub.api(context.Background(), "GET", "/users/"+u, nil)
		if err == nil && st == http.StatusOK {
			var m userModel
			if json.Unmarshal(b, &m) == nil {
				if _, ok := m.Servers[""]; !ok {
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// orphans counts pods with no server in the hub and servers with no pod.
func (r *run) orphans(label string) (podsWithoutServer, serversWithoutPod int) {
	ctx := context.Background()
	pods, err := r.c.Client.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	podUsers := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		u := p.Annotations["hub.jupyter.org/username"]
		if u == "" {
			u = p.Labels["hub.jupyter.org/username"]
		}
		podUsers[u] = true
	}
	all, err := r.hub.users(ctx, "")
	if err != nil {
		r.t.Fatal(err)
	}
	hubUsers := map[string]bool{}
	for _, u := range all {
		if _, ok := u.Servers[""]; ok {
			hubUsers[u.Name] = true
			if !podUsers[u.Name] {
				serversWithoutPod++
			}
		}
	}
	for u := range podUsers {
		if !hubUsers[u] {
			podsWithoutServer++
		}
	}
	r.res.Extra["orphan_pods_"+label] = podsWithoutServer
	r.res.Extra["servers_without_pod_"+label] = serversWithoutPod
	r.res.Extra["pods_"+label] = len(podUsers)
	r.res.Extra["hub_servers_"+label] = len(hubUsers)
	r.t.Logf("%s: %d pods, %d hub servers; %d pods without a server, %d servers without a pod",
		label, len(podUsers), len(hubUsers), podsWithoutServer, serversWithoutPod)
	return
}

// topUp starts again, in up to three rounds, every server the wave left
// not ready, so that the restart and steady scenarios run with all N.
func (r *run) topUp() {
	for round := 1; round <= 3; round++ {
		all, err := r.hub.users(context.Background(), "")
		if err != nil {
			r.t.Fatal(err)
		}
		var missing []string
		for _, u := range all {
			if s, ok := u.Servers[""]; !ok || !s.Ready {
				missing = append(missing, u.Name)
			}
		}
		if len(missing) == 0 {
			break
		}
		// In batches of 300: the point is to get every server running, not
		// another wave.
		var ok atomic.Int64
		for i := 0; i < len(missing); i += 300 {
			var wg sync.WaitGroup
			for _, u := range missing[i:min(i+300, len(missing))] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if good, _ := r.startServer(context.Background(), u); good {
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
		}
		r.t.Logf("top-up round %d: %d of %d started", round, ok.Load(), len(missing))
		r.res.Extra[fmt.Sprintf("topup_round%d", round)] = fmt.Sprintf("%d/%d", ok.Load(), len(missing))
	}
	ready, err := r.hub.users(context.Background(), "ready")
	if err == nil {
		r.res.Ready = len(ready)
		r.res.Extra["ready_after_topup"] = len(ready)
	}
}

// afterPoll waits one poll interval (30 s) after the wave and counts the
// servers still ready and the orphans: a spawner that loses track of a pod
// makes the hub's poll stop a server that was reported ready.
func (r *run) afterPoll() {
	time.Sleep(35 * time.Second)
	ready, err := r.hub.users(context.Background(), "ready")
	if err == nil {
		r.res.Extra["ready_after_poll"] = len(ready)
	}
	r.orphans("after_poll")
}

// restartHub stops the hub with SIGTERM while every server runs, starts it
// again on the same database, and times how long until its API answers and
// until every server is ready again in its user list; then it waits one
// poll interval and counts orphans.
func (r *run) restartHub() {
	res := r.res
	r.orphans("before_restart")
	before := r.snap()
	t0 := time.Now()
	if err := r.hub.Terminate(2 * time.Minute); err != nil {
		r.t.Logf("hub stop: %v", err)
	}
	res.Extra["hub_stop_s"] = time.Since(t0).Seconds()
	t1 := time.Now()
	r.hub.Restart(r.t)
	res.Extra["hub_api_s"] = time.Since(t1).Seconds()
	hubStart := readProc(r.hub.Pid())
	ctx := context.Background()
	// Every server that was ready before the restart must be ready again.
	want := res.Ready
	var readyN int
	for {
		ready, err := r.hub.users(ctx, "ready")
		if err == nil {
			readyN = len(ready)
			if readyN >= want {
				break
			}
		}
		if time.Since(t1) > 15*time.Minute {
			r.t.Errorf("only %d of %d servers ready 15 min after the restart", readyN, want)
			break
		}
		time.Sleep(time.Second)
	}
	res.Extra["hub_all_ready_s"] = time.Since(t1).Seconds()
	res.Extra["ready_after_restart"] = readyN
	res.Extra["hub_restart_cpu"] = readProc(r.hub.Pid()).CPU
	_ = hubStart
	r.t.Logf("hub restart: stop %.1f s, API back %.1f s, all %d ready %.1f s after start",
		res.Extra["hub_stop_s"], res.Extra["hub_api_s"], readyN, res.Extra["hub_all_ready_s"])
	// One poll interval (30 s) and a little: every server polled once.
	time.Sleep(35 * time.Second)
	ready, err := r.hub.users(ctx, "ready")
	if err == nil {
		res.Extra["ready_after_poll"] = len(ready)
	}
	r.orphans("after_restart")
	after := r.snap()
	api, total := diffMap(before.api, after.api)
	res.Extra["restart_api"] = api
	res.Extra["restart_api_total"] = total
	res.Extra["restart_service_cpu"] = after.svc.CPU - before.svc.CPU
	res.Extra["restart_proxy_rss"] = after.proxy.RSSMiB
	res.Extra["restart_hub_rss"] = after.hub.RSSMiB
}

// steady measures a window of steady polling after the wave.
func (r *run) steady() {
	res := r.res
	secs := envInt(r.t, "BENCH_STEADY_SECONDS", 180)
	time.Sleep(20 * time.Second) // the wave's tail settles
	a := r.snap()
	load0 := loadAvg()
	start := time.Now()
	stop := r.sampler(start)
	time.Sleep(time.Duration(secs) * time.Second)
	series := stop()
	b := r.snap()
	d := b.at.Sub(a.at).Seconds()
	api, total := diffMap(a.api, b.api)
	res.Extra["steady_seconds"] = d
	res.Extra["steady_hub_cpu"] = b.hub.CPU - a.hub.CPU
	res.Extra["steady_proxy_cpu"] = b.proxy.CPU - a.proxy.CPU
	res.Extra["steady_service_cpu"] = b.svc.CPU - a.svc.CPU
	res.Extra["steady_hub_rss"] = b.hub.RSSMiB
	res.Extra["steady_service_rss"] = b.svc.RSSMiB
	res.Extra["steady_api"] = api
	res.Extra["steady_api_per_s"] = total / d
	res.Extra["steady_load"] = load0 + " → " + loadAvg()
	if a.svcAPI != nil {
		sapi, stotal := diffMap(a.svcAPI, b.svcAPI)
		res.Extra["steady_service_api"] = sapi
		res.Extra["steady_service_api_per_s"] = stotal / d
	}
	ready, err := r.hub.users(context.Background(), "ready")
	if err == nil {
		res.Extra["steady_ready_after"] = len(ready)
	}
	res.Extra["steady_series"] = series
	r.t.Logf("steady %.0f s: hub CPU %.1f s, proxy %.1f s, service %.1f s, API %.1f req/s, ready after %v",
		d, res.Extra["steady_hub_cpu"], res.Extra["steady_proxy_cpu"], res.Extra["steady_service_cpu"], total/d, res.Extra["steady_ready_after"])
}

// profileDuringWave records the hub with py-spy and, for kubedesk, the
// service with pprof, for BENCH_PROFILE_SECONDS of the wave.
func (r *run) profileDuringWave() {
	secs := envInt(r.t, "BENCH_PROFILE_SECONDS", 25)
	dir := filepath.Join(repoRoot(), ".cache", "benchhub", "profiles")
	_ = os.MkdirAll(dir, 0o755)
	base := filepath.Join(dir, r.res.Name)
	pyspy := exec.Command(filepath.Join(r.hub.Venv, "bin", "py-spy"), "record", "--nonblocking",
		"--rate", "50", "--format", "raw", "-d", strconv.Itoa(secs), "-p", strconv.Itoa(r.hub.Pid()), "-o", base+"-hub.txt")
	pyspy.Stdout, pyspy.Stderr = os.Stderr, os.Stderr
	if err := pyspy.Start(); err != nil {
		r.t.Errorf("py-spy: %v", err)
	}
	var wg sync.WaitGroup
	if r.svc != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", r.svc.OpsURL, secs))
			if err != nil {
				r.t.Errorf("pprof: %v", err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(base + "-service.pprof")
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = f.ReadFrom(resp.Body)
		}()
	}
	_ = pyspy.Wait()
	wg.Wait()
	r.res.Extra["profiles"] = base
}

func (r *run) save() {
	dir := filepath.Join(repoRoot(), ".cache", "benchhub", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Fatal(err)
	}
	data, err := json.MarshalIndent(r.res, "", " ")
	if err != nil {
		r.t.Fatal(err)
	}
	path := filepath.Join(dir, r.res.Name+".json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("wrote %s (hub log %s)", path, r.hub.Log)
}

// apiserverRequests reads apiserver_request_total from the API server's
// /metrics, summed by "VERB resource[/subresource]".
func apiserverRequests(t *testing.T, c *devcluster.Cluster) map[string]float64 {
	data, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("apiserver metrics: %v", err)
	}
	return sumSamples(string(data), "apiserver_request_total{", func(l map[string]string) string {
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		return key
	})
}

// serviceRequests reads the service's own kubedesk_spawner_kube_requests_total.
func serviceRequests(metrics string) map[string]float64 {
	return sumSamples(metrics, "kubedesk_spawner_kube_requests_total{", func(l map[string]string) string {
		return l["verb"] + " " + l["resource"]
	})
}

func sumSamples(text, prefix string, key func(map[string]string) string) map[string]float64 {
	sums := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
		labels := map[string]string{}
		for _, pair := range strings.Split(line[open+1:end], ",") {
			k, v, _ := strings.Cut(pair, "=")
			labels[k] = strings.Trim(v, `"`)
		}
		value, _ := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		sums[key(labels)] += value
	}
	return sums
}
