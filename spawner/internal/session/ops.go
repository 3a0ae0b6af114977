package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// apiBackoff retries one Kubernetes request through a hiccup of the API
// server (about 10 s in all), within the operation's own deadline.
var apiBackoff = wait.Backoff{Steps: 6, Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2}

// transient reports whether a failed request may succeed when repeated: a
// connection that broke (the API server restarting) or a 429/5xx answer.
func transient(err error) bool {
	var f *failure
	if err == nil || errors.As(err, &f) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err)
}

func withRetry(ctx context.Context, fn func(context.Context) error) error {
	return retry.OnError(apiBackoff, func(err error) bool { return ctx.Err() == nil && transient(err) }, func() error {
		return fn(ctx)
	})
}

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
	close(op.saved)
	m.finish(op, op.saveErr, func(s *session) { m.forget(s) })
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

// createObjects creates the home PVC (if missing), the pod, and then the
// hub-environment Secret owned by the pod. The pod goes first so that the
// Secret can carry an ownerReference from birth: no window exists in which a
// crash of the service would leave a Secret with the hub's token and no
// owner. (The kubelet waits for a Secret that a pod mounts.)
func (m *Manager) createObjects(op *operation, spec Spec) (*corev1.Pod, error) {
	s := op.session
	ns := m.cfg.Namespace
	core := m.client.CoreV1()

	if spec.Settings.StorageEnsured() {
		pvc := podspec.HomePVC(ns, s.names, spec.Settings, podspec.StorageLabels(s.names))
		if cached, err := m.pvcs.PersistentVolumeClaims(ns).Get(pvc.Name); err == nil {
			if !podspec.MayUseHome(cached, s.names) {
				return nil, m.conflictFailure(s.names, "pvc", cached.Name, cached.Annotations)
			}
		} else {
			err := withRetry(op.ctx, func(ctx context.Context) error {
				_, err := core.PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{})
				if !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
					return err
				}
				// The claim exists (a storage quota forbids creation even
				// when it does; only its absence is a failure, KubeSpawner's
				// lesson). It is mounted only if it is this user's.
				current, getErr := core.PersistentVolumeClaims(ns).Get(ctx, pvc.Name, metav1.GetOptions{})
				switch {
				case getErr == nil && !podspec.MayUseHome(current, s.names):
					return m.conflictFailure(s.names, "pvc", current.Name, current.Annotations)
				case getErr == nil:
					return nil
				case apierrors.IsForbidden(err):
					return &failure{reason: ReasonConfig, message: "The home directory could not be created: " + firstSentence(err.Error())}
				}
				return getErr
			})
			if err != nil {
				return nil, fmt.Errorf("create home volume %s: %w", pvc.Name, err)
			}
		}
		m.step(op, 10, "Your home directory is ready.")
	}

	podObj := podspec.Pod(podspec.PodInput{
		Namespace:     ns,
		Names:         s.names,
		Profile:       spec.Profile,
		Settings:      spec.Settings,
		ServicePrefix: spec.Env["JUPYTERHUB_SERVICE_PREFIX"],
		ServiceURL:    m.cfg.ServiceURL,
		ServiceCA:     m.cfg.ServiceCA,
	})
	var pod *corev1.Pod
	err := withRetry(op.ctx, func(ctx context.Context) error {
		var err error
		pod, err = core.Pods(ns).Create(ctx, podObj, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			if current, getErr := core.Pods(ns).Get(ctx, podObj.Name, metav1.GetOptions{}); getErr == nil && podspec.OwnerOf(current, s.names) != podspec.Owned {
				return m.conflictFailure(s.names, "pod", current.Name, current.Annotations)
			}
			return &failure{reason: ReasonKubernetes, message: fmt.Sprintf("A pod named %s already exists; stop the server and start it again.", podObj.Name)}
		}
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return &failure{reason: ReasonConfig, message: "Kubernetes rejected the session's pod: " + firstSentence(err.Error())}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", ns, podObj.Name, err)
	}
	m.mu.Lock()
	op.podUID = pod.UID
	m.mu.Unlock()
	m.step(op, 20, "Kubernetes accepted the desktop pod; waiting for a node.")

	if s.intent != "" {
		if err := m.adoptIntent(op.ctx, s.intent, pod); err != nil {
			return pod, fmt.Errorf("record the pod in the spawn intent: %w", err)
		}
	}
	return pod, m.createHubSecret(op.ctx, s, pod, spec)
}

// createHubSecret writes the hub-environment Secret of a created pod.
func (m *Manager) createHubSecret(ctx context.Context, s *session, pod *corev1.Pod, spec Spec) error {
	ns := m.cfg.Namespace
	core := m.client.CoreV1()
	env := spec.Env
	if m.cfg.Tokens != nil {
		// The token names the pod's UID, so it is minted now that the pod
		// exists, and it dies with the pod.
		token, err := m.cfg.Tokens.Mint(s.key.User, s.key.Server, string(pod.UID))
		if err != nil {
			return fmt.Errorf("mint session token: %w", err)
		}
		env = maps.Clone(spec.Env)
		env[podspec.SessionTokenKey] = token
	}
	secret := podspec.HubEnvSecret(ns, s.names, pod, env, podspec.Labels(s.names, spec.Profile))
	err := withRetry(ctx, func(ctx context.Context) error {
		_, err := core.Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// The Secret of the previous pod of this name, which the
			// garbage collector has not removed yet: take it over.
			current, getErr := core.Secrets(ns).Get(ctx, secret.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if podspec.OwnerOf(current, s.names) != podspec.Owned {
				// Another user's credentials: never read into, never
				// overwritten.
				return m.conflictFailure(s.names, "secret", current.Name, current.Annotations)
			}
			secret.ResourceVersion = current.ResourceVersion
			_, err = core.Secrets(ns).Update(ctx, secret, metav1.UpdateOptions{})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create secret %s/%s: %w", ns, secret.Name, err)
	}
	return nil
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
		case seen:
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
				m.failSpawn(op, log, &failure{reason: ReasonTimeout, message: fmt.Sprintf("The desktop was not ready within %s. %s", op.timeout.Round(time.Second), lastWaiting)}, true)
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

// abandon ends an operation at shutdown without touching the session or the
// cluster: the next run of the service finds the pod and resumes.
func (m *Manager) abandon(op *operation, log *slog.Logger) {
	log.Info("Operation left for the next run of the service")
	m.finish(op, errShuttingDown, func(*session) {})
}

func (m *Manager) succeed(op *operation, log *slog.Logger, url string) {
	elapsed := time.Since(op.started)
	m.metrics.SpawnDuration.WithLabelValues(op.session.profile, "ready").Observe(elapsed.Seconds())
	log.Info("Session ready", "url", url, "elapsed", elapsed.Round(time.Millisecond))
	m.finish(op, nil, func(s *session) {
		s.status = StatusRunning
		s.url = url
		s.ready = time.Now()
		s.message = "Your desktop is ready."
		op.log.Append(progress.Event{Kind: progress.KindReady, Progress: 100, Message: s.message, URL: url})
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
	m.finish(op, f, func(s *session) {
		s.status = StatusFailed
		s.reason = f.reason
		s.message = f.message
		op.log.Append(progress.Event{Kind: progress.KindFailed, Message: f.message, Reason: f.reason})
	})
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
	err := withRetry(op.ctx, func(ctx context.Context) error {
		_, err := m.client.CoreV1().Secrets(m.cfg.Namespace).Get(ctx, s.names.Secret, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) && intent != nil {
		err = m.finishObjects(op, intent)
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
func (m *Manager) finishObjects(op *operation, intent *coordinationv1.Lease) error {
	s := op.session
	pod, ok := m.cachedPod(s.names.Pod)
	if !ok {
		return fmt.Errorf("pod %s is gone", s.names.Pod)
	}
	spec, err := m.loadIntent(op.ctx, intent)
	if err != nil {
		return err
	}
	if err := m.adoptIntent(op.ctx, intent.Name, pod); err != nil {
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
		m.finish(op, nil, func(s *session) { m.forget(s) })
		return
	}
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
	m.step(op, 2, "The spawner service restarted before your desktop was created; creating it now.")
	m.build(op, spec, log)
}

// dropIntent deletes the session's intent, if it has one on record.
func (m *Manager) dropIntent(s *session) {
	m.mu.Lock()
	name := s.intent
	s.intent = ""
	m.mu.Unlock()
	if name != "" {
		m.deleteIntent(name)
	}
}

func (m *Manager) runStop(op *operation, spawn *operation) {
	s := op.session
	log := m.log.With("user", s.key.User, "server", s.key.Server, "pod", s.names.Pod)
	if spawn != nil {
		spawn.cancel(errStopRequested)
		<-spawn.done
	}
	op.log.Append(progress.Event{Kind: progress.KindProgress, Message: "Stopping your desktop."})
	err := withRetry(op.ctx, func(ctx context.Context) error { return m.deleteOwnPod(ctx, s.names, m.cfg.DeleteGracePeriod) })
	for err == nil {
		if !m.ownPod(s.names) {
			break
		}
		select {
		case <-op.ctx.Done():
			if m.shuttingDown(op) {
				m.abandon(op, log)
				return
			}
			err = fmt.Errorf("pod %s still exists after %s", s.names.Pod, m.cfg.StopTimeout)
		case <-op.wake:
		}
	}
	if err != nil {
		log.Error("Stop failed", "err", err)
		m.finish(op, err, func(s *session) {
			s.status = StatusFailed
			s.reason = ReasonKubernetes
			s.message = "The desktop could not be stopped: " + err.Error()
			op.log.Append(progress.Event{Kind: progress.KindFailed, Message: s.message, Reason: s.reason})
		})
		return
	}
	m.dropIntent(s)
	m.metrics.StopDuration.Observe(time.Since(op.started).Seconds())
	log.Info("Session stopped", "elapsed", time.Since(op.started).Round(time.Millisecond))
	m.finish(op, nil, func(s *session) {
		s.status = StatusStopped
		s.message = "Your desktop is stopped."
		op.log.Append(progress.Event{Kind: progress.KindFailed, Message: s.message, Reason: "stopped"})
		m.forget(s)
	})
}

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
		s.status, s.reason, s.message = StatusStopped, ReasonExited, st.message
		if code != 0 {
			s.status = StatusFailed
		}
		// KubeSpawner's delete_stopped_pods: an ended pod holds the node's
		// resources and its name until it is deleted.
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
		s.status, s.message, s.reason = StatusStopped, st.message, ReasonExited
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
