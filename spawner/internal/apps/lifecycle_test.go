package apps

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	k8stesting "k8s.io/client-go/testing"

	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Start used to return at once when its ctx ended, leaving the deletes of
// ended apps it had started running on context.Background(). It now
// returns after them; a delete under way is finished within its own bound,
// not cut off by the shutdown.
func TestStartWaitsForADeleteUnderWay(t *testing.T) {
	entered := make(chan struct{})
	var enteredOnce sync.Once
	var returned atomic.Bool
	var endedBy atomic.Value // the delete's ctx.Err() when it returned
	f := start(t, options{
		deleteTimeout: 200 * time.Millisecond,
		wrap: func(c kubernetes.Interface) kubernetes.Interface {
			return hooked{Interface: c, deletePod: func(ctx context.Context, _ string) error {
				enteredOnce.Do(func() { close(entered) })
				<-ctx.Done() // an API server that does not answer
				endedBy.Store(ctx.Err())
				returned.Store(true)
				return ctx.Err()
			}}
		},
	})
	a, err := f.mgr.Launch(context.Background(), f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	ended(t, f.client, a.ID, 0)
	await(t, entered, "the delete of the ended app")

	f.stop()
	assert.True(t, returned.Load(), "Start returned while its delete of an ended app was under way")
	assert.Equal(t, context.DeadlineExceeded, endedBy.Load(), "the delete ran to its own bound, not cut off by the shutdown")
	assert.NoError(t, f.err)
}

// Once Start's ctx has ended no delete starts: a restarted service's first
// list shows the ended pod again.
func TestNoDeleteStartsOnceStopped(t *testing.T) {
	f := start(t, options{})
	a, err := f.mgr.Launch(context.Background(), f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	f.stop()

	ended(t, f.client, a.ID, 0)
	pod, err := f.client.CoreV1().Pods(testNS).Get(context.Background(), a.ID, metav1.GetOptions{})
	require.NoError(t, err)
	f.mgr.onPod(pod) // as a handler still running at shutdown would
	assert.NotContains(t, deletes(f.client), a.ID)
	assert.Empty(t, f.mgr.deleting)

	restarted := start(t, options{client: f.client})
	require.Eventually(t, func() bool {
		_, err := f.client.CoreV1().Pods(testNS).Get(context.Background(), a.ID, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 5*time.Second, 10*time.Millisecond, "the next run deletes the ended app")
	restarted.stop()
}

// A burst of updates to an ended pod whose delete is under way starts no
// second delete.
func TestAnEndedAppIsDeletedOnce(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	otherDeleted := make(chan struct{})
	var otherOnce sync.Once
	var calls atomic.Int32
	var held atomic.Value // the pod whose delete is held
	held.Store("")
	f := start(t, options{wrap: func(c kubernetes.Interface) kubernetes.Interface {
		return hooked{Interface: c, deletePod: func(ctx context.Context, name string) error {
			if name != held.Load() {
				otherOnce.Do(func() { close(otherDeleted) })
				return nil
			}
			calls.Add(1)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
	}})
	a, err := f.mgr.Launch(context.Background(), f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	b, err := f.mgr.Launch(context.Background(), f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	held.Store(a.ID)
	t.Cleanup(free) // before the fixture's stop, which waits for the delete

	ended(t, f.client, a.ID, 0)
	for i := range 3 {
		setStatus(t, f.client, a.ID, func(p *corev1.Pod) {
			p.Status.Message = "update " + string(rune('0'+i))
		})
	}
	// The informer hands one handler its events in order: once b's end is
	// handled, so are all of a's updates before it.
	ended(t, f.client, b.ID, 0)
	await(t, otherDeleted, "the delete of b")
	assert.Equal(t, int32(1), calls.Load(), "one delete of a, however many updates")
	free()
	require.Eventually(t, func() bool {
		_, err := f.client.CoreV1().Pods(testNS).Get(context.Background(), a.ID, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 5*time.Second, 10*time.Millisecond)
}

// A Start whose ctx ends before the app pods are listed says so, and
// leaves no goroutine behind (TestMain's goleak).
func TestStartCancelledBeforeSync(t *testing.T) {
	client := newClient()
	listed := make(chan struct{}, 1)
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case listed <- struct{}{}:
		default:
		}
		return true, nil, apierrors.NewServiceUnavailable("etcd is away")
	})
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	mgr := New(client, Config{Namespace: testNS}, nil, &sessions{}, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	await(t, listed, "the informer's first list")
	assert.False(t, mgr.Ready())
	cancel()
	err := await(t, done, "Start's answer")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
}
