package spawner_test

// BenchmarkSpawnWave starts N sessions at once through the service's API and
// reports time-to-ready percentiles, Kubernetes API requests per spawn and
// the service's CPU and peak memory, next to a bare-pod wave on the same
// cluster in the same run (the floor the cluster itself sets). Run it with
// `make bench-spawn` (KUBEDESK_BENCH_N=100,500,1000 by default).

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// Bounds of one wave; generous, since a wave's end is what is measured.
const (
	waveTimeout = 10 * time.Minute
	// createConcurrency is how many creates are in flight at once, in the
	// service's wave and in the bare-pod waves (bareWave) it is compared
	// with alike.
	createConcurrency = 200
)

func BenchmarkSpawnWave(b *testing.B) {
	c := devcluster.Start(b)
	sizes := []int{100, 500, 1000}
	if v := os.Getenv("KUBEDESK_BENCH_N"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("KUBEDESK_BENCH_N: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "| N | wave | p50 s | p95 s | p99 s | max s | total s | failed | service CPU s | service peak RSS MiB |\n")
	fmt.Fprintf(&report, "|---|---|---|---|---|---|---|---|---|---|\n")
	var requests strings.Builder
	for _, n := range sizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			for range b.N {
				pods := bareWave(b, c, n, false)
				fmt.Fprintf(&report, "| %d | bare pods | %s | – | – |\n", n, pods.row())
				bare := bareWave(b, c, n, true)
				fmt.Fprintf(&report, "| %d | bare pods + home PVCs | %s | – | – |\n", n, bare.row())
				kd, perSpawn, apiserver := kubedeskWave(b, c, n)
				fmt.Fprintf(&report, "| %d | kubedesk | %s | %.2f | %.0f |\n", n, kd.row(), kd.cpu, kd.rssMiB)
				fmt.Fprintf(&report, "| | ratio kubedesk / bare pods + PVCs | %.2f | %.2f | %.2f | %.2f | %.2f | | | |\n",
					ratio(kd.pct(50), bare.pct(50)), ratio(kd.pct(95), bare.pct(95)), ratio(kd.pct(99), bare.pct(99)),
					ratio(kd.pct(100), bare.pct(100)), ratio(kd.total.Seconds(), bare.total.Seconds()))
				b.ReportMetric(kd.pct(50), "p50-s")
				b.ReportMetric(kd.pct(99), "p99-s")
				b.ReportMetric(kd.total.Seconds(), "total-s")
				fmt.Fprintf(&requests, "\nN=%d, requests per spawn sent by the service (its kube_requests_total): %s\n", n, perSpawn)
				fmt.Fprintf(&requests, "N=%d, apiserver_request_total per spawn, all clients (scheduler, kwok, controllers included): %s\n", n, apiserver)
			}
		})
	}
	fmt.Printf("\nSpawn waves on the dev cluster (%d cores)\n\n%s%s\n", numCPU(), report.String(), requests.String())
}

type wave struct {
	latencies []time.Duration
	total     time.Duration
	failed    int
	cpu       float64
	rssMiB    float64
}

func (w wave) pct(p float64) float64 {
	if len(w.latencies) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), w.latencies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i].Seconds()
}

func (w wave) row() string {
	return fmt.Sprintf("%.2f | %.2f | %.2f | %.2f | %.2f | %d", w.pct(50), w.pct(95), w.pct(99), w.pct(100), w.total.Seconds(), w.failed)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// bareWave creates n plain pods (each after its own home PVC, withPVC) and
// times each until an informer sees it Ready: the cluster's own floor for a
// wave of this size, without the spawner in the path.
func bareWave(b *testing.B, c *devcluster.Cluster, n int, withPVC bool) wave {
	ns := c.Namespace(b)
	ctx, cancel := context.WithTimeout(context.Background(), waveTimeout)
	// Cancel before Shutdown (defers run last-first): Shutdown waits for the
	// informers, which stop only when ctx ends.

	var shutdown func()
	defer func() {
		cancel()
		if shutdown != nil {
			shutdown()
		}
	}()
	var mu sync.Mutex
	created := map[string]time.Time{}
	readyAt := map[string]time.Time{}
	done := make(chan struct{})
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().Pods().Informer()
	onPod := func(obj any) {
		pod := obj.(*corev1.Pod)
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				mu.Lock()
				if _, ok := readyAt[pod.Name]; !ok {
					readyAt[pod.Name] = time.Now()
					if len(readyAt) == n {
						close(done)
					}
				}
				mu.Unlock()
			}
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onPod, UpdateFunc: func(_, o any) { onPod(o) }})
	factory.Start(ctx.Done())
	shutdown = factory.Shutdown
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)

	start := time.Now()
	sem := make(chan struct{}, createConcurrency)
	failed := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("bare-%05d", i)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "kubedesk/desktop:bench"}}},
			}
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			if withPVC {
				pvc := &corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: "claim-" + name},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
					},
				}
				if _, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
					b.Errorf("create PVC: %v", err)
				}
				pod.Spec.Volumes = []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name}}}}
			}
			if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-ctx.Done():
		b.Errorf("bare wave of %d: only %d ready after %s", n, len(readyAt), waveTimeout)
	}
	w := wave{total: time.Since(start), failed: failed}
	mu.Lock()
	for name, t := range readyAt {
		w.latencies = append(w.latencies, t.Sub(created[name]))
	}
	mu.Unlock()
	return w
}

// kubedeskWave starts n sessions through a fresh service's API, each user
// timed from its POST to the ready event of its progress stream.
func kubedeskWave(b *testing.B, c *devcluster.Cluster, n int) (wave, string, string) {
	ns := c.Namespace(b)
	svc := spawnertest.Start(b, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: ns,
		Env: []string{"KUBEDESK_LOG_LEVEL=warn", "KUBEDESK_SPAWN_TIMEOUT=9m"}})
	apiBefore := apiserverRequests(b, c)

	var mu sync.Mutex
	w := wave{}
	start := time.Now()
	sem := make(chan struct{}, createConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("student-%05d", i)
			path := "/api/v1/users/" + user + "/server"
			t0 := time.Now()
			sem <- struct{}{}
			status, body := svc.Do(b, "POST", path, spawnBody(user, ""))
			<-sem
			var ok bool
			if status == http.StatusAccepted {
				events, err := svc.ProgressErr(path, waveTimeout)
				ok = err == nil && events[len(events)-1].Kind == "ready"
			} else {
				b.Logf("POST %s: %d %s", user, status, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				w.latencies = append(w.latencies, time.Since(t0))
			} else {
				w.failed++
			}
		}()
	}
	wg.Wait()
	w.total = time.Since(start)
	w.cpu, w.rssMiB = procStats(b, svc.Pid())
	perSpawn := perSpawnRequests(svc.Metrics(b), n)
	apiAfter := apiserverRequests(b, c)
	return w, perSpawn, diffPerSpawn(apiBefore, apiAfter, n)
}

// procStats reads a process's CPU seconds (user+system) and peak RSS.
func procStats(b *testing.B, pid int) (cpu, rssMiB float64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	cpu = (utime + stime) / 100 // USER_HZ is 100 on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			rssMiB = kb / 1024
		}
	}
	return cpu, rssMiB
}

// perSpawnRequests sums the service's kubedesk_spawner_kube_requests_total
// by verb and resource and divides by n.
func perSpawnRequests(metrics string, n int) string {
	sums := map[string]float64{}
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "kubedesk_spawner_kube_requests_total{") {
			continue
		}
		labels, value := parseSample(line)
		sums[labels["verb"]+" "+labels["resource"]] += value
	}
	return formatPerSpawn(sums, n)
}

func apiserverRequests(b *testing.B, c *devcluster.Cluster) map[string]float64 {
	data, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatalf("apiserver metrics: %v", err)
	}
	sums := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels, value := parseSample(line)
		switch labels["resource"] {
		case "pods", "secrets", "persistentvolumeclaims", "events", "persistentvolumes":
		default:
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			key += "/" + labels["subresource"]
		}
		sums[key] += value
	}
	return sums
}

func diffPerSpawn(before, after map[string]float64, n int) string {
	d := map[string]float64{}
	for k, v := range after {
		if delta := v - before[k]; delta > 0 {
			d[k] = delta
		}
	}
	return formatPerSpawn(d, n)
}

func formatPerSpawn(sums map[string]float64, n int) string {
	keys := make([]string, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, sums[k]/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// parseSample splits a Prometheus text sample into labels and value.
func parseSample(line string) (map[string]string, float64) {
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	labels := map[string]string{}
	for _, pair := range strings.Split(line[open+1:end], ",") {
		k, v, _ := strings.Cut(pair, "=")
		labels[k] = strings.Trim(v, `"`)
	}
	value, _ := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
	return labels, value
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "processor\t:")
}
