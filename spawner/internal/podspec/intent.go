package podspec

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// A spawn's intent is what the service acknowledged with 202 before any pod
// exists: the user, the server, the resolved settings and the hub's
// environment. It is written to the API server before the answer, so a
// service killed right after it resumes the spawn from the cluster.
//
// It takes two objects of one name. The Secret holds the record (the hub's
// environment is credentials, so never a ConfigMap). The Lease, which holds
// nothing secret, is what a restarted service lists to find the intents: the
// service may not list Secrets (it could then read every Secret of the
// namespace in bulk). The Secret is owned by the Lease, and the Lease, once
// the pod exists, by the pod: the garbage collector removes an intent with
// its session however that ends, and a stop removes it at once.
const (
	// ComponentIntent is the component label of intents.
	ComponentIntent = "singleuser-spawn-intent"
	// AnnotationRequest is the digest of the spawn request an intent
	// records, which tells a retried request from a new one.
	AnnotationRequest = "kubedesk.dev/spawn-request"
	// AnnotationPod names the pod the intent's spawn creates.
	AnnotationPod = "kubedesk.dev/pod"
	// IntentKey is the Secret's key of the JSON record.
	IntentKey = "intent.json"
)

// IntentName is the name of the intent of one spawn request: the session's
// pod name and the request digest, so a repeated request finds its own
// intent and a new one never collides with the last one's.
func IntentName(names Names, request string) string {
	return names.Pod + "-spawn-" + request[:min(len(request), 10)]
}

// IntentSelector selects kubedesk's intents.
func IntentSelector() string {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy, LabelComponent: ComponentIntent}).String()
}

func intentMeta(namespace, name string, names Names, profile, request string) metav1.ObjectMeta {
	l := Labels(names, profile)
	l[LabelComponent], l[LabelAppComponent] = ComponentIntent, ComponentIntent
	a := podAnnotations(names, profile)
	a[AnnotationRequest] = request
	a[AnnotationPod] = names.Pod
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: l, Annotations: a}
}

// IntentLease is the listable half of an intent.
func IntentLease(namespace, name string, names Names, profile, request string) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: intentMeta(namespace, name, names, profile, request),
	}
}

// IntentSecret is the record of an intent, owned by its Lease (which must
// carry its UID).
func IntentSecret(lease *coordinationv1.Lease, names Names, record []byte) *corev1.Secret {
	meta := intentMeta(lease.Namespace, lease.Name, names, lease.Annotations[AnnotationProfile], lease.Annotations[AnnotationRequest])
	// No blockOwnerDeletion: that would need update on leases/finalizers,
	// and nothing waits for a foreground deletion of a Lease.
	meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Name: lease.Name, UID: lease.UID}}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta,
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{IntentKey: record},
	}
}

// OwnIntent makes the session pod the owner of an intent's Lease.
func OwnIntent(lease *coordinationv1.Lease, pod *corev1.Pod) {
	lease.OwnerReferences = []metav1.OwnerReference{ownerRef(pod)}
}
