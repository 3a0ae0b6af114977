package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func st(name string, state corev1.ContainerState, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: state, Ready: ready}
}

var (
	waitingS  = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	runningS  = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	exited0   = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	exited3   = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}
	backOff   = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	always    = corev1.RestartPolicyAlways
	onFailure = corev1.RestartPolicyOnFailure
	never     = corev1.RestartPolicyNever
)

func TestPodPhase(t *testing.T) {
	crashed := st("a", backOff, false)
	crashed.LastTerminationState = exited3
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		ctrs   []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{"not started", always, []corev1.ContainerStatus{st("a", waitingS, false)}, corev1.PodPending},
		{"one running one waiting", always, []corev1.ContainerStatus{st("a", runningS, true), st("b", waitingS, false)}, corev1.PodPending},
		{"running", never, []corev1.ContainerStatus{st("a", runningS, true)}, corev1.PodRunning},
		{"one ended one running", never, []corev1.ContainerStatus{st("a", exited3, false), st("b", runningS, true)}, corev1.PodRunning},
		{"exit 3, Never", never, []corev1.ContainerStatus{st("a", exited3, false)}, corev1.PodFailed},
		{"exit 0, Never", never, []corev1.ContainerStatus{st("a", exited0, false)}, corev1.PodSucceeded},
		{"exit 0, OnFailure", onFailure, []corev1.ContainerStatus{st("a", exited0, false)}, corev1.PodSucceeded},
		{"exit 3, OnFailure restarts", onFailure, []corev1.ContainerStatus{st("a", exited3, false)}, corev1.PodRunning},
		{"exit 0, Always restarts", always, []corev1.ContainerStatus{st("a", exited0, false)}, corev1.PodRunning},
		{"crash loop", onFailure, []corev1.ContainerStatus{crashed}, corev1.PodRunning},
		{"mixed, Never", never, []corev1.ContainerStatus{st("a", exited0, false), st("b", exited3, false)}, corev1.PodFailed},
	} {
		require.Equal(t, tc.want, podPhase(tc.policy, nil, nil, tc.ctrs), tc.name)
	}
}

func TestPodPhaseInitContainers(t *testing.T) {
	specs := []corev1.Container{{Name: "init"}, {Name: "side", RestartPolicy: new(corev1.ContainerRestartPolicyAlways)}}
	started := st("side", runningS, false)
	started.Started = new(true)
	notStarted := st("side", runningS, false)
	notStarted.Started = new(false)
	ctrs := []corev1.ContainerStatus{st("a", runningS, true)}

	require.Equal(t, corev1.PodPending, podPhase(never, specs, []corev1.ContainerStatus{st("init", runningS, false), st("side", waitingS, false)}, ctrs))
	require.Equal(t, corev1.PodPending, podPhase(never, specs, []corev1.ContainerStatus{st("init", exited0, false), notStarted}, ctrs))
	require.Equal(t, corev1.PodRunning, podPhase(never, specs, []corev1.ContainerStatus{st("init", exited0, false), started}, ctrs))
	require.Equal(t, corev1.PodFailed, podPhase(never, specs, []corev1.ContainerStatus{st("init", exited3, false), notStarted}, ctrs),
		"a failed init container ends a Never pod")
	require.Equal(t, corev1.PodPending, podPhase(onFailure, specs, []corev1.ContainerStatus{st("init", exited3, false), notStarted}, ctrs),
		"and is retried otherwise")

	// An app pod: the app exited, and then its native sidecar was stopped.
	stopped := st("side", corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, StartedAt: metav1.Now()}}, false)
	appExited := []corev1.ContainerStatus{st("a", exited3, false)}
	require.Equal(t, corev1.PodFailed, podPhase(never, specs, []corev1.ContainerStatus{st("init", exited0, false), stopped}, appExited),
		"a stopped sidecar does not send the pod back to Pending")
}

func TestPodConditions(t *testing.T) {
	find := func(conds []corev1.PodCondition, ty corev1.PodConditionType) corev1.PodCondition {
		for _, c := range conds {
			if c.Type == ty {
				return c
			}
		}
		t.Fatalf("no %s", ty)
		return corev1.PodCondition{}
	}
	ctrs := []corev1.ContainerStatus{st("a", runningS, true), st("b", runningS, false)}
	conds := podConditions(corev1.PodRunning, true, nil, nil, ctrs, nil, nil)
	require.Equal(t, corev1.ConditionTrue, find(conds, corev1.PodInitialized).Status)
	require.Equal(t, corev1.ConditionTrue, find(conds, corev1.PodReadyToStartContainers).Status)
	notReady := find(conds, corev1.PodReady)
	require.Equal(t, corev1.ConditionFalse, notReady.Status)
	require.Equal(t, "containers with unready status: [b]", notReady.Message)

	ctrs[1].Ready = true
	conds = podConditions(corev1.PodRunning, true, nil, nil, ctrs, nil, nil)
	require.Equal(t, corev1.ConditionTrue, find(conds, corev1.PodReady).Status)
	require.Empty(t, find(conds, corev1.PodReady).Reason)

	gates := []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
	conds = podConditions(corev1.PodRunning, true, nil, nil, ctrs, gates, nil)
	require.Equal(t, corev1.ConditionFalse, find(conds, corev1.PodReady).Status, "readiness gate not True")
	conds = podConditions(corev1.PodRunning, true, nil, nil, ctrs, gates,
		[]corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}})
	require.Equal(t, corev1.ConditionTrue, find(conds, corev1.PodReady).Status)

	conds = podConditions(corev1.PodFailed, true, nil, nil, []corev1.ContainerStatus{st("a", exited3, false)}, nil, nil)
	require.Equal(t, "PodCompleted", find(conds, corev1.PodReady).Reason)

	initSpecs := []corev1.Container{{Name: "init"}}
	conds = podConditions(corev1.PodPending, true, initSpecs, []corev1.ContainerStatus{st("init", runningS, false)}, ctrs, nil, nil)
	require.Equal(t, "containers with incomplete status: [init]", find(conds, corev1.PodInitialized).Message)
}

func TestTransitionTimes(t *testing.T) {
	t0 := metav1.NewTime(time.Unix(1000, 0))
	t1 := metav1.NewTime(time.Unix(2000, 0))
	prev := withTransitionTimes([]corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionFalse},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
	}, nil, t0)
	next := withTransitionTimes([]corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
	}, prev, t1)
	require.Equal(t, t1, next[0].LastTransitionTime, "changed: now")
	require.Equal(t, t0, next[1].LastTransitionTime, "unchanged: kept")
}

func TestShouldRestart(t *testing.T) {
	require.True(t, shouldRestart(always, false, false, 0))
	require.True(t, shouldRestart(onFailure, false, false, 1))
	require.False(t, shouldRestart(onFailure, false, false, 0))
	require.False(t, shouldRestart(never, false, false, 1))
	require.True(t, shouldRestart(never, true, true, 0), "sidecars always restart")
	require.False(t, shouldRestart(always, false, true, 0), "an init container that succeeded is done")
	require.True(t, shouldRestart(always, false, true, 1))
	require.False(t, shouldRestart(never, false, true, 1))
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"$(A)-$(B)":   "1-two",
		"$(MISSING)":  "$(MISSING)",
		"$$(A)":       "$(A)",
		"a$b":         "a$b",
		"$(A":         "$(A",
		"end$":        "end$",
		"$(A)$(A)$$$": "11$$",
	} {
		require.Equal(t, want, expand(in, lookup), in)
	}
}

func TestIPPool(t *testing.T) {
	p, err := newIPPool("127.43.0.0/30") // .1 and .2 usable
	require.NoError(t, err)
	a, err := p.allocate("")
	require.NoError(t, err)
	require.Equal(t, "127.43.0.1", a)
	b, err := p.allocate("")
	require.NoError(t, err)
	require.Equal(t, "127.43.0.2", b)
	_, err = p.allocate("")
	require.Error(t, err, "full")
	p.release(a)
	got, err := p.allocate("127.43.0.1")
	require.NoError(t, err)
	require.Equal(t, a, got, "a pod keeps the IP it had")
	p.release(a)
	got, err = p.allocate("127.42.0.5")
	require.NoError(t, err)
	require.Equal(t, a, got, "an IP outside the range is not taken")
}
