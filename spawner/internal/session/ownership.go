package session

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// CodeNameConflict refuses a spawn whose names are taken by another user's
// objects; ReasonNameConflict is the same as a spawn's failure reason, when
// the conflict shows only once the spawn is under way (a claim the informer
// does not cache, or a race with another spawn).
const (
	CodeNameConflict   = "name_conflict"
	ReasonNameConflict = "name_conflict"
)

// kindWords are the objects of a session in a user's words; the keys are
// the kind label of the name_conflicts_total metric.
var kindWords = map[string]string{
	"pvc":     "home volume",
	"pod":     "pod",
	"secret":  "Secret",
	"session": "pod",
	"intent":  "spawn record",
}

// conflict counts and logs a name taken by someone else's object and returns
// the refusal. The user's message names the problem but not the other user;
// the log, which only operators read, names both. annotations are those of
// the object found (nil for another session the service is running).
func (m *Manager) conflict(names podspec.Names, kind, objName string, annotations map[string]string, other *Key) *Error {
	m.metrics.NameConflicts.WithLabelValues(kind).Inc()
	attrs := []any{"user", names.User, "server", names.Server, "kind", kind, "name", objName}
	_, annotated := annotations[podspec.AnnotationUsername]
	switch {
	case other != nil:
		attrs = append(attrs, "owner_user", other.User, "owner_server", other.Server)
	case annotated:
		attrs = append(attrs, "owner_user", annotations[podspec.AnnotationUsername], "owner_server", annotations[podspec.AnnotationServername])
	}
	if other == nil && !annotated {
		m.log.Warn("Spawn refused: an object under the session's hashed name records no owner; annotate it with hub.jupyter.org/username (and hub.jupyter.org/servername for a named server) if it is this user's, or remove it", attrs...)
		return &Error{Code: CodeNameConflict, Message: fmt.Sprintf(
			"This server cannot start: its %s would be %s, and one of that name already exists that does not record its owner, so it could be another user's. "+
				"Nothing was used or changed. Please ask the operator to resolve this name conflict (the spawner service's log has the details).",
			kindWords[kind], objName)}
	}
	m.log.Warn("Spawn refused: an object under the session's name belongs to another user (their names map to the same Kubernetes name); nothing of theirs was touched", attrs...)
	return &Error{Code: CodeNameConflict, Message: fmt.Sprintf(
		"This server cannot start: its %s would be %s, and that name is already used by another user's session "+
			"(different JupyterHub user names can map to one Kubernetes name). Nothing of the other user's was used or changed. "+
			"Please ask the operator to resolve this name conflict (the spawner service's log has the details).",
		kindWords[kind], objName)}
}

// conflictFailure is conflict as a spawn's failure.
func (m *Manager) conflictFailure(names podspec.Names, kind, objName string, annotations map[string]string) *failure {
	e := m.conflict(names, kind, objName, annotations, nil)
	return &failure{reason: ReasonNameConflict, message: e.Message}
}

// deleteOwnPod deletes the session's pod, but only if it is the session's
// own: it reads the pod and deletes it with a UID precondition, so another
// user's pod under a colliding name is never deleted, not even one created
// between the read and the delete. A pod that is gone counts as deleted.
func (m *Manager) deleteOwnPod(ctx context.Context, names podspec.Names, grace time.Duration) error {
	pods := m.client.CoreV1().Pods(m.cfg.Namespace)
	pod, err := pods.Get(ctx, names.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pod %s/%s: %w", m.cfg.Namespace, names.Pod, err)
	}
	if podspec.OwnerOf(pod, names) != podspec.Owned {
		m.log.Warn("Pod under the session's name belongs to another user; not deleted", "user", names.User, "server", names.Server, "pod", pod.Name,
			"owner_user", pod.Annotations[podspec.AnnotationUsername], "owner_server", pod.Annotations[podspec.AnnotationServername])
		return nil
	}
	secs := int64(grace / time.Second)
	uid := pod.UID
	err = pods.Delete(ctx, names.Pod, metav1.DeleteOptions{GracePeriodSeconds: &secs, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", m.cfg.Namespace, names.Pod, err)
	}
	return nil
}

// ownPod is the cached pod under the session's name when it is the
// session's own; another user's pod under a colliding name counts as none.
func (m *Manager) ownPod(names podspec.Names) bool {
	pod, ok := m.cachedPod(names.Pod)
	return ok && podspec.OwnerOf(pod, names) == podspec.Owned
}
