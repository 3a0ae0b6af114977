package session

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// intentRecord is what an intent's Secret holds: everything a restarted
// service needs to carry out the spawn it acknowledged, resolved as it was
// then (a profile changed since does not change an acknowledged spawn).
type intentRecord struct {
	Pod      string            `json:"pod"`
	Profile  string            `json:"profile"`
	Settings podspec.Settings  `json:"settings"`
	Env      map[string]string `json:"env"`
	Deadline time.Duration     `json:"deadline,omitempty"`
}

// saveIntent writes the spawn's intent (podspec.IntentLease and
// IntentSecret) before the spawn is acknowledged. A repeated request finds
// the intent it wrote before and keeps it; an object of the intent's name
// that is another user's refuses the spawn, like any object found under a
// session's name (podspec.OwnerOf).
func (m *Manager) saveIntent(op *operation, spec Spec) error {
	s := op.session
	ns := m.cfg.Namespace
	name := podspec.IntentName(s.names, spec.Request)
	record, err := json.Marshal(intentRecord{Pod: s.names.Pod, Profile: spec.Profile, Settings: spec.Settings, Env: spec.Env, Deadline: spec.Deadline})
	if err != nil {
		return fmt.Errorf("encode intent: %w", err)
	}
	leases := m.client.CoordinationV1().Leases(ns)
	var lease *coordinationv1.Lease
	err = withRetry(op.ctx, func(ctx context.Context) error {
		var err error
		lease, err = leases.Create(ctx, podspec.IntentLease(ns, name, s.names, spec.Profile, spec.Request), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			lease, err = leases.Get(ctx, name, metav1.GetOptions{})
			if err == nil && podspec.OwnerOf(lease, s.names) != podspec.Owned {
				return m.conflictFailure(s.names, "intent", name, lease.Annotations)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create lease %s/%s: %w", ns, name, err)
	}
	secrets := m.client.CoreV1().Secrets(ns)
	secret := podspec.IntentSecret(lease, s.names, record)
	ours := false // a Secret of the name is known to be this user's
	err = withRetry(op.ctx, func(ctx context.Context) error {
		_, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		current, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if podspec.OwnerOf(current, s.names) != podspec.Owned {
			return m.conflictFailure(s.names, "secret", name, current.Annotations)
		}
		ours = true
		secret.ResourceVersion = current.ResourceVersion
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		// Without its record the Lease is no intent; the spawn is refused,
		// so nothing may resume it. The Secret of the name goes too only if
		// it is known to be this user's: another user's is never deleted,
		// and one of this spawn's that a lost answer hid is owned by the
		// Lease, so the garbage collector removes it with the Lease.
		m.removeIntent(name, ours)
		return fmt.Errorf("create secret %s/%s: %w", ns, name, err)
	}
	m.mu.Lock()
	s.intent = name
	m.mu.Unlock()
	return nil
}

// loadIntent reads an intent's record back as the spec it was made from.
func (m *Manager) loadIntent(ctx context.Context, lease *coordinationv1.Lease) (Spec, error) {
	var data []byte
	err := withRetry(ctx, func(ctx context.Context) error {
		secret, err := m.client.CoreV1().Secrets(m.cfg.Namespace).Get(ctx, lease.Name, metav1.GetOptions{})
		if err == nil {
			data = secret.Data[podspec.IntentKey]
		}
		return err
	})
	if err != nil {
		return Spec{}, err
	}
	var rec intentRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return Spec{}, fmt.Errorf("decode intent %s: %w", lease.Name, err)
	}
	return Spec{Profile: rec.Profile, Settings: rec.Settings, Env: rec.Env, Deadline: rec.Deadline,
		Request: lease.Annotations[podspec.AnnotationRequest]}, nil
}

// adoptIntent makes the session's pod the owner of its intent, so the
// garbage collector removes the intent with the pod however the session
// ends, and a restarted service knows the intent's pod was created.
func (m *Manager) adoptIntent(ctx context.Context, name string, pod *corev1.Pod) error {
	leases := m.client.CoordinationV1().Leases(m.cfg.Namespace)
	return withRetry(ctx, func(ctx context.Context) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			lease, err := leases.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, ref := range lease.OwnerReferences {
				if ref.UID == pod.UID {
					return nil
				}
			}
			podspec.OwnIntent(lease, pod)
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
			return err
		})
	})
}

// deleteIntent removes an intent, its Lease and its Secret (which the
// garbage collector would also remove with the Lease; deleting it here
// leaves no hub credentials behind for even a moment). It retries through
// an API server hiccup and gives up after StopTimeout: what is left then
// goes with the pod, or is removed by the next start.
func (m *Manager) deleteIntent(name string) { m.removeIntent(name, true) }

// removeIntent is deleteIntent that leaves the Secret to the garbage
// collector unless record is set.
func (m *Manager) removeIntent(name string, record bool) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopTimeout)
	defer cancel()
	ns := m.cfg.Namespace
	err := withRetry(ctx, func(ctx context.Context) error {
		if record {
			err := m.client.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		err := m.client.CoordinationV1().Leases(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		m.log.Error("Delete spawn intent", "intent", name, "err", err)
	}
}

// listIntents lists every intent, retrying until the API server answers or
// ctx ends: the service is not ready before it knows them all.
func (m *Manager) listIntents(ctx context.Context) ([]coordinationv1.Lease, error) {
	var items []coordinationv1.Lease
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := m.client.CoordinationV1().Leases(m.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: podspec.IntentSelector()})
		if err != nil {
			m.log.Warn("List spawn intents; retrying", "err", err)
			return false, nil
		}
		items = list.Items
		return true, nil
	})
	return items, err
}

// currentIntents picks each server's newest intent; older ones are
// leftovers of spawns that ended while their cleanup failed.
func currentIntents(leases []coordinationv1.Lease, log *slog.Logger) (current map[Key]*coordinationv1.Lease, stale []string) {
	sort.Slice(leases, func(i, j int) bool { return leases[i].CreationTimestamp.After(leases[j].CreationTimestamp.Time) })
	current = map[Key]*coordinationv1.Lease{}
	for i := range leases {
		l := &leases[i]
		user, ok := l.Annotations[podspec.AnnotationUsername]
		if !ok || l.Annotations[podspec.AnnotationPod] == "" {
			log.Warn("Spawn intent without user or pod annotation; ignored", "intent", l.Name)
			continue
		}
		key := Key{User: user, Server: l.Annotations[podspec.AnnotationServername]}
		if _, seen := current[key]; seen {
			stale = append(stale, l.Name)
			continue
		}
		current[key] = l
	}
	return current, stale
}
