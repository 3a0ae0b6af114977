package spawner_test

// Integration tests of issue 13's findings (security hardening), against
// the dev cluster like the others. They skip under -short.

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// Finding 1: two user names that map to the same Kubernetes names. The
// second user never gets the first one's home volume, pod or Secret: the
// spawn is refused with a sentence for the operator, whether the victim runs
// or has stopped, and the victim's claim is untouched.
func TestCollidingUserNeverGetsAnotherUsersHome(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t)
	ctx := context.Background()
	victim, attacker := spawnertest.CollidingUsers("dana")
	t.Logf("colliding pair: %q and %q", victim, attacker)
	victimPath := "/api/v1/users/" + url.PathEscape(victim) + "/server"
	attackerPath := "/api/v1/users/" + url.PathEscape(attacker) + "/server"

	status, body := svc.Do(t, "POST", victimPath, spawnBody(victim, ""))
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, victimPath, waitReady)))
	victimSession := svc.Session(t, victimPath)
	claims, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, claims.Items, 1)
	claim := claims.Items[0]
	require.Equal(t, victim, claim.Annotations["hub.jupyter.org/username"])

	refused := func(when string) {
		t.Helper()
		status, body := svc.Do(t, "POST", attackerPath, spawnBody(attacker, ""))
		require.Equal(t, http.StatusConflict, status, "%s: %s", when, body)
		var e struct{ Code, Message string }
		require.NoError(t, json.Unmarshal(body, &e))
		assert.Equal(t, "name_conflict", e.Code, when)
		assert.Contains(t, e.Message, "another user's", when)
		assert.Contains(t, e.Message, "operator", when)
		assert.NotContains(t, e.Message, victim, "%s: the other user is not named to the user", when)
		assert.NotContains(t, e.Message, "shutting down", when)
		known := false
		for _, s := range svc.Sessions(t) {
			known = known || s.User == attacker
		}
		assert.False(t, known, "%s: the refused spawn left no session", when)
	}

	// While the victim runs: not the misleading "still shutting down".
	refused("victim running")
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, victimSession.Pod, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, victim, pod.Annotations["hub.jupyter.org/username"], "the victim's pod still runs")

	// After the victim stopped: the claim is there, the pod is not.
	status, _ = svc.Do(t, "DELETE", victimPath, nil)
	require.Equal(t, http.StatusNoContent, status)
	refused("victim stopped")
	// The hub stops a server whose start failed; nothing of the victim's
	// goes with it.
	status, _ = svc.Do(t, "DELETE", attackerPath, nil)
	require.Equal(t, http.StatusNoContent, status)

	after, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim.Name, metav1.GetOptions{})
	require.NoError(t, err)
	// Untouched by the service: the same claim, owner and spec, and no
	// write of the service's since its create (the volume controller binds
	// the claim meanwhile, so its resourceVersion moves on).
	assert.Equal(t, claim.UID, after.UID)
	assert.Equal(t, claim.Annotations["hub.jupyter.org/username"], after.Annotations["hub.jupyter.org/username"])
	assert.Equal(t, claim.Labels, after.Labels)
	assert.Equal(t, claim.Spec.Resources, after.Spec.Resources)
	assert.Equal(t, writesBy(claim.ManagedFields, "kubedesk-spawner"), writesBy(after.ManagedFields, "kubedesk-spawner"),
		"the service wrote nothing to the claim since it created it")
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.NotEqual(t, attacker, p.Annotations["hub.jupyter.org/username"], "no pod of the second user")
	}
	metrics := svc.Metrics(t)
	assert.Contains(t, metrics, `kubedesk_spawner_name_conflicts_total{kind="session"} 1`)
	assert.Contains(t, metrics, `kubedesk_spawner_name_conflicts_total{kind="pvc"} 1`)

	// The victim is not locked out of their own home.
	status, body = svc.Do(t, "POST", victimPath, spawnBody(victim, ""))
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, victimPath, waitReady)))
}

// Finding 4: launch admission is serialized per session and counts the
// launches in flight, so 40 concurrent launches under a quota of 2 make
// exactly 2 app pods; the file arguments are capped.
func TestConcurrentLaunchesKeepTheQuota(t *testing.T) {
	t.Parallel()
	c, ns, svc, token, _ := appSetup(t, "KUBEDESK_MAX_APPS_PER_SESSION=2")
	ctx := context.Background()

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 40 {
		wg.Go(func() {
			status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm"})
			if status != http.StatusAccepted {
				assert.Contains(t, string(body), `"code":"quota"`)
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusAccepted: 2, http.StatusTooManyRequests: 38}, statuses)
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=app"})
	require.NoError(t, err)
	assert.Equal(t, 2, len(pods.Items), "exactly the quota's app pods")

	// The caps on arguments, with a code like the other refusals.
	many := make([]string, 65)
	for i := range many {
		many[i] = "/home/jovyan/f"
	}
	status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm", "files": many})
	assert.Equal(t, http.StatusBadRequest, status, string(body))
	assert.Contains(t, string(body), `"code":"too_many_files"`)
	long := "/home/jovyan/" + strings.Repeat("x", 40<<10)
	status, body = svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm", "files": []string{long}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, status, string(body))
	assert.Contains(t, string(body), `"code":"args_too_long"`)
}

// Finding 3: 300 connections that each send an unterminated 1 MB header
// must not take the service's memory up (it was 460-537 MB, above the
// chart's limit), and the service keeps answering the hub throughout. The
// measure is the peak RSS (VmHWM) of the real service process. Both
// listeners are flooded, each on a service of its own: the API (the hub's
// requests go on) and the ops listener (the kubelet's readiness probe goes
// on).
func TestHeaderFloodKeepsMemoryBounded(t *testing.T) {
	t.Run("api", func(t *testing.T) {
		_, _, svc, _ := setup(t)
		headerFlood(t, svc, svc.URL, func() *http.Request {
			req, _ := http.NewRequest("GET", svc.URL+"/api/v1/profiles", nil)
			req.Header.Set("Authorization", "Bearer "+svc.Token)
			return req
		})
	})
	t.Run("ops", func(t *testing.T) {
		_, _, svc, _ := setup(t)
		headerFlood(t, svc, svc.OpsURL, func() *http.Request {
			req, _ := http.NewRequest("GET", svc.OpsURL+"/readyz", nil)
			return req
		})
	})
}

// headerFlood floods the listener at base and asserts the bounds; probe is
// the legitimate request that must be answered throughout.
func headerFlood(t *testing.T, svc *spawnertest.Service, base string, probe func() *http.Request) {
	addr := strings.TrimPrefix(base, "http://")
	const (
		attackers  = 300
		headerSize = 1 << 20
		peakBound  = 100 << 20
	)
	before := procStatus(t, svc.Pid(), "VmRSS")

	// The hub's requests go on during the flood, each on a connection of
	// its own, as a client that finds its pool broken would open.
	var probes, probeFailures atomic.Int64
	var slowest atomic.Int64
	stopProbing := make(chan struct{})
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-stopProbing:
				return
			case <-time.After(100 * time.Millisecond):
			}
			start := time.Now()
			resp, err := client.Do(probe())
			probes.Add(1)
			if err != nil {
				probeFailures.Add(1)
				t.Logf("probe: %v", err)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				probeFailures.Add(1)
				t.Logf("probe: status %d", resp.StatusCode)
			}
			if d := time.Since(start); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
		}
	}()

	var wg sync.WaitGroup
	var sent atomic.Int64
	hold := make(chan struct{})
	chunk := []byte(strings.Repeat("a", 16<<10))
	for range attackers {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
			if err != nil {
				t.Logf("attacker dial: %v", err)
				return
			}
			defer conn.Close()
			_ = conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
			if _, err := io.WriteString(conn, "GET /api/v1/profiles HTTP/1.1\r\nHost: kubedesk\r\nX-Flood: "); err != nil {
				return
			}
			for n := 0; n < headerSize; n += len(chunk) {
				w, err := conn.Write(chunk)
				sent.Add(int64(w))
				if err != nil {
					return // the service refused the header and closed
				}
			}
			<-hold // never a line end: the header stays unterminated
		})
	}
	deadline := time.Now().Add(90 * time.Second)
	for sent.Load() < attackers*headerSize*9/10 && time.Now().Before(deadline) && !allDone(&wg) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // let the service do its worst with what it holds
	peak := procStatus(t, svc.Pid(), "VmHWM")
	close(hold)
	wg.Wait()
	close(stopProbing)
	<-probing

	t.Logf("header flood of %s: %d connections x %d bytes (%d MB sent in all): RSS %d MB before, peak %d MB; %d probes, %d failed, slowest %s",
		base, attackers, headerSize, sent.Load()>>20, before>>20, peak>>20, probes.Load(), probeFailures.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
	assert.Less(t, peak, int64(peakBound), "peak RSS of the service")
	assert.Positive(t, probes.Load())
	assert.Zero(t, probeFailures.Load(), "legitimate requests are answered throughout")
	resp, err := http.DefaultClient.Do(probe())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "and after")
}

// allDone reports whether wg's goroutines have all returned, without
// waiting for them.
func allDone(wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(10 * time.Millisecond):
		return false
	}
}

// procStatus reads a size field (VmRSS, VmHWM) of /proc/<pid>/status, in
// bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		require.NoError(t, err)
		return kb << 10
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// writesBy is what manager has written to an object, from its managed
// fields.
func writesBy(fields []metav1.ManagedFieldsEntry, manager string) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, f := range fields {
		if f.Manager == manager {
			out = append(out, f)
		}
	}
	return out
}

// Finding 6, TLS: with a certificate the API speaks only HTTPS (HTTP/1.1),
// checked against the operator's CA; plain HTTP on its port gets no session
// and no hub token is read from it; the ops port stays plain HTTP for
// probes and Prometheus; session pods get the https URL and the CA.
func TestAPIServesTLS(t *testing.T) {
	t.Parallel()
	c := devcluster.Start(t)
	ns := c.Namespace(t)
	svc := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: ns,
		Profiles: strings.ReplaceAll(profilesYAML, "POOL_LABEL", "kubedesk.dev/pool-"+ns), SessionServiceURL: true, TLS: true})
	require.True(t, strings.HasPrefix(svc.URL, "https://"), svc.URL)

	path := "/api/v1/users/tina/server"
	status, body := svc.Do(t, "POST", path, spawnBody("tina", ""))
	require.Equal(t, http.StatusAccepted, status, "a spawn over TLS: %s", body)
	require.Equal(t, "ready", lastKind(svc.Progress(t, path, waitReady)))

	// The same port without TLS: an HTTP request is answered 400 by net/http
	// before any handler runs.
	plain := "http://" + strings.TrimPrefix(svc.URL, "https://") + path
	req, err := http.NewRequest("GET", plain, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+svc.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP to the TLS port: %s", b)
	assert.Contains(t, string(b), "HTTP request to an HTTPS server")

	// A client that does not trust the CA is refused in the handshake.
	_, err = http.Get(svc.URL + "/api/v1/sessions")
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown, "a client without the CA")

	// The ops port: plain HTTP.
	resp, err = http.Get(svc.OpsURL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// The session pod: the https URL and the CA its agent checks it with.
	ca, err := os.ReadFile(svc.CAFile)
	require.NoError(t, err)
	pod, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), svc.Session(t, path).Pod, metav1.GetOptions{})
	require.NoError(t, err)
	envs := map[string]string{}
	for _, e := range pod.Spec.Containers[0].Env {
		envs[e.Name] = e.Value
	}
	assert.Equal(t, svc.URL, envs["KUBEDESK_SERVICE_URL"])
	assert.Equal(t, string(ca), envs["KUBEDESK_SERVICE_CA"])
}
