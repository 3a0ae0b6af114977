package podspec

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HubEnvSecret builds the Secret that holds the hub's environment for one
// session: JUPYTERHUB_API_TOKEN, the OAuth client, the service prefix and the
// rest of Spawner.get_env, plus SessionTokenKey when the service has minted a
// session token. This Secret is the only place these values live; the pod
// takes them through envFrom, and no annotation, ConfigMap or pod field holds
// them (checklist item 5).
//
// owner is the created session pod (it must carry its UID). The
// ownerReference makes Kubernetes' garbage collector delete the Secret with
// the pod, so a stopped session leaves no credentials behind. Creating the pod
// first is safe because the kubelet waits for a Secret that envFrom needs;
// a nil owner leaves the reference out (for previews such as dry runs).
//
// The Secret stays mutable so the service can renew the session token in
// place; the kubelet then refreshes the mounted token file.
func HubEnvSecret(namespace string, names Names, owner *corev1.Pod, env map[string]string, labels map[string]string) *corev1.Secret {
	data := make(map[string][]byte, len(env))
	for k, v := range env {
		data[k] = []byte(v)
	}
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        names.Secret,
			Namespace:   namespace,
			Labels:      withExtra(labels, nil),
			Annotations: nameAnnotations(names),
		},
		Type: corev1.SecretTypeOpaque,
		// Data rather than stringData: it is what the API stores and
		// returns, so a fake clientset and a real one read back the same.
		Data: data,
	}
	if owner != nil {
		secret.OwnerReferences = []metav1.OwnerReference{ownerRef(owner)}
	}
	return secret
}

// ownerRef makes owner the controller of a dependent object. Setting
// blockOwnerDeletion lets a foreground delete of the pod wait for it; where
// the OwnerReferencesPermissionEnforcement admission plugin is on, it needs
// permission to update pods/finalizers.
func ownerRef(owner *corev1.Pod) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         "v1",
		Kind:               "Pod",
		Name:               owner.Name,
		UID:                owner.UID,
		Controller:         ptrTo(true),
		BlockOwnerDeletion: ptrTo(true),
	}
}
