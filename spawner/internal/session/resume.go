package session

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// What a restarted service does before it answers anyone: it rebuilds every
// session from the pods' annotations and the spawn intents, and resumes the
// spawns still under way, so that a restart loses nothing the hub was told.

// reconcile rebuilds the sessions from the session pods in the informer
// cache and from the spawn intents, so every spawn a previous run
// acknowledged is known before the service answers anyone. It deletes
// nothing that is running or starting: a pod the hub may still own is never
// the service's to remove.
func (m *Manager) reconcile(ctx context.Context) error {
	pods, err := m.pods.Pods(m.cfg.Namespace).List(labels.Everything())
	if err != nil {
		m.log.Error("List cached pods", "err", err) // a lister cannot fail
	}
	leases, err := m.listIntents(ctx)
	if err != nil {
		return fmt.Errorf("list spawn intents: %w", err)
	}
	intents, stale := currentIntents(leases, m.log)
	counts := map[Status]int{}
	m.mu.Lock()
	for _, pod := range pods {
		user, hasUser := pod.Annotations[podspec.AnnotationUsername]
		if !hasUser {
			m.log.Warn("Session pod without user annotation", "pod", pod.Name)
			continue
		}
		key := Key{User: user, Server: pod.Annotations[podspec.AnnotationServername]}
		intent := intents[key]
		delete(intents, key)
		if intent != nil && !intentOf(intent, pod) {
			stale, intent = append(stale, intent.Name), nil
		}
		s := m.rebuildFromPod(key, pod, intent)
		counts[s.status]++
	}
	for key, intent := range intents {
		if len(intent.OwnerReferences) > 0 {
			// Its pod was created and is gone: the session ended.
			stale = append(stale, intent.Name)
			continue
		}
		if s := m.rebuildFromIntent(key, intent); s != nil {
			counts[s.status]++
		}
	}
	m.reconciled = true
	m.mu.Unlock()

	// Ended pods are deleted once the sessions are rebuilt; their records
	// keep the exit code for the hub's next poll.
	for _, pod := range pods {
		if assess(pod).ended && pod.DeletionTimestamp == nil {
			if err := m.deletePod(ctx, pod.Name, 0); err != nil {
				m.log.Error("Delete ended pod", "pod", pod.Name, "err", err)
			}
		}
	}
	for _, name := range stale {
		m.deleteIntent(name)
	}
	m.metrics.ReconcileRounds.Inc()
	m.log.Info("Sessions rebuilt from the cluster", "running", counts[StatusRunning], "pending", counts[StatusPending],
		"stopping", counts[StatusStopping], "ended", counts[StatusStopped]+counts[StatusFailed], "stale_intents", len(stale))
	return nil
}

// intentOf reports whether an intent belongs to pod: it names the pod and,
// once adopted, is owned by this very pod (not an earlier one of the name).
func intentOf(intent *coordinationv1.Lease, pod *corev1.Pod) bool {
	if intent.Annotations[podspec.AnnotationPod] != pod.Name {
		return false
	}
	for _, ref := range intent.OwnerReferences {
		if ref.UID != pod.UID {
			return false
		}
	}
	return true
}

// rebuildFromPod records the session of a pod and resumes what it was
// doing. Callers hold m.mu.
func (m *Manager) rebuildFromPod(key Key, pod *corev1.Pod, intent *coordinationv1.Lease) *session {
	names := podspec.NewNames(key.User, key.Server)
	// Keep the name the pod has: naming rules may change between
	// versions, and the running pod is the truth.
	names.Pod, names.Secret = pod.Name, pod.Name
	s := &session{key: key, names: names, profile: pod.Annotations[podspec.AnnotationProfile], started: pod.CreationTimestamp.Time}
	if intent != nil {
		s.intent, s.request = intent.Name, intent.Annotations[podspec.AnnotationRequest]
	}
	m.sessions[key] = s
	m.byPod[pod.Name] = s

	st := assess(pod)
	switch {
	case pod.DeletionTimestamp != nil:
		s.status, s.message = StatusStopping, "Stopping your desktop."
		op := m.newOp(s, opStop, m.cfg.StopTimeout)
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.runStop(op, nil) }()
	case st.ended:
		s.status, s.message, s.reason = StatusStopped, st.ending, ReasonExited
		if st.exitCode != 0 {
			s.status = StatusFailed
		}
		code := st.exitCode
		s.exitCode = &code
	case st.ready:
		s.status, s.url, s.message = StatusRunning, st.url, "Your desktop is ready."
		s.ready = readySince(pod)
	default:
		s.status, s.message = StatusPending, "Starting your desktop."
		remaining := m.cfg.SpawnTimeout - time.Since(pod.CreationTimestamp.Time)
		op := m.newOp(s, opResume, max(remaining, 10*time.Second))
		op.timeout = m.cfg.SpawnTimeout
		op.started = pod.CreationTimestamp.Time
		op.podUID = pod.UID
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.runResume(op, intent) }()
	}
	return s
}

// rebuildFromIntent records an acknowledged spawn whose pod was never
// created and carries it out under the pod name its intent recorded.
// Callers hold m.mu.
func (m *Manager) rebuildFromIntent(key Key, intent *coordinationv1.Lease) *session {
	names := podspec.NewNames(key.User, key.Server)
	names.Pod, names.Secret = intent.Annotations[podspec.AnnotationPod], intent.Annotations[podspec.AnnotationPod]
	if other := m.byPod[names.Pod]; other != nil {
		m.log.Warn("Spawn intent names a pod another session holds; not resumed", "intent", intent.Name,
			"user", key.User, "server", key.Server, "owner_user", other.key.User, "owner_server", other.key.Server)
		return nil
	}
	s := &session{key: key, names: names, profile: intent.Annotations[podspec.AnnotationProfile], intent: intent.Name,
		request: intent.Annotations[podspec.AnnotationRequest], status: StatusPending, started: intent.CreationTimestamp.Time,
		message: "Starting your desktop."}
	m.sessions[key] = s
	m.byPod[names.Pod] = s
	remaining := m.cfg.SpawnTimeout - time.Since(intent.CreationTimestamp.Time)
	op := m.newOp(s, opSpawn, max(remaining, 10*time.Second))
	op.timeout = m.cfg.SpawnTimeout
	op.started = intent.CreationTimestamp.Time
	// A request that asks again for this spawn waits until its record is
	// read: an intent without one is no spawn, and must not be answered as
	// one (runResumeIntent).
	op.saved = make(chan struct{})
	m.wg.Add(1)
	go func() { defer m.wg.Done(); m.runResumeIntent(op, intent) }()
	return s
}

func readySince(pod *corev1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Now()
}

// runResume picks up a spawn that a previous run of the service started and
// whose pod exists. With the spawn's intent on record, a hub-environment
// Secret the previous run did not write yet is written now; without one
// (a spawn of a version that wrote no intents) it cannot be, and the spawn
// fails with a sentence.
func (m *Manager) runResume(op *operation, intent *coordinationv1.Lease) {
	s := op.session
	log := m.log.With("user", s.key.User, "server", s.key.Server, "pod", s.names.Pod, "profile", s.profile)
	log.Info("Spawn resumed after a restart", "from", "pod")
	m.metrics.SpawnsResumed.WithLabelValues("pod").Inc()
	m.step(op, 20, "The spawner service restarted while your desktop was starting; still waiting for it.")
	// The intent's record holds the hub's deadline, and what goes into a
	// hub env Secret the previous run did not write yet.
	var spec Spec
	var specErr error
	if intent != nil {
		if spec, specErr = m.loadIntent(op.ctx, intent); specErr == nil {
			defer m.keepDeadline(op, spec)()
		}
	}
	err := withRetry(op.ctx, func(ctx context.Context) error {
		_, err := m.client.CoreV1().Secrets(m.cfg.Namespace).Get(ctx, s.names.Secret, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) && intent != nil {
		err = specErr
		if err == nil {
			err = m.finishObjects(op, intent.Name, spec)
		}
	}
	if apierrors.IsNotFound(err) {
		m.failSpawn(op, log, &failure{reason: ReasonLost, message: "The spawner service restarted before your session's settings were saved; please start it again."}, true)
		return
	}
	if err != nil {
		log.Warn("Check hub env secret", "err", err)
	}
	m.waitReady(op, log)
}

// finishObjects writes what a spawn resumed with its pod still lacks: the
// pod's ownership of the intent and the hub-environment Secret.
func (m *Manager) finishObjects(op *operation, intent string, spec Spec) error {
	s := op.session
	pod, ok := m.cachedPod(s.names.Pod)
	if !ok {
		return fmt.Errorf("pod %s is gone", s.names.Pod)
	}
	if err := m.adoptIntent(op.ctx, intent, pod); err != nil {
		return err
	}
	return m.createHubSecret(op.ctx, s, pod, spec)
}

// runResumeIntent carries out a spawn that a previous run of the service
// acknowledged but had not created the pod of: from its intent, under the
// same names.
func (m *Manager) runResumeIntent(op *operation, intent *coordinationv1.Lease) {
	s := op.session
	log := m.log.With("user", s.key.User, "server", s.key.Server, "pod", s.names.Pod, "profile", s.profile)
	spec, err := m.loadIntent(op.ctx, intent)
	if apierrors.IsNotFound(err) {
		// The Lease is written first: one without its Secret is a spawn
		// that was never acknowledged.
		log.Info("Spawn intent without its record; the spawn was never acknowledged", "intent", intent.Name)
		m.deleteIntent(intent.Name)
		// The hub may have asked again meanwhile (the same request, after
		// the dead run's answer never came): it hears "ask again", and
		// then finds the server free, as after refuse.
		op.saveErr = &Error{Code: CodeUnavailable, Message: "The spawner service restarted while it was recording this spawn; try again in a moment."}
		m.finish(op, op.saveErr, nil, func(s *session) { m.forget(s) })
		close(op.saved)
		return
	}
	close(op.saved)
	if err != nil {
		if m.shuttingDown(op) {
			m.abandon(op, log)
			return
		}
		m.failSpawn(op, log, &failure{reason: ReasonKubernetes, message: "The spawn could not be resumed after the service restarted: " + err.Error()}, false)
		return
	}
	log.Info("Spawn resumed after a restart", "from", "intent")
	m.metrics.SpawnsResumed.WithLabelValues("intent").Inc()
	defer m.keepDeadline(op, spec)()
	if op.ctx.Err() != nil {
		// The hub's deadline passed while the service was down: the hub
		// has given up on this spawn, so nothing is created for it.
		m.failSpawn(op, log, timedOut(op, ""), false)
		return
	}
	m.step(op, 2, "The spawner service restarted before your desktop was created; creating it now.")
	m.build(op, spec, log)
}

// keepDeadline bounds a resumed spawn by the hub's deadline that its
// intent recorded (Spec.Deadline), as the spawn was bounded before the
// restart: the hub stops waiting then, and should hear the reason from the
// service rather than its own timeout. The rebuild cannot apply it, the
// deadline being in the record that the operation reads; only the
// operation's own goroutine uses op.ctx, so it may replace it. release
// frees the deadline's timer.
func (m *Manager) keepDeadline(op *operation, spec Spec) (release context.CancelFunc) {
	timeout := m.spawnTimeout(spec)
	if timeout >= op.timeout {
		return func() {}
	}
	op.timeout = timeout
	var ctx context.Context
	ctx, release = context.WithDeadlineCause(op.ctx, op.started.Add(timeout), errDeadline)
	op.ctx = ctx
	return release
}
