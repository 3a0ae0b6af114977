package spawnertest

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// SessionObjects are what the service creates for one session with one app
// running, built by the service's own podspec package, so tests outside
// spawner/ (the chart's NetworkPolicies and admission policy) check the real
// objects and not a copy of their labels.
type SessionObjects struct {
	Session *corev1.Pod
	App     *corev1.Pod
	// AppPolicy is the NetworkPolicy the service creates with the app pod.
	AppPolicy *networkingv1.NetworkPolicy
	// XpraPort is the port the app pod's sidecar serves.
	XpraPort int32
}

// Session builds the session pod of user's default server in namespace, with
// the default pod settings, and an app pod of that session with its
// NetworkPolicy.
func Session(namespace, user string) SessionObjects {
	names := podspec.NewNames(user, "")
	session := podspec.Pod(podspec.PodInput{
		Namespace: namespace, Names: names, Settings: podspec.Defaults(),
		ServicePrefix: "/user/" + user + "/",
	})
	session.UID = types.UID("uid-" + names.Pod)
	app := podspec.AppPod(podspec.AppPodInput{
		Session: session,
		App: catalog.App{ID: "xterm", Name: "XTerm", Version: "1", Image: "example.org/xterm:1",
			Command: []string{"xterm"}},
		Instance: "a1b2c", Command: []string{"xterm"}, Display: ":100",
		XpraImage: "kubedesk/xpra-sidecar:3.1", XpraPort: podspec.DefaultXpraPort,
	})
	return SessionObjects{
		Session:   session,
		App:       app,
		AppPolicy: podspec.AppNetworkPolicy(app, session, podspec.DefaultXpraPort),
		XpraPort:  podspec.DefaultXpraPort,
	}
}

// PrivilegedFields are the names the pod settings' allow_privileged_fields
// accepts, each a rule of the chart's admission policy.
func PrivilegedFields() []string { return slices.Clone(podspec.PrivilegedFields) }
