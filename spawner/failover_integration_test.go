package spawner_test

// Two replicas of the service with leader election, behind a forwarder
// that does what a Kubernetes Service with a readiness probe does
// (spawnertest.Forwarder): the leader is SIGKILLed during a spawn wave, and
// the standby takes over as if the service had restarted (issue 17, item 2;
// issue 19). Timings are measured by BenchmarkFailover, never asserted.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// hubPatience is how long a spawn of the wave may take through the
// failover: the hub's start_timeout is of this order.
const hubPatience = 3 * time.Minute

// replicas starts two replicas of the service with leader election in a
// namespace of their own, and a forwarder in front of them; hub is the view
// through it, as the hub's shim sees the service.
func replicas(tb testing.TB) (c *devcluster.Cluster, ns string, pair [2]*spawnertest.Service, hub *spawnertest.Service) {
	tb.Helper()
	c = devcluster.Start(tb)
	ns = c.Namespace(tb)
	opts := spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: ns, LeaderElection: true}
	pair[0] = spawnertest.Start(tb, opts)
	opts.Peer = pair[0]
	pair[1] = spawnertest.Start(tb, opts)
	f := spawnertest.StartForwarder(tb, pair[0], pair[1])
	return c, ns, pair, pair[0].Through(f.URL)
}

// leaderOf waits until one replica of pair leads and is ready, and returns
// it and the other.
func leaderOf(tb testing.TB, pair [2]*spawnertest.Service) (leader, standby *spawnertest.Service) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		a, b := pair[0].Ready(), pair[1].Ready()
		switch {
		case a && b:
			tb.Fatal("both replicas are ready: two leaders")
		case a:
			return pair[0], pair[1]
		case b:
			return pair[1], pair[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("no replica became leader within a minute")
	return nil, nil
}

// askAgain sends a request until it gets an answer other than 502, 503 or
// 504 or a broken connection, as the hub's shim does while the service
// restarts (kubedesk_spawner._client.ASK_AGAIN), or ctx ends.
func askAgain(ctx context.Context, hub *spawnertest.Service, method, path string, body any) (int, []byte, error) {
	delay := 100 * time.Millisecond
	for {
		status, data, err := hub.DoErr(method, path, body)
		if err == nil && status != http.StatusBadGateway && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
			return status, data, nil
		}
		select {
		case <-ctx.Done():
			return status, data, fmt.Errorf("%s %s: still %d %s (%v) when the hub gave up", method, path, status, data, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// follow reads a server's progress until it ends in ready or failed,
// reconnecting a stream that breaks or is refused, as the shim does.
func follow(ctx context.Context, hub *spawnertest.Service, path string) ([]spawnertest.Event, error) {
	for {
		deadline, _ := ctx.Deadline()
		events, err := hub.ProgressErr(path, time.Until(deadline))
		if err == nil {
			return events, nil
		}
		select {
		case <-ctx.Done():
			return events, fmt.Errorf("progress %s: %w", path, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func failoverWave() int {
	if n, err := strconv.Atoi(os.Getenv("KUBEDESK_FAILOVER_N")); err == nil && n > 0 {
		return n
	}
	return 40
}

// TestFailoverDuringSpawnWave starts a wave of spawns through the
// forwarder, SIGKILLs the leader once half of them are acknowledged, and
// checks that the standby finishes the wave: every spawn ready, one pod per
// user, and no pod the service does not report (no orphan). Spawns
// acknowledged by the dead leader are resumed from their intents; those
// whose answer was lost are sent again and get the same spawn (the same
// request digest). KUBEDESK_FAILOVER_N sets the wave (40).
func TestFailoverDuringSpawnWave(t *testing.T) {
	t.Parallel()
	c, ns, pair, hub := replicas(t)
	first, standby := leaderOf(t, pair)
	n := failoverWave()

	ctx, cancel := context.WithTimeout(context.Background(), hubPatience)
	defer cancel()
	var acknowledged atomic.Int32
	half := make(chan struct{})
	var once sync.Once
	results := make([][]spawnertest.Event, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Add(n)
	go func() {
		for i := range n {
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("failover-%03d", i)
				path := "/api/v1/users/" + user + "/server"
				status, body, err := askAgain(ctx, hub, "POST", path, spawnBody(user, ""))
				if err == nil && status != http.StatusAccepted {
					err = fmt.Errorf("create %s: %d %s", user, status, body)
				}
				if err != nil {
					errs[i] = err
					return
				}
				if int(acknowledged.Add(1)) >= n/2 {
					once.Do(func() { close(half) })
				}
				results[i], errs[i] = follow(ctx, hub, path)
			}()
			time.Sleep(25 * time.Millisecond) // a wave, not one burst
		}
	}()
	select {
	case <-half:
	case <-ctx.Done():
		t.Fatal("half of the wave was never acknowledged")
	}
	first.Kill(t)
	t.Logf("leader killed with %d of %d spawns acknowledged", acknowledged.Load(), n)
	wg.Wait()

	for i, err := range errs {
		require.NoError(t, err, "spawn %d", i)
		assert.Equal(t, "ready", lastKind(results[i]), "spawn %d: %+v", i, results[i])
	}
	assert.True(t, standby.Ready(), "the standby leads")
	metrics := standby.Metrics(t)
	assert.Regexp(t, `(?m)^kubedesk_spawner_leader 1$`, metrics)
	assert.Regexp(t, `(?m)^kubedesk_spawner_leader_acquisitions_total 1$`, metrics)
	t.Logf("the new leader resumed: %s", regexp.MustCompile(`(?m)^kubedesk_spawner_spawns_resumed_total.*$`).FindAllString(metrics, -1))

	status, body, err := askAgain(ctx, hub, "GET", "/api/v1/sessions", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, string(body))
	var sessions []session.Session
	require.NoError(t, json.Unmarshal(body, &sessions))
	reported := map[string]string{} // pod → user
	for _, s := range sessions {
		assert.Equal(t, session.StatusRunning, s.Status, "%s: %s", s.User, s.Message)
		reported[s.Pod] = s.User
	}
	assert.Len(t, sessions, n, "one session per spawn")

	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	perUser := map[string][]string{}
	for _, pod := range pods.Items {
		user := pod.Annotations["hub.jupyter.org/username"]
		perUser[user] = append(perUser[user], pod.Name)
		assert.Contains(t, reported, pod.Name, "pod %s (user %q) is not a session the service reports: an orphan", pod.Name, user)
	}
	for i := range n {
		user := fmt.Sprintf("failover-%03d", i)
		assert.Len(t, perUser[user], 1, "%s: exactly one pod, got %v", user, perUser[user])
	}
	assert.Len(t, pods.Items, len(sessions), "pods == sessions the service reports")
}

// BenchmarkFailover measures a failover as the hub sees it: from the
// leader's SIGKILL (then, for a rolling update, its SIGTERM) to the first
// request answered 2xx through the forwarder, with sessions for the new
// leader to rebuild. Each run stops the replica that leads and starts it
// again as the standby of the next run. Run it with `make bench-failover` (KUBEDESK_FAILOVER_RUNS=5,
// KUBEDESK_FAILOVER_SESSIONS=20).
func BenchmarkFailover(b *testing.B) {
	runs, sessions := 5, 20
	if v, err := strconv.Atoi(os.Getenv("KUBEDESK_FAILOVER_RUNS")); err == nil && v > 0 {
		runs = v
	}
	if v, err := strconv.Atoi(os.Getenv("KUBEDESK_FAILOVER_SESSIONS")); err == nil && v >= 0 {
		sessions = v
	}
	for range b.N {
		_, _, pair, hub := replicas(b)
		leaderOf(b, pair)
		ctx, cancel := context.WithTimeout(context.Background(), hubPatience)
		for i := range sessions {
			user := fmt.Sprintf("bench-%03d", i)
			path := "/api/v1/users/" + user + "/server"
			status, body, err := askAgain(ctx, hub, "POST", path, spawnBody(user, ""))
			if err != nil || status != http.StatusAccepted {
				b.Fatalf("create %s: %d %s %v", user, status, body, err)
			}
			if events, err := follow(ctx, hub, path); err != nil || lastKind(events) != "ready" {
				b.Fatalf("spawn %s: %v %+v", user, err, events)
			}
		}
		cancel()

		fmt.Printf("\nFailover through the forwarder (probe every %s), %d sessions to rebuild, %d cores:\n",
			spawnertest.ProbePeriod, sessions, numCPU())
		for _, mode := range []struct {
			name string
			stop func(*spawnertest.Service)
		}{
			{"SIGKILL", func(s *spawnertest.Service) { s.Kill(b) }},
			// A rolling update: the leader releases the Lease as it stops.
			{"SIGTERM", func(s *spawnertest.Service) { s.Terminate(b) }},
		} {
			took := failovers(b, pair, hub, runs, sessions, mode.stop)
			sorted := slices.Clone(took)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			median := sorted[len(sorted)/2].Seconds()
			each := make([]string, len(took))
			for i, d := range took {
				each[i] = fmt.Sprintf("%.2f", d.Seconds())
			}
			fmt.Printf("leader %s → first 2xx: median %.2f s of %d; each: %s s\n", mode.name, median, runs, strings.Join(each, ", "))
			b.ReportMetric(median, strings.ToLower(mode.name)+"-median-s")
			b.ReportMetric(sorted[len(sorted)-1].Seconds(), strings.ToLower(mode.name)+"-max-s")
		}
	}
}

// failovers stops the leader of pair runs times and measures each time
// until the first request answered 2xx through hub; the stopped replica is
// started again as the standby of the next run.
func failovers(b *testing.B, pair [2]*spawnertest.Service, hub *spawnertest.Service, runs, sessions int, stop func(*spawnertest.Service)) []time.Duration {
	var took []time.Duration
	for run := range runs {
		leader, standby := leaderOf(b, pair)
		// The standby has seen the Lease renewed for a while, as in a
		// cluster where it has run for longer than a Lease.
		time.Sleep(2 * time.Second)
		start := time.Now()
		stop(leader)
		for {
			status, body, err := hub.DoErr("GET", "/api/v1/sessions", nil)
			if err == nil && status == http.StatusOK {
				var got []session.Session
				if json.Unmarshal(body, &got) != nil || len(got) != sessions {
					b.Fatalf("run %d: the new leader reports %d sessions, want %d: %s", run, len(got), sessions, body)
				}
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("run %d: no answer a minute after the stop: %d %v", run, status, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		if !standby.Ready() {
			b.Fatalf("run %d: answered, but not by the standby", run)
		}
		leader.Restart(b) // back as the standby of the next run
	}
	return took
}

// TestLeaderThatLosesItsLeaseExits takes the Lease away from the leader
// (another holder renews it, as a replica on the far side of a network
// split would) and checks that the leader stops acting and exits with an
// error, so that Kubernetes starts it again as a standby, that the standby
// does not take a Lease someone else keeps renewing, and that it takes over
// once nobody does.
func TestLeaderThatLosesItsLeaseExits(t *testing.T) {
	t.Parallel()
	c, ns, pair, hub := replicas(t)
	leader, standby := leaderOf(t, pair)
	ctx := context.Background()
	leases := c.Client.CoordinationV1().Leases(ns)

	stop := make(chan struct{})
	intruding := make(chan struct{})
	go func() {
		defer close(intruding)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			lease, err := leases.Get(ctx, "kubedesk-spawner", metav1.GetOptions{})
			if err != nil {
				continue
			}
			intruder, now, secs := "intruder", metav1.NewMicroTime(time.Now()), int32(4)
			lease.Spec.HolderIdentity, lease.Spec.RenewTime, lease.Spec.LeaseDurationSeconds = &intruder, &now, &secs
			_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{}) // a conflict: again next round
		}
	}()

	select {
	case <-leader.Exited():
	case <-time.After(time.Minute):
		close(stop)
		t.Fatal("the leader still runs a minute after it lost its Lease")
	}
	assert.NotEqual(t, 0, leader.ExitCode(), "an error exit: Kubernetes starts it again")
	assert.Contains(t, leader.Log(), "lost the leader Lease")
	// The Lease is renewed by another: the standby must not act.
	for range 20 {
		assert.False(t, standby.Ready(), "the standby acts while another holds the Lease")
		time.Sleep(250 * time.Millisecond)
	}
	close(stop)
	<-intruding

	newLeader, _ := leaderOf(t, pair)
	assert.Same(t, standby, newLeader)
	status, body, err := askAgain(ctx, hub, "GET", "/api/v1/sessions", nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status, string(body))
}
