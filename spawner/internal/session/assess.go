package session

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Failure reasons, used in progress events, the Session API and the
// kubedesk_spawner_spawn_failures_total metric. They are a closed set so that
// dashboards can rely on them.
const (
	ReasonImagePull     = "image_pull"
	ReasonCrashLoop     = "crash_loop"
	ReasonUnschedulable = "unschedulable"
	ReasonTimeout       = "timeout"
	ReasonPodDeleted    = "pod_deleted"
	ReasonConfig        = "config"
	ReasonKubernetes    = "kubernetes"
	ReasonExited        = "exited"
	ReasonCancelled     = "cancelled"
	ReasonLost          = "lost"
)

// notebookContainer is the session container's name, KubeSpawner's.
const notebookContainer = "notebook"

// podState is what a pod's status means for a person waiting on it.
type podState struct {
	ready bool
	url   string

	ended    bool // the pod's processes ended: Succeeded or Failed
	exitCode int
	// ending says that the session ended, for one that may have run for
	// hours; message says it of a spawn, which it failed.
	ending string

	failed  bool // nothing will get better by waiting
	reason  string
	message string

	unschedulable bool
	waiting       string // a readable note on what the pod is waiting for
}

// assess translates a pod's status. Kubernetes' words (ErrImagePull,
// CrashLoopBackOff, Unschedulable) become sentences, and the states that no
// amount of waiting fixes become failures at once instead of at the deadline.
func assess(pod *corev1.Pod) podState {
	var s podState
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		s.ended = true
		s.exitCode = exitCode(pod)
		s.failed = true
		s.reason = ReasonExited
		s.ending = fmt.Sprintf("The desktop session ended (exit code %d).", s.exitCode)
		s.message = fmt.Sprintf("The desktop session ended (exit code %d) before it was ready.", s.exitCode)
		if msg := terminationMessage(pod); msg != "" {
			s.ending += " " + msg
			s.message += " " + msg
		}
		return s
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
			if waitsForVolume(cond.Message) {
				// The scheduler says "unschedulable" while a volume is still
				// being provisioned or bound; that passes by itself.
				s.waiting = "Waiting for your home directory's volume to be ready."
				continue
			}
			s.unschedulable = true
			s.waiting = "No node has room for this session yet: " + firstSentence(cond.Message)
		}
	}
	for _, cs := range allStatuses(pod) {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
				s.failed, s.reason = true, ReasonImagePull
				s.message = fmt.Sprintf("The image %s could not be downloaded: %s", cs.Image, firstSentence(w.Message))
				return s
			case "CrashLoopBackOff":
				s.failed, s.reason = true, ReasonCrashLoop
				s.message = fmt.Sprintf("The %s container keeps crashing (restarted %d times).", cs.Name, cs.RestartCount)
				if t := cs.LastTerminationState.Terminated; t != nil {
					s.message += fmt.Sprintf(" Its last exit code was %d.", t.ExitCode)
				}
				return s
			case "CreateContainerConfigError":
				// The hub env Secret is created right after the pod; a
				// kubelet that looked in between waits for it.
				if strings.Contains(w.Message, "not found") {
					s.waiting = "Starting the desktop's containers."
					continue
				}
				s.failed, s.reason = true, ReasonConfig
				s.message = fmt.Sprintf("The %s container could not be started: %s", cs.Name, firstSentence(w.Message))
				return s
			case "CreateContainerError", "RunContainerError":
				s.failed, s.reason = true, ReasonConfig
				s.message = fmt.Sprintf("The %s container could not be started: %s", cs.Name, firstSentence(w.Message))
				return s
			case "ContainerCreating", "PodInitializing":
				s.waiting = "Starting the desktop's containers."
			}
		}
	}
	if pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "" && podReady(pod) {
		s.ready = true
		s.url = "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(notebookPort(pod))))
	}
	return s
}

// waitsForVolume reports whether a scheduler verdict only says that the pod's
// claims are not bound yet (the kube-scheduler's VolumeBinding wording).
func waitsForVolume(msg string) bool {
	return strings.Contains(msg, "unbound immediate PersistentVolumeClaims") ||
		strings.Contains(msg, "waiting for ephemeral volume") ||
		strings.Contains(msg, "persistentvolumeclaim") && strings.Contains(msg, "not found")
}

func allStatuses(pod *corev1.Pod) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(pod.Status.InitContainerStatuses)+len(pod.Status.ContainerStatuses))
	out = append(out, pod.Status.InitContainerStatuses...)
	return append(out, pod.Status.ContainerStatuses...)
}

func podReady(pod *corev1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// notebookPort is the port named notebook-port (KubeSpawner's name), 8888
// when a pod has none.
func notebookPort(pod *corev1.Pod) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "notebook-port" {
				return p.ContainerPort
			}
		}
	}
	return 8888
}

func exitCode(pod *corev1.Pod) int {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == notebookContainer && cs.State.Terminated != nil {
			return int(cs.State.Terminated.ExitCode)
		}
	}
	if pod.Status.Phase == corev1.PodSucceeded {
		return 0
	}
	return 1
}

func terminationMessage(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; cs.Name == notebookContainer && t != nil && t.Message != "" {
			return firstSentence(t.Message)
		}
	}
	return firstSentence(pod.Status.Message)
}

// firstSentence trims Kubernetes' long, multi-clause messages (scheduler
// verdicts list every node) to something a progress bar can show.
func firstSentence(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexAny(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	const max = 300
	if len(msg) > max {
		msg = msg[:max] + "…"
	}
	return msg
}

// eventMessage turns a Kubernetes Event about a session pod into a progress
// message, or "" for events that mean nothing to the person waiting.
func eventMessage(e *corev1.Event) string {
	switch e.Reason {
	case "Scheduled":
		return "A node was found for your session."
	case "FailedScheduling":
		if waitsForVolume(e.Message) {
			return "Waiting for your home directory's volume to be ready."
		}
		return "Waiting for room in the cluster: " + firstSentence(e.Message)
	case "TriggeredScaleUp":
		return "Adding a node to the cluster for your session; this can take a few minutes."
	case "Pulling":
		return "Downloading the desktop image; the first time on a node this can take a few minutes."
	case "Pulled":
		return "The desktop image is on the node."
	case "Created":
		return ""
	case "Started":
		return "The desktop is starting."
	case "FailedMount", "FailedAttachVolume":
		return "Waiting for the home directory to be attached: " + firstSentence(e.Message)
	case "BackOff", "Failed", "Unhealthy", "FailedCreatePodSandBox":
		return firstSentence(e.Message)
	}
	if e.Type == corev1.EventTypeWarning {
		return firstSentence(e.Message)
	}
	return ""
}
