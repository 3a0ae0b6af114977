package session

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// The objects of a session and the order they are created in: that order
// is what keeps the hub's credentials from ever lying in the cluster
// without an owner, and every object found under a session's name is
// checked to be its own before it is used (ownership.go).

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
		// A copy, not maps.Clone: the clone of a nil environment is nil,
		// and the token could not be added to it.
		env = make(map[string]string, len(spec.Env)+1)
		maps.Copy(env, spec.Env)
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
