package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// A spawn, from the hub's request to a ready pod or a failure with a
// reason. Spawn reserves the server and answers once the spawn's intent is
// recorded (intent.go); the operation's goroutine then creates the session's
// objects (create.go) and follows the pod through the informer cache.

// Spec is a validated spawn request.
type Spec struct {
	Profile  string
	Settings podspec.Settings
	// Env is the hub's environment for the server; it goes into a Secret.
	Env map[string]string
	// Deadline, when set and shorter than Config.SpawnTimeout, bounds this
	// spawn instead: the hub's own timeout minus a margin.
	Deadline time.Duration
	// Request is a digest of the spawn request as the hub sent it. The
	// hub's environment holds a token minted for each start, so the same
	// digest is the same start asked again (a retry after a lost answer),
	// which is answered as the first time.
	Request string
}

// Spawn starts a session and returns once its intent is recorded in the
// cluster, so that a restarted service resumes it; the spawn goes on in the
// background and reports through Progress. A repeated request (the same
// Spec.Request) gets the answer of the first.
func (m *Manager) Spawn(ctx context.Context, key Key, spec Spec) (Session, error) {
	s, op, err := m.reserve(key, spec)
	if err != nil {
		return Session{}, err
	}
	if op != nil && op.saved != nil {
		select {
		case <-op.saved:
		case <-ctx.Done():
			return Session{}, &Error{Code: CodeUnavailable, Message: "The spawn is still being recorded in the cluster; ask again in a moment."}
		}
		if op.saveErr != nil {
			return Session{}, op.saveErr
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return s.snapshot(), nil
}

// reserve claims the server for a new spawn and starts it, or finds the
// spawn of the same request. op is the operation to wait on before
// answering (nil: nothing to wait for).
func (m *Manager) reserve(key Key, spec Spec) (*session, *operation, error) {
	names := podspec.NewNames(key.User, key.Server)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reconciled {
		return nil, nil, ErrNotReady
	}
	if m.closing {
		return nil, nil, errShuttingDown
	}
	if s, ok := m.sessions[key]; ok {
		switch {
		case spec.Request != "" && s.request == spec.Request:
			return s, s.op, nil
		case s.op != nil:
			return nil, nil, &Error{Code: CodeBusy, Message: fmt.Sprintf("The server is %s; try again when that is done.", opVerb(s.op.kind))}
		case s.status == StatusPending || s.status == StatusRunning:
			return nil, nil, &Error{Code: CodeExists, Message: "The server is already running; stop it first."}
		}
		// A failed or stopped session is only a record: a new spawn replaces it.
		m.forget(s)
	}
	if err := m.namesFree(key, names, spec); err != nil {
		return nil, nil, err
	}

	if spec.Request == "" {
		// A caller that sends no digest gets one no retry matches; the
		// intent needs a name of its own all the same.
		spec.Request = rand.Text()
	}
	s := &session{key: key, names: names, profile: spec.Profile, request: spec.Request, status: StatusPending, started: time.Now()}
	s.message = "Starting your desktop."
	timeout := m.spawnTimeout(spec)
	op := m.newOp(s, opSpawn, timeout)
	op.timeout = timeout
	op.saved = make(chan struct{})
	m.sessions[key] = s
	m.byPod[names.Pod] = s
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runSpawn(op, spec)
	}()
	return s, op, nil
}

// spawnTimeout bounds a spawn: the hub's deadline when it is the shorter.
func (m *Manager) spawnTimeout(spec Spec) time.Duration {
	if spec.Deadline > 0 && spec.Deadline < m.cfg.SpawnTimeout {
		return spec.Deadline
	}
	return m.cfg.SpawnTimeout
}

// namesFree refuses a spawn whose names the informer caches show taken.
// Names are not proof of ownership (podspec.OwnerOf): every object found
// under this server's names must be its own before it is used. Callers
// hold m.mu.
func (m *Manager) namesFree(key Key, names podspec.Names, spec Spec) error {
	if other := m.byPod[names.Pod]; other != nil && other.key != key {
		if other.op != nil || other.status == StatusPending || other.status == StatusRunning || other.status == StatusStopping {
			return m.conflict(names, "session", names.Pod, nil, &other.key)
		}
		// Another server's failed record keeps answering its polls, but
		// no longer holds the name.
		delete(m.byPod, names.Pod)
	}
	if pod, err := m.pods.Pods(m.cfg.Namespace).Get(names.Pod); err == nil {
		if podspec.OwnerOf(pod, names) != podspec.Owned {
			return m.conflict(names, "pod", pod.Name, pod.Annotations, nil)
		}
		// A pod of the same name that the Manager does not track is still
		// being deleted (the records go when the pod is gone).
		return &Error{Code: CodeBusy, Message: fmt.Sprintf("The previous session's pod %s is still shutting down; try again in a few seconds.", pod.Name)}
	}
	if spec.Settings.StorageEnsured() {
		// Claims the informer does not cache (KubeSpawner's have other
		// labels) are checked when the create finds them (createObjects).
		if pvc, err := m.pvcs.PersistentVolumeClaims(m.cfg.Namespace).Get(names.PVC); err == nil && !podspec.MayUseHome(pvc, names) {
			return m.conflict(names, "pvc", pvc.Name, pvc.Annotations, nil)
		}
	}
	return nil
}

func (m *Manager) runSpawn(op *operation, spec Spec) {
	s := op.session
	log := m.log.With("user", s.key.User, "server", s.key.Server, "pod", s.names.Pod, "profile", spec.Profile)
	if err := m.saveIntent(op, spec); err != nil {
		m.refuse(op, log, err)
		return
	}
	close(op.saved)
	log.Info("Spawn started")
	m.build(op, spec, log)
}

// refuse ends a spawn whose intent could not be written: it was never
// acknowledged, so it leaves no record (the hub hears the refusal).
func (m *Manager) refuse(op *operation, log *slog.Logger, err error) {
	log.Warn("Spawn refused: its intent could not be recorded", "err", err)
	var f *failure
	switch {
	case errors.As(err, &f) && f.reason == ReasonNameConflict:
		op.saveErr = &Error{Code: CodeNameConflict, Message: f.message}
	default:
		op.saveErr = &Error{Code: CodeUnavailable, Message: "The service could not record the spawn in the cluster (" +
			firstSentence(err.Error()) + "); try again in a moment."}
	}
	// The record goes before the answer: the hub may ask again as soon as
	// it hears the refusal, and must find the server free, not be handed
	// this refusal a second time.
	m.finish(op, op.saveErr, nil, func(s *session) { m.forget(s) })
	close(op.saved)
}

// build creates the session's objects and waits for its pod, for a new
// spawn and for one resumed from its intent alike.
func (m *Manager) build(op *operation, spec Spec, log *slog.Logger) {
	m.step(op, 5, "Preparing your desktop.")
	pod, err := m.createObjects(op, spec)
	if err != nil && m.shuttingDown(op) {
		m.abandon(op, log)
		return
	}
	if err != nil {
		var fail *failure
		if !errors.As(err, &fail) {
			fail = &failure{reason: ReasonKubernetes, message: "Kubernetes refused to start the session: " + err.Error()}
		}
		if errors.Is(err, context.Canceled) || errors.Is(context.Cause(op.ctx), errStopRequested) {
			fail = &failure{reason: ReasonCancelled, message: "The spawn was cancelled by a stop request."}
		}
		m.failSpawn(op, log, fail, pod != nil)
		return
	}
	m.waitReady(op, log)
}

// failure is a spawn's end, in the words shown to the person.
type failure struct {
	reason  string
	message string
}

func (f *failure) Error() string { return f.message }

// step records a progress message. percent only ever grows.
func (m *Manager) step(op *operation, percent int, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	op.percent = max(op.percent, percent)
	if op.session.op == op {
		op.session.message = msg
	}
	op.log.Append(progress.Event{Kind: progress.KindProgress, Progress: op.percent, Message: msg})
}

// waitReady follows the pod through the informer cache until it is ready,
// fails, or the operation ends. It wakes on pod and Event changes, and on
// timers for the slow-spawn notice and the unschedulable grace.
func (m *Manager) waitReady(op *operation, log *slog.Logger) {
	s := op.session
	slow := time.NewTimer(m.cfg.SlowSpawnNotice)
	defer slow.Stop()
	var unschedulable <-chan time.Time
	var unschedTimer *time.Timer
	defer func() {
		if unschedTimer != nil {
			unschedTimer.Stop()
		}
	}()
	seen := op.kind == opResume
	lastWaiting := ""
	for {
		pod, ok := m.cachedPod(s.names.Pod)
		switch {
		case ok && (op.podUID == "" || pod.UID == op.podUID):
			seen = true
			if pod.DeletionTimestamp != nil {
				m.failSpawn(op, log, &failure{reason: ReasonPodDeleted, message: "The desktop pod was deleted before it was ready."}, false)
				return
			}
			st := assess(pod)
			if st.ready {
				m.succeed(op, log, st.url)
				return
			}
			if st.failed {
				m.failSpawn(op, log, &failure{reason: st.reason, message: st.message}, true)
				return
			}
			if st.unschedulable && unschedTimer == nil {
				unschedTimer = time.NewTimer(m.cfg.UnschedulableGrace)
				unschedulable = unschedTimer.C
			}
			if st.waiting != "" && st.waiting != lastWaiting {
				lastWaiting = st.waiting
				m.step(op, 0, st.waiting)
			}
		case seen || m.podGone(op):
			m.failSpawn(op, log, &failure{reason: ReasonPodDeleted, message: "The desktop pod was deleted before it was ready."}, false)
			return
		}

		select {
		case <-op.ctx.Done():
			if m.shuttingDown(op) {
				m.abandon(op, log)
				return
			}
			if errors.Is(context.Cause(op.ctx), errStopRequested) {
				m.failSpawn(op, log, &failure{reason: ReasonCancelled, message: "The spawn was cancelled by a stop request."}, false)
			} else {
				m.failSpawn(op, log, timedOut(op, lastWaiting), true)
			}
			return
		case <-op.wake:
		case <-slow.C:
			m.step(op, 0, "Still starting. Large images and new nodes can take a few minutes; thank you for waiting.")
		case <-unschedulable:
			m.mu.Lock()
			scaleUp := op.scaleUp
			m.mu.Unlock()
			if !scaleUp {
				m.failSpawn(op, log, &failure{reason: ReasonUnschedulable, message: "No node in the cluster can run this session: " + lastWaiting}, true)
				return
			}
			unschedulable = nil
		}
	}
}

// timedOut is the failure of a spawn that ran out of time, with what it
// was waiting for when it did.
func timedOut(op *operation, waiting string) *failure {
	return &failure{reason: ReasonTimeout, message: strings.TrimSpace(
		fmt.Sprintf("The desktop was not ready within %s. %s", op.timeout.Round(time.Second), waiting))}
}

// podGone reports whether the informer saw the operation's pod deleted.
func (m *Manager) podGone(op *operation) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return op.podUID != "" && op.gone[op.podUID]
}

func (m *Manager) succeed(op *operation, log *slog.Logger, url string) {
	elapsed := time.Since(op.started)
	m.metrics.SpawnDuration.WithLabelValues(op.session.profile, "ready").Observe(elapsed.Seconds())
	log.Info("Session ready", "url", url, "elapsed", elapsed.Round(time.Millisecond))
	const ready = "Your desktop is ready."
	m.finish(op, nil, &progress.Event{Kind: progress.KindReady, Progress: 100, Message: ready, URL: url}, func(s *session) {
		s.status = StatusRunning
		s.url = url
		s.ready = time.Now()
		s.message = ready
	})
}

// failSpawn ends a spawn. With cleanup, the pod is deleted right away so a
// failed spawn leaves nothing running; a cancelled spawn leaves that to the
// stop that cancelled it.
func (m *Manager) failSpawn(op *operation, log *slog.Logger, f *failure, cleanup bool) {
	s := op.session
	outcome := "failed"
	if f.reason == ReasonCancelled {
		outcome = "cancelled"
	} else {
		m.metrics.SpawnFailures.WithLabelValues(f.reason).Inc()
	}
	m.metrics.SpawnDuration.WithLabelValues(s.profile, outcome).Observe(time.Since(op.started).Seconds())
	log.Warn("Spawn failed", "reason", f.reason, "message", f.message, "elapsed", time.Since(op.started).Round(time.Millisecond))
	if cleanup {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopTimeout)
		if err := withRetry(ctx, func(ctx context.Context) error { return m.deleteOwnPod(ctx, s.names, 0) }); err != nil {
			log.Error("Delete failed pod", "err", err)
		}
		cancel()
	}
	// A failed spawn is over: nothing may resume it.
	m.dropIntent(s)
	m.finish(op, f, &progress.Event{Kind: progress.KindFailed, Message: f.message, Reason: f.reason}, func(s *session) {
		s.status = StatusFailed
		s.reason = f.reason
		s.message = f.message
	})
}
