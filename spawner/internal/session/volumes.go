package session

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// Deleting a server for good (JupyterHub's Spawner.delete_forever, which the
// hub calls when it deletes a user, once per server, and when it removes a
// named server): the server's home PVC goes, as KubeSpawner's delete_pvc
// does. Every server has a home of its own ("claim-<user>" for the default
// server, "claim-<user>--<server>" for a named one, podspec.NewNames), so
// removing a named server never touches the user's default home; deleting
// the user removes them all, one call per server.

// CodeRunning refuses to delete the volumes of a server that still runs or
// is on its way (a spawn or a stop in progress): its pod mounts them.
const CodeRunning = "running"

// DeleteVolumes deletes the home PVC of a server that no longer runs. It is
// idempotent: a server without one (never started, storage off, deleted
// before) succeeds. Only the server's own claim is deleted, read first and
// deleted with a UID precondition: a claim of that name whose annotations
// name another user or server (a name collision) is left alone, and so is an
// unannotated one under a hashed name (podspec.MayUseHome, the rule for
// mounting it). The claim is read from the API server, not the informer
// cache, which holds only the claims kubedesk labelled: a KubeSpawner home
// the service adopted has no such labels.
func (m *Manager) DeleteVolumes(ctx context.Context, key Key) error {
	m.mu.Lock()
	if !m.reconciled {
		m.mu.Unlock()
		return ErrNotReady
	}
	if s, ok := m.sessions[key]; ok && (s.op != nil || s.status == StatusPending || s.status == StatusRunning || s.status == StatusStopping) {
		m.mu.Unlock()
		return &Error{Code: CodeRunning, Message: "The server still runs (or is starting or stopping): stop it before deleting its home volume."}
	}
	m.mu.Unlock()

	names := podspec.NewNames(key.User, key.Server)
	log := m.log.With("user", key.User, "server", key.Server, "pvc", names.PVC)
	pvcs := m.client.CoreV1().PersistentVolumeClaims(m.cfg.Namespace)
	var deleted bool
	err := withRetry(ctx, func(ctx context.Context) error {
		pvc, err := pvcs.Get(ctx, names.PVC, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read home volume %s/%s: %w", m.cfg.Namespace, names.PVC, err)
		}
		if !podspec.MayUseHome(pvc, names) {
			log.Warn("Home volume under the server's name is not this server's; not deleted",
				"owner_user", pvc.Annotations[podspec.AnnotationUsername], "owner_server", pvc.Annotations[podspec.AnnotationServername])
			return nil
		}
		uid := pvc.UID
		err = pvcs.Delete(ctx, names.PVC, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete home volume %s/%s: %w", m.cfg.Namespace, names.PVC, err)
		}
		deleted = err == nil
		return nil
	})
	if err != nil {
		log.Error("Home volume not deleted", "err", err)
		return err
	}
	if deleted {
		m.metrics.VolumesDeleted.Inc()
		log.Info("Home volume deleted: the hub deleted the server for good")
	}
	return nil
}
