package session

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// Stopping a server: the one operation that interrupts another (it cancels
// a spawn in flight and waits for it) and the one that deletes. It deletes
// only the session's own pod, read back first (ownership.go); the hub env
// Secret goes with the pod, and the intent once the pod is gone.

// Stop stops a server and returns when its pod is gone or ctx ends. It is
// idempotent: stopping an unknown server succeeds. A spawn in progress is
// cancelled first; a stop in progress is joined.
func (m *Manager) Stop(ctx context.Context, key Key) error {
	m.mu.Lock()
	if !m.reconciled {
		m.mu.Unlock()
		return ErrNotReady
	}
	if m.closing {
		m.mu.Unlock()
		return errShuttingDown
	}
	s, ok := m.sessions[key]
	if !ok {
		m.mu.Unlock()
		return nil
	}
	op := s.op
	if op == nil || op.kind != opStop {
		spawn := op
		op = m.newOp(s, opStop, m.cfg.StopTimeout)
		s.status = StatusStopping
		s.message = "Stopping your desktop."
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.runStop(op, spawn)
		}()
	}
	m.mu.Unlock()

	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		return fmt.Errorf("wait for the server to stop: %w", ctx.Err())
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
		msg := "The desktop could not be stopped: " + err.Error()
		m.finish(op, err, &progress.Event{Kind: progress.KindFailed, Message: msg, Reason: ReasonKubernetes}, func(s *session) {
			s.status = StatusFailed
			s.reason = ReasonKubernetes
			s.message = msg
		})
		return
	}
	m.dropIntent(s)
	m.metrics.StopDuration.Observe(time.Since(op.started).Seconds())
	log.Info("Session stopped", "elapsed", time.Since(op.started).Round(time.Millisecond))
	const stopped = "Your desktop is stopped."
	m.finish(op, nil, &progress.Event{Kind: progress.KindFailed, Message: stopped, Reason: "stopped"}, func(s *session) {
		s.status = StatusStopped
		s.message = stopped
		m.forget(s)
	})
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

// deletePod deletes a session pod. The hub env Secret goes with it through
// its ownerReference; the home PVC stays.
func (m *Manager) deletePod(ctx context.Context, name string, grace time.Duration) error {
	secs := int64(grace / time.Second)
	err := m.client.CoreV1().Pods(m.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &secs})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", m.cfg.Namespace, name, err)
	}
	return nil
}
