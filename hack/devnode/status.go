package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pure part of the dev node: a pod's phase and conditions from its
// containers' statuses, following the kubelet's rules (getPhase and
// generateAPIPodStatus in pkg/kubelet), without any API or process state.

// isSidecar reports a native sidecar: an init container that keeps running.
func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// initDone reports whether an init container no longer holds the pod back:
// a sidecar once it started (and still after it was stopped, as it is when
// the pod's main containers have ended), any other once it exited 0.
func initDone(spec corev1.Container, s corev1.ContainerStatus) bool {
	if isSidecar(spec) {
		ran := s.State.Terminated != nil && !s.State.Terminated.StartedAt.IsZero()
		return (s.Started != nil && *s.Started) || ran
	}
	return s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
}

// initFailed reports an init container that failed and will not be retried.
func initFailed(policy corev1.RestartPolicy, spec corev1.Container, s corev1.ContainerStatus) bool {
	if isSidecar(spec) || policy != corev1.RestartPolicyNever {
		return false
	}
	return s.State.Terminated != nil && s.State.Terminated.ExitCode != 0
}

// podPhase is the kubelet's phase rule. policy is the pod's restart policy,
// or Never for a pod being torn down (nothing restarts any more).
func podPhase(policy corev1.RestartPolicy, initSpecs []corev1.Container, initStatuses, statuses []corev1.ContainerStatus) corev1.PodPhase {
	for i, s := range initStatuses {
		if initFailed(policy, initSpecs[i], s) {
			return corev1.PodFailed
		}
	}
	for i, s := range initStatuses {
		if !initDone(initSpecs[i], s) {
			return corev1.PodPending
		}
	}
	var running, waiting, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			// Waiting to restart (CrashLoopBackOff): it ran and stopped.
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if policy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// podConditions are the conditions the dev node owns (PodScheduled is the
// scheduler's), without transition times.
func podConditions(phase corev1.PodPhase, sandboxReady bool, initSpecs []corev1.Container, initStatuses, statuses []corev1.ContainerStatus, gates []corev1.PodReadinessGate, existing []corev1.PodCondition) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
		}
		return c
	}
	var incomplete []string
	for i, s := range initStatuses {
		if !initDone(initSpecs[i], s) {
			incomplete = append(incomplete, s.Name)
		}
	}
	initialized := len(incomplete) == 0 || phase == corev1.PodSucceeded
	var unready []string
	for _, s := range statuses {
		if !s.Ready {
			unready = append(unready, s.Name)
		}
	}
	terminal := phase == corev1.PodSucceeded || phase == corev1.PodFailed
	ctrReady := cond(corev1.ContainersReady, len(unready) == 0 && !terminal,
		"ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " ")))
	if terminal {
		ctrReady.Reason, ctrReady.Message = "PodCompleted", ""
	}
	ready := ctrReady
	ready.Type = corev1.PodReady
	if ready.Status == corev1.ConditionTrue {
		for _, g := range gates {
			if !conditionTrue(existing, g.ConditionType) {
				ready = cond(corev1.PodReady, false, "ReadinessGatesNotReady",
					fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist or is not True", g.ConditionType))
				break
			}
		}
	}
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized",
			fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))),
		ready,
		ctrReady,
	}
}

func conditionTrue(conds []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// withTransitionTimes keeps a condition's lastTransitionTime while its status
// stays the same, and stamps now when it changes.
func withTransitionTimes(conds, previous []corev1.PodCondition, now metav1.Time) []corev1.PodCondition {
	for i := range conds {
		conds[i].LastTransitionTime = now
		for _, p := range previous {
			if p.Type == conds[i].Type && p.Status == conds[i].Status {
				conds[i].LastTransitionTime = p.LastTransitionTime
			}
		}
	}
	return conds
}

// shouldRestart is the container restart rule: sidecars always restart,
// other init containers as OnFailure unless the pod says Never.
func shouldRestart(policy corev1.RestartPolicy, sidecar, initContainer bool, exitCode int32) bool {
	switch {
	case sidecar:
		return true
	case initContainer && policy == corev1.RestartPolicyAlways:
		return exitCode != 0
	case policy == corev1.RestartPolicyAlways:
		return true
	case policy == corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}
