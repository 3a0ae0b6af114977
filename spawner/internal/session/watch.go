package session

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// The informers' handlers. They keep idle sessions current (a pod that
// exited, or was deleted behind the service's back) and wake the operation
// in progress, which then looks at the pod itself. They run under m.mu, so
// anything that talks to the API server goes to a goroutine of its own.

// onPod follows the session pods. Operations are woken to look at the pod
// themselves; idle sessions are updated here.
func (m *Manager) onPod(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reconciled {
		return
	}
	s := m.byPod[pod.Name]
	if s == nil {
		return
	}
	if s.op != nil {
		if deleted {
			s.op.gone[pod.UID] = true
		}
		s.op.poke()
		return
	}
	if podspec.OwnerOf(pod, s.names) != podspec.Owned {
		return // another user's pod under a colliding name is not this session's
	}
	if s.status != StatusRunning {
		return
	}
	if deleted || pod.DeletionTimestamp != nil {
		s.status, s.reason = StatusStopped, ReasonPodDeleted
		s.message = "The desktop pod was deleted outside kubedesk."
		return
	}
	st := assess(pod)
	if st.ended {
		code := st.exitCode
		s.exitCode = &code
		s.status, s.reason, s.message = StatusStopped, ReasonExited, st.ending
		if code != 0 {
			s.status = StatusFailed
		}
		// KubeSpawner's delete_stopped_pods: an ended pod holds the node's
		// resources and its name until it is deleted. A service shutting
		// down leaves that to its next run, whose rebuild deletes ended pods.
		if m.closing {
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopTimeout)
			defer cancel()
			if err := withRetry(ctx, func(ctx context.Context) error { return m.deletePod(ctx, pod.Name, 0) }); err != nil {
				m.log.Error("Delete ended pod", "pod", pod.Name, "err", err)
			}
		}()
		return
	}
	if st.ready && st.url != s.url {
		s.url = st.url
	}
}

// onEvent turns Kubernetes Events about a spawning pod into progress.
func (m *Manager) onEvent(obj any) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reconciled {
		return
	}
	s := m.byPod[e.InvolvedObject.Name]
	if s == nil || s.op == nil || s.op.kind == opStop {
		return
	}
	op := s.op
	if op.podUID == "" || e.InvolvedObject.UID != op.podUID || op.seenEvent[e.UID] >= max(e.Count, 1) {
		return
	}
	op.seenEvent[e.UID] = max(e.Count, 1)
	if e.Reason == "TriggeredScaleUp" {
		op.scaleUp = true
	}
	msg := eventMessage(e)
	if msg == "" {
		return
	}
	// Each event moves the bar a third of the way to 90%, KubeSpawner's
	// scheme: it always moves and never reaches the end before ready.
	op.percent += (90 - op.percent) / 3
	s.message = msg
	op.log.Append(progress.Event{Kind: progress.KindProgress, Progress: op.percent, Message: msg})
	op.poke()
}

func trimEvent(obj any) (any, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return obj, nil
	}
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion},
		InvolvedObject: corev1.ObjectReference{Kind: e.InvolvedObject.Kind, Name: e.InvolvedObject.Name, UID: e.InvolvedObject.UID},
		Reason:         e.Reason,
		Message:        firstSentence(e.Message),
		Type:           e.Type,
		Count:          e.Count,
	}, nil
}
