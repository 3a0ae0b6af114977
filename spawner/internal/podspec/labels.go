package podspec

import (
	"maps"

	"k8s.io/apimachinery/pkg/labels"
)

// Label and annotation keys on everything kubedesk creates for a session. The
// hub.jupyter.org and component keys are KubeSpawner's, so dashboards,
// NetworkPolicies and cleanup scripts written for KubeSpawner still match.
const (
	LabelName         = "app.kubernetes.io/name"
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	LabelAppComponent = "app.kubernetes.io/component"
	LabelComponent    = "component"
	// LabelUsername and LabelServername hold slugs (label values are
	// restricted); the annotations of the same keys hold the raw names.
	LabelUsername   = "hub.jupyter.org/username"
	LabelServername = "hub.jupyter.org/servername"
	LabelProfile    = "kubedesk.dev/profile"

	AnnotationUsername   = "hub.jupyter.org/username"
	AnnotationServername = "hub.jupyter.org/servername"
	AnnotationProfile    = "kubedesk.dev/profile"

	// AppName and ManagedBy are the values of LabelName and LabelManagedBy.
	AppName   = "kubedesk"
	ManagedBy = "kubedesk"
	// ComponentSession marks session pods (KubeSpawner's component_label)
	// and ComponentStorage home PVCs (KubeSpawner's PVC component).
	ComponentSession = "singleuser-server"
	ComponentStorage = "singleuser-storage"
)

// managedLabelKeys are set by kubedesk and may not be overridden by
// extra_labels: informers, cleanup and NetworkPolicies select on them.
var managedLabelKeys = []string{
	LabelName, LabelManagedBy, LabelAppComponent, LabelComponent,
	LabelUsername, LabelServername, LabelProfile,
}

// managedAnnotationKeys may not be overridden by extra_annotations: the
// service rebuilds its view of sessions from them after a restart.
var managedAnnotationKeys = []string{AnnotationUsername, AnnotationServername, AnnotationProfile}

// SessionSelector selects the session pods kubedesk manages, for the
// informer's list and watch.
func SessionSelector() string {
	return labels.SelectorFromSet(labels.Set{
		LabelManagedBy: ManagedBy,
		LabelComponent: ComponentSession,
	}).String()
}

// Labels are the managed labels of a session pod (and of its hub env
// Secret): the user, the server and the profile, each as a valid label value.
func Labels(names Names, profile string) map[string]string {
	return map[string]string{
		LabelName:         AppName,
		LabelManagedBy:    ManagedBy,
		LabelAppComponent: ComponentSession,
		LabelComponent:    ComponentSession,
		LabelUsername:     names.SafeUser,
		LabelServername:   names.SafeServer,
		LabelProfile:      profileLabel(profile),
	}
}

// StorageLabels are the labels of a home PVC. They carry no profile: the
// volume outlives the profile chosen at one spawn.
func StorageLabels(names Names) map[string]string {
	return map[string]string{
		LabelName:         AppName,
		LabelManagedBy:    ManagedBy,
		LabelAppComponent: ComponentStorage,
		LabelComponent:    ComponentStorage,
		LabelUsername:     names.SafeUser,
		LabelServername:   names.SafeServer,
	}
}

// nameAnnotations hold the raw names, which labels cannot, so the service can
// tell sessions apart after a restart without reversing slugs.
func nameAnnotations(names Names) map[string]string {
	return map[string]string{
		AnnotationUsername:   names.User,
		AnnotationServername: names.Server,
	}
}

// podAnnotations adds the raw profile slug to the names.
func podAnnotations(names Names, profile string) map[string]string {
	a := nameAnnotations(names)
	a[AnnotationProfile] = profile
	return a
}

// profileLabel is the profile slug as a label value. Profile slugs come from
// operator configuration and are usually safe already; "" (no profiles)
// stays "", which is a valid label value.
func profileLabel(profile string) string {
	if profile == "" {
		return ""
	}
	return SafeSlug(profile)
}

// withExtra returns managed overlaid on a copy of extra, so extra keys never
// replace managed ones.
func withExtra(managed, extra map[string]string) map[string]string {
	out := make(map[string]string, len(managed)+len(extra))
	maps.Copy(out, extra)
	maps.Copy(out, managed)
	return out
}
