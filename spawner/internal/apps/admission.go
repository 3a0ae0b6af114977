package apps

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// admission serializes the quota check of each session's launches and
// counts the launches in flight, so that concurrent launches cannot all pass
// a count taken from the informer cache before any of their pods exist
// (thirty concurrent launches under a quota of two made thirty pods).
//
// A launch holds a slot from its check until its pod is created (reserved),
// then until the informer cache shows the pod (created): only from then on
// does the cache's own count include it. Created pods that the cache never
// shows (deleted at once) are forgotten after pendingTTL, so a lost event
// can hold a slot for a while but never for ever.
type admission struct {
	mu       sync.Mutex
	sessions map[string]*slots // by session pod name
}

type slots struct {
	reserved int
	created  map[string]time.Time // app pod name → when created
}

// pendingTTL bounds how long a created pod that the informer cache does not
// show yet keeps its slot; the cache normally shows it within milliseconds.
const pendingTTL = time.Minute

// admit reserves a slot for a launch in session if fewer than limit apps
// run or are in flight; cached is every app pod of the session in the
// informer cache, ended or not. It returns the number counted and whether the slot was given; a
// given slot must be released with done, once, with the created pod's name
// ("" when nothing was created).
func (a *admission) admit(session string, limit int, cached []*corev1.Pod, now time.Time) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions == nil {
		a.sessions = map[string]*slots{}
	}
	s := a.sessions[session]
	if s == nil {
		s = &slots{created: map[string]time.Time{}}
		a.sessions[session] = s
	}
	running := 0
	seen := make(map[string]bool, len(cached))
	for _, p := range cached {
		seen[p.Name] = true
		if st, _, _ := status(p); st == StatusStarting || st == StatusRunning {
			running++
		}
	}
	inFlight := s.reserved
	for name, at := range s.created {
		switch {
		case seen[name]:
			delete(s.created, name) // the cache counts it now
		case now.Sub(at) > pendingTTL:
			delete(s.created, name)
		default:
			inFlight++
		}
	}
	n := running + inFlight
	if n >= limit {
		a.gc(session, s)
		return n, false
	}
	s.reserved++
	return n, true
}

// done releases a slot that admit gave; pod is the created app pod's name,
// which keeps the slot until the cache shows it, or "".
func (a *admission) done(session, pod string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[session]
	if s == nil {
		return
	}
	s.reserved--
	if pod != "" {
		s.created[pod] = now
	}
	a.gc(session, s)
}

// observed drops a pod from the in-flight set once the cache has it (or it
// was deleted): from then on the cache's count is the truth.
func (a *admission) observed(session, pod string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[session]; s != nil {
		delete(s.created, pod)
		a.gc(session, s)
	}
}

// gc forgets a session with nothing in flight. Callers hold a.mu.
func (a *admission) gc(session string, s *slots) {
	if s.reserved == 0 && len(s.created) == 0 {
		delete(a.sessions, session)
	}
}
