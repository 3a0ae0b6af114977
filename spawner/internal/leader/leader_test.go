package leader

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"kubedesk.dev/kubedesk/spawner/internal/metrics"
)

// Short timings keep the tests fast (the Lease records whole seconds, so
// one second is the least that works), yet leave a renewal time on a busy
// machine: a leader starved of CPU past its Lease is replaced, by design..
func elector(client *fake.Clientset, identity string) (*Elector, *metrics.Spawner) {
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	return New(Config{
		Election: true, Client: client, Namespace: "hub", Lease: "kubedesk-spawner", Identity: identity,
		LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}), m
}

func holder(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	lease, err := client.CoordinationV1().Leases("hub").Get(context.Background(), "kubedesk-spawner", metav1.GetOptions{})
	require.NoError(t, err)
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// Only one of two replicas acts; a graceful stop of the leader stops its
// managers before it releases the Lease, and the standby then takes over.
func TestOneLeaderAndHandoverOnStop(t *testing.T) {
	client := fake.NewClientset()
	a, ma := elector(client, "a")
	b, mb := elector(client, "b")
	started := make(chan string, 2)
	stoppedA := make(chan time.Time, 1)

	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() {
		doneA <- a.Run(ctxA, func(ctx context.Context) error {
			started <- "a"
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // finishing operations
			stoppedA <- time.Now()
			return nil
		})
	}()
	require.Equal(t, "a", <-started)
	assert.True(t, a.Leading())
	assert.Equal(t, 1.0, testutil.ToFloat64(ma.Leader))
	assert.Equal(t, 1.0, testutil.ToFloat64(ma.LeaderAcquisitions))

	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan error, 1)
	var bStarted time.Time
	go func() {
		doneB <- b.Run(ctxB, func(ctx context.Context) error {
			bStarted = time.Now()
			started <- "b"
			<-ctx.Done()
			return nil
		})
	}()
	// Several lease durations: the standby never takes a renewed Lease.
	select {
	case who := <-started:
		t.Fatalf("%s started to lead while a held the Lease", who)
	case <-time.After(4 * time.Second):
	}
	assert.False(t, b.Leading())
	assert.Equal(t, 0.0, testutil.ToFloat64(mb.Leader))
	assert.Equal(t, "a", holder(t, client))

	stopA()
	require.Equal(t, "b", <-started)
	require.NoError(t, <-doneA)
	assert.False(t, bStarted.Before(<-stoppedA), "b acted before a's managers had stopped")
	assert.False(t, a.Leading())
	assert.Equal(t, 0.0, testutil.ToFloat64(ma.Leader))
	assert.True(t, b.Leading())
	assert.Equal(t, 1.0, testutil.ToFloat64(mb.Leader))
	assert.Equal(t, 1.0, testutil.ToFloat64(mb.LeaderAcquisitions))
	assert.Equal(t, "b", holder(t, client))

	stopB()
	require.NoError(t, <-doneB)
	assert.Empty(t, holder(t, client), "a graceful stop releases the Lease")
}

// A leader that cannot renew its Lease stops its managers and returns
// ErrLost, so that the process exits rather than act beside a new leader.
func TestLostLeaseStopsTheManagers(t *testing.T) {
	client := fake.NewClientset()
	// From refuse on, the API server refuses every renewal (reactors are
	// installed before the client is used: adding one later races).
	var refuse atomic.Bool
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !refuse.Load() {
			return false, nil, nil
		}
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	a, ma := elector(client, "a")
	started := make(chan string, 1)
	done := make(chan error, 1)
	var leadEnded time.Time
	go func() {
		done <- a.Run(context.Background(), func(ctx context.Context) error {
			started <- "a"
			<-ctx.Done()
			leadEnded = time.Now()
			return nil
		})
	}()
	<-started
	refuse.Store(true)
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the Lease could no longer be renewed")
	}
	require.ErrorIs(t, err, ErrLost)
	assert.False(t, leadEnded.IsZero(), "the managers stopped before Run returned")
	assert.False(t, a.Leading())
	assert.Equal(t, 0.0, testutil.ToFloat64(ma.Leader))
}

// Managers that fail while leading end Run with their error, and the Lease
// is released for a standby.
func TestManagersFailingReleaseTheLease(t *testing.T) {
	client := fake.NewClientset()
	a, _ := elector(client, "a")
	boom := errors.New("reconcile: forbidden")
	err := a.Run(context.Background(), func(context.Context) error { return boom })
	require.ErrorIs(t, err, boom)
	assert.Empty(t, holder(t, client))
}

// A stop before the Lease is won returns without ever acting.
func TestStopWhileStandingBy(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("*", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "x")
	})
	a, _ := elector(client, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := a.Run(ctx, func(context.Context) error { t.Error("lead called without the Lease"); return nil })
	require.NoError(t, err)
	assert.False(t, a.Leading())
}

// Without election the one process acts from its start.
func TestWithoutElection(t *testing.T) {
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	e := New(Config{Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	assert.False(t, e.Leading())
	err := e.Run(context.Background(), func(context.Context) error {
		assert.True(t, e.Leading())
		assert.Equal(t, 1.0, testutil.ToFloat64(m.Leader))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.LeaderAcquisitions), "no Lease was taken")
}
