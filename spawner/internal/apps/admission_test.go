package apps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Concurrent launches all used to pass a count taken from the cache before
// any of their pods existed.
func TestConcurrentLaunchesKeepTheQuota(t *testing.T) {
	mgr, client, caller := startApps(t, Config{MaxAppsPerSession: 2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for range 40 {
		wg.Go(func() {
			_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm"})
			code := "created"
			var e *Error
			if errors.As(err, &e) {
				code = e.Code
			} else if err != nil {
				code = err.Error()
			}
			mu.Lock()
			outcomes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, map[string]int{"created": 2, CodeQuota: 38}, outcomes)
	assert.Equal(t, 2, appPods(t, client))

	// The quota counts the apps the cache shows once they are there.
	_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeQuota, e.Code)
}

// A launch is still creating its pod's Secret when the cache already shows
// the pod; it used to count then both as in flight and as the cache's, so a
// second launch under a quota of two was refused (CI saw 1 of 40 pass).
func TestALaunchIsCountedOnceWhileItFinishes(t *testing.T) {
	hold := make(chan struct{})
	mgr, _, caller := startAppsWith(t, Config{MaxAppsPerSession: 2}, func(c kubernetes.Interface) kubernetes.Interface {
		return hooked{Interface: c, createSecret: func(context.Context) error { <-hold; return nil }}
	})
	first := make(chan error, 1)
	go func() {
		_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm"})
		first <- err
	}()
	require.Eventually(t, func() bool { return len(mgr.ofSession("jupyter-alice")) == 1 }, 5*time.Second, 5*time.Millisecond,
		"the cache shows the first launch's pod while its Secret is held")

	second := make(chan error, 1)
	go func() {
		_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm"})
		second <- err
	}()
	require.Eventually(t, func() bool { return len(mgr.ofSession("jupyter-alice")) == 2 }, 5*time.Second, 5*time.Millisecond,
		"the second launch, one under the quota, made its pod")
	close(hold)
	require.NoError(t, await(t, first, "the first launch"))
	require.NoError(t, await(t, second, "the second launch"))
	_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm"})
	var e *Error
	require.ErrorAs(t, err, &e, "a third is over the quota")
	assert.Equal(t, CodeQuota, e.Code)
}

func TestLaunchArgumentCaps(t *testing.T) {
	mgr, client, caller := startApps(t, Config{MaxLaunchFiles: 3, MaxLaunchArgBytes: 64})
	files := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			name := fmt.Sprintf("/home/jovyan/%d", i)
			out[i] = name + strings.Repeat("x", max(size-len(name), 0))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		files []string
		code  string
	}{
		{"too many files", files(4, 1), CodeTooManyFiles},
		{"too many bytes", files(2, 40), CodeArgsTooLong},
		{"a megabyte in one argument", files(1, 1<<20), CodeArgsTooLong},
	} {
		_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm", Files: tc.files})
		var e *Error
		require.ErrorAs(t, err, &e, tc.name)
		assert.Equal(t, tc.code, e.Code, tc.name)
		assert.NotEmpty(t, e.Message, tc.name)
	}
	assert.Zero(t, appPods(t, client), "no refused launch created a pod")

	_, err := mgr.Launch(context.Background(), caller, sessionapi.LaunchRequest{App: "xterm", Files: files(3, 20)})
	require.NoError(t, err, "at the caps a launch goes through")
}

func TestAdmissionCountsLaunchesInFlight(t *testing.T) {
	var a admission
	now := time.Now()
	pod := func(name string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
	}

	n, ok := a.admit("s", "app-1", 2, nil, now)
	require.True(t, ok)
	assert.Equal(t, 0, n)
	_, ok = a.admit("s", "app-2", 2, nil, now)
	require.True(t, ok, "two reserved")
	n, ok = a.admit("s", "app-3", 2, nil, now)
	assert.False(t, ok, "a third waits for neither create")
	assert.Equal(t, 2, n)

	a.released("s", "app-2") // that launch failed before creating anything
	a.created("s", "app-1", now)
	_, ok = a.admit("s", "app-4", 2, nil, now)
	require.True(t, ok, "one slot came back; app-1 is still in flight")
	_, ok = a.admit("s", "app-5", 2, nil, now)
	assert.False(t, ok)

	// While app-4's launch still runs, the cache shows its pod: counted once.
	n, ok = a.admit("s", "app-6", 3, []*corev1.Pod{pod("app-4", corev1.PodPending)}, now)
	assert.Equal(t, 2, n, "app-1 in flight and app-4 by the cache, not again as reserved")
	require.True(t, ok)
	a.released("s", "app-6")
	a.created("s", "app-4", now)
	a.observed("s", "app-4")

	// Once the cache shows app-1, its own status counts: ended frees it.
	_, ok = a.admit("s", "app-7", 2, []*corev1.Pod{pod("app-1", corev1.PodSucceeded)}, now)
	require.True(t, ok)
	a.released("s", "app-7")
	n, _ = a.admit("s", "app-8", 2, []*corev1.Pod{pod("app-1", corev1.PodRunning)}, now)
	assert.Equal(t, 1, n, "counted once, by the cache, not again as in flight")
	a.released("s", "app-8")

	// A created pod the cache never shows is forgotten after pendingTTL.
	_, _ = a.admit("t", "lost", 1, nil, now)
	a.created("t", "lost", now)
	_, ok = a.admit("t", "next", 1, nil, now)
	assert.False(t, ok)
	_, ok = a.admit("t", "next", 1, nil, now.Add(pendingTTL+time.Second))
	assert.True(t, ok)
	a.released("t", "next")

	assert.Empty(t, a.sessions, "sessions with nothing in flight are forgotten")
}
