package apps

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// admission serializes the quota check of each session's launches and
// counts the launches in flight, so that concurrent launches cannot all pass
// a count taken from the informer cache before any of their pods exist
// (thirty concurrent launches under a quota of two made thirty pods).
//
// A launch reserves its app pod's name before it creates the pod. A
// reservation counts until the informer cache shows that pod; from then on
// the cache's own count includes it, so nothing is counted twice (a launch
// is still creating the pod's Secret and NetworkPolicy when the cache
// already shows the pod). A created pod that the cache never shows (deleted
// at once, a lost event) is forgotten pendingTTL after its create, so it can
// hold a slot for a while but never for ever.
type admission struct {
	mu       sync.Mutex
	sessions map[string]map[string]*reservation // session pod → app pod → reservation
}

type reservation struct {
	creating bool      // the create call has not returned yet
	created  time.Time // when it returned; meaningful once !creating
}

// pendingTTL bounds how long a created pod that the informer cache does not
// show yet keeps its slot; the cache normally shows it within milliseconds.
const pendingTTL = time.Minute

// admit reserves pod's slot in session if fewer than limit apps run or are
// in flight; cached is every app pod of the session in the informer cache,
// ended or not. It returns the number counted and whether the slot was
// given. A given slot must be followed by created (the pod exists) or
// released (it was never made).
func (a *admission) admit(session, pod string, limit int, cached []*corev1.Pod, now time.Time) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions == nil {
		a.sessions = map[string]map[string]*reservation{}
	}
	held := a.sessions[session]
	if held == nil {
		held = map[string]*reservation{}
		a.sessions[session] = held
	}
	n := 0
	seen := make(map[string]bool, len(cached))
	for _, p := range cached {
		seen[p.Name] = true
		if st, _, _ := status(p); st == sessionapi.StatusStarting || st == sessionapi.StatusRunning {
			n++
		}
	}
	for name, r := range held {
		switch {
		case seen[name]:
			// The cache counts it. A launch still creating keeps its
			// entry so that created finds it, but it is not counted twice.
			if !r.creating {
				delete(held, name)
			}
		case !r.creating && now.Sub(r.created) > pendingTTL:
			delete(held, name)
		default:
			n++
		}
	}
	if n >= limit {
		a.gc(session)
		return n, false
	}
	held[pod] = &reservation{creating: true}
	return n, true
}

// created marks a reserved pod as made: it keeps its slot until the cache
// shows it, or for pendingTTL.
func (a *admission) created(session, pod string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.sessions[session][pod]; r != nil {
		r.creating = false
		r.created = now
	}
}

// released gives back a reserved slot whose pod was never made.
func (a *admission) released(session, pod string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.sessions[session], pod)
	a.gc(session)
}

// observed drops a pod from the in-flight set once the cache has it (or it
// was deleted): from then on the cache's count is the truth. A launch still
// creating the pod keeps its entry (admit skips it while the cache shows it).
func (a *admission) observed(session, pod string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.sessions[session][pod]; r != nil && !r.creating {
		delete(a.sessions[session], pod)
		a.gc(session)
	}
}

// gc forgets a session with nothing in flight. Callers hold a.mu.
func (a *admission) gc(session string) {
	if len(a.sessions[session]) == 0 {
		delete(a.sessions, session)
	}
}
