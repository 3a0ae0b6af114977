package podspec

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HomePVC builds the home volume claim of a session (KubeSpawner's
// storage_pvc_ensure). It has no ownerReference on purpose: the home must
// outlive every pod that mounts it and is deleted only when the hub deletes
// the server for good. labels is usually StorageLabels(names). s must have
// passed Validate; a capacity that does not parse is left out.
func HomePVC(namespace string, names Names, s Settings, labels map[string]string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        names.PVC,
			Namespace:   namespace,
			Labels:      withExtra(labels, nil),
			Annotations: nameAnnotations(names),
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: append([]corev1.PersistentVolumeAccessMode(nil), s.StorageAccessModes...),
			// nil leaves the cluster's default class; "" asks for none.
			StorageClassName: copyPtr(s.StorageClass),
		},
	}
	if q, err := resource.ParseQuantity(s.StorageCapacity); s.StorageCapacity != "" && err == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: q}
	}
	return pvc
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return ptrTo(*p)
}
