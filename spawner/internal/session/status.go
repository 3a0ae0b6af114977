package session

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// What the service answers about sessions. The hub polls every server every
// few seconds, so none of this reaches the API server: it reads the
// Manager's records and the informer caches only.

// Get returns the session of a server.
func (m *Manager) Get(key Key) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok {
		return Session{}, false
	}
	return s.snapshot(), true
}

// List returns every session, ordered by user and server.
func (m *Manager) List() []Session {
	m.mu.Lock()
	out := make([]Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s.snapshot())
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Server < out[j].Server
	})
	return out
}

// Counts returns the number of sessions per status, for the sessions gauge.
func (m *Manager) Counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := map[string]int{}
	for _, st := range []Status{StatusPending, StatusRunning, StatusStopping, StatusFailed} {
		counts[string(st)] = 0
	}
	for _, s := range m.sessions {
		counts[string(s.status)]++
	}
	return counts
}

// Progress returns the progress log of the server's current or last
// operation. A session with no operation on record (one rebuilt as running
// after a restart) gets a log that states where it stands.
func (m *Manager) Progress(key Key) (*progress.Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok {
		return nil, false
	}
	if s.log == nil {
		s.log = progress.New()
		switch s.status {
		case StatusRunning:
			s.log.Append(progress.Event{Kind: progress.KindReady, Progress: 100, Message: "Your desktop is ready.", URL: s.url})
		case StatusFailed, StatusStopped:
			s.log.Append(progress.Event{Kind: progress.KindFailed, Message: s.message, Reason: s.reason})
		default:
			s.log.Append(progress.Event{Kind: progress.KindProgress, Message: s.message})
		}
	}
	return s.log, true
}

// SessionPod returns the running pod of a session and its profile, from the
// informer cache. It is how app launches find the session they belong to.
func (m *Manager) SessionPod(key Key) (*corev1.Pod, string, bool) {
	m.mu.Lock()
	s, ok := m.sessions[key]
	if !ok || s.status != StatusRunning {
		m.mu.Unlock()
		return nil, "", false
	}
	name, profile := s.names.Pod, s.profile
	m.mu.Unlock()
	pod, ok := m.cachedPod(name)
	if !ok || pod.DeletionTimestamp != nil {
		return nil, "", false
	}
	return pod, profile, true
}

// ReadWriteOnce reports whether the pod's home volume can be mounted on one
// node only (ReadWriteOnce or ReadWriteOncePod), from the PVC cache. A claim
// the cache does not know counts as ReadWriteOnce: pinning an app to the
// session's node is always safe, only less flexible.
func (m *Manager) ReadWriteOnce(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name != podspec.HomeVolumeName || v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := m.pvcs.PersistentVolumeClaims(pod.Namespace).Get(v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return true
		}
		for _, mode := range pvc.Spec.AccessModes {
			if mode == corev1.ReadWriteOnce || mode == corev1.ReadWriteOncePod {
				return true
			}
		}
		return false
	}
	return false
}
