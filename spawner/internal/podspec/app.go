package podspec

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kubedesk.dev/kubedesk/spawner/catalog"
)

// Labels and names of app pods: an application started from a session, in a
// pod of its own next to the Xpra sidecar that streams its windows.
const (
	ComponentApp = "app"
	// LabelSession names the session pod that owns an app pod.
	LabelSession     = "kubedesk.dev/session"
	LabelApp         = "kubedesk.dev/app"
	LabelAppVersion  = "kubedesk.dev/app-version"
	LabelAppInstance = "kubedesk.dev/app-instance"

	AppContainerName   = "app"
	XpraContainerName  = "xpra"
	XpraPortName       = "xpra"
	X11VolumeName      = "x11"
	XpraAuthVolumeName = "xpra-auth"
	// XpraAuthMountPath holds the per-app password file the sidecar's
	// --tcp-auth=file reads, and the key file of its --tcp-encryption.
	XpraAuthMountPath = "/etc/kubedesk/xpra"
	XpraPasswordKey   = "password"
	XpraEncryptionKey = "encryption-key"
	// X11SocketDir is shared by the app and the sidecar: the sidecar's X
	// server puts its socket there, the app connects to it.
	X11SocketDir = "/tmp/.X11-unix"
)

// DefaultXpraPort is the TCP port of the sidecar's Xpra server, which
// session pods attach to; the chart's NetworkPolicies open it
// (kubedesk.apps.xpraPort).
const DefaultXpraPort = 14500

// AppSelector selects app pods, for the service's informer.
func AppSelector() string {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy, LabelComponent: ComponentApp}).String()
}

// AppPodInput is what an app pod is built from.
type AppPodInput struct {
	// Session is the session pod the app belongs to. The app pod is owned
	// by it, runs as its user, mounts its home volume and carries its
	// user/server labels.
	Session *corev1.Pod
	App     catalog.App
	// Instance tells launches of one app apart: a short DNS-safe string.
	Instance string
	// Command is the app's full command line, files included
	// (catalog.App.CommandLine).
	Command []string
	// Display is the X display the sidecar serves and the app uses.
	Display string
	// XpraImage and XpraPort describe the sidecar.
	XpraImage string
	XpraPort  int32
	// PinToNode places the app on this node (the session's), required
	// when the home volume is ReadWriteOnce; "" places it anywhere.
	PinToNode string
}

// AppPodName is the app pod's name: the session pod's name, the app id and
// the instance, each shortened so the whole fits a DNS label.
func AppPodName(session, appID, instance string) string {
	trim := func(s string, n int) string { return strings.TrimRight(s[:min(len(s), n)], "-") }
	return fmt.Sprintf("%s-%s-%s", trim(session, 32), trim(appID, 20), trim(instance, 8))
}

// AppPod builds an app pod. The Xpra sidecar is a native sidecar (an init
// container that restarts Always): the kubelet starts it first, holds the
// app until its startup probe sees Xpra listening, and ends it when the app
// exits, so the pod completes with the app's exit code. The app gets no
// service account token and the session's security context.
func AppPod(in AppPodInput) *corev1.Pod {
	session := in.Session
	name := AppPodName(session.Name, in.App.ID, in.Instance)
	uid, gid := sessionIDs(session)

	podLabels := map[string]string{
		LabelName:         AppName,
		LabelManagedBy:    ManagedBy,
		LabelAppComponent: ComponentApp,
		LabelComponent:    ComponentApp,
		LabelUsername:     session.Labels[LabelUsername],
		LabelServername:   session.Labels[LabelServername],
		LabelSession:      session.Name,
		LabelApp:          in.App.ID,
		LabelAppVersion:   in.App.Version,
		LabelAppInstance:  in.Instance,
	}
	annotations := map[string]string{
		AnnotationUsername:   session.Annotations[AnnotationUsername],
		AnnotationServername: session.Annotations[AnnotationServername],
	}

	x11 := corev1.VolumeMount{Name: X11VolumeName, MountPath: X11SocketDir}
	appMounts := []corev1.VolumeMount{x11}
	volumes := []corev1.Volume{
		{Name: X11VolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: XpraAuthVolumeName, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  name,
			DefaultMode: ptrTo[int32](0o440),
		}}},
	}
	env := []corev1.EnvVar{{Name: "DISPLAY", Value: in.Display}}
	workingDir := ""
	if home, mount, ok := sessionHome(session); ok {
		volumes = append(volumes, home)
		appMounts = append(appMounts, mount)
		env = append(env, corev1.EnvVar{Name: "HOME", Value: mount.MountPath})
		// Apps open their file dialogs where they start: in the home, as
		// they would on the desktop itself.
		workingDir = mount.MountPath
	}
	for _, k := range sortedKeys(in.App.Env) {
		env = append(env, corev1.EnvVar{Name: k, Value: in.App.Env[k]})
	}

	tcp := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(XpraPortName)}}
	xpra := corev1.Container{
		Name:          XpraContainerName,
		Image:         in.XpraImage,
		RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways),
		Ports:         []corev1.ContainerPort{{Name: XpraPortName, ContainerPort: in.XpraPort, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "XPRA_DISPLAY", Value: in.Display},
			{Name: "XPRA_PORT", Value: fmt.Sprint(in.XpraPort)},
			{Name: "XPRA_PASSWORD_FILE", Value: XpraAuthMountPath + "/" + XpraPasswordKey},
			{Name: "XPRA_ENCRYPTION_KEY_FILE", Value: XpraAuthMountPath + "/" + XpraEncryptionKey},
			fieldEnv(EnvPodIP, "status.podIP"),
		},
		StartupProbe:   &corev1.Probe{ProbeHandler: tcp, PeriodSeconds: 1, FailureThreshold: 120},
		ReadinessProbe: &corev1.Probe{ProbeHandler: tcp, PeriodSeconds: 2},
		VolumeMounts: []corev1.VolumeMount{x11,
			{Name: XpraAuthVolumeName, MountPath: XpraAuthMountPath, ReadOnly: true}},
		SecurityContext: containerSecurity(nil, uid, gid),
	}
	app := corev1.Container{
		Name:            AppContainerName,
		Image:           in.App.Image,
		Command:         append([]string(nil), in.Command...),
		WorkingDir:      workingDir,
		Env:             env,
		Resources:       appResources(in.App.Resources),
		VolumeMounts:    appMounts,
		SecurityContext: containerSecurity(nil, uid, gid),
	}

	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       session.Namespace,
			Labels:          podLabels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{ownerRef(session)},
		},
		Spec: corev1.PodSpec{
			// The app's exit ends the pod; the service then deletes it.
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptrTo(false),
			EnableServiceLinks:            ptrTo(false),
			TerminationGracePeriodSeconds: ptrTo[int64](5),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:        ptrTo(true),
				FSGroup:             sessionFSGroup(session),
				FSGroupChangePolicy: ptrTo(corev1.FSGroupChangeOnRootMismatch),
				SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			InitContainers:   []corev1.Container{xpra},
			Containers:       []corev1.Container{app},
			Volumes:          volumes,
			NodeSelector:     maps.Clone(in.App.Placement.NodeSelector),
			Tolerations:      copyAll(in.App.Placement.Tolerations),
			ImagePullSecrets: append([]corev1.LocalObjectReference(nil), session.Spec.ImagePullSecrets...),
		},
	}
	if in.PinToNode != "" {
		// The home volume is ReadWriteOnce: only the session's node can
		// mount it. Tolerate what the session tolerates, so a tainted node
		// (a GPU pool) takes the app too.
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{in.PinToNode}}},
			}}},
		}}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, copyAll(session.Spec.Tolerations)...)
	}
	return pod
}

// XpraCredentials are an app's two Xpra secrets, each of its own: the
// password its clients authenticate with, and the key that encrypts the
// stream (AES) between the sidecar and the session, which crosses the pod
// network where anyone on a node's path could read it.
type XpraCredentials struct {
	Password      string
	EncryptionKey string
}

// AppSecret holds the app's Xpra credentials. It is owned by the app pod, so
// it goes with it.
func AppSecret(app *corev1.Pod, creds XpraCredentials) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            app.Name,
			Namespace:       app.Namespace,
			Labels:          maps.Clone(app.Labels),
			OwnerReferences: []metav1.OwnerReference{ownerRef(app)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			XpraPasswordKey:   []byte(creds.Password),
			XpraEncryptionKey: []byte(creds.EncryptionKey),
		},
	}
}

// AppNetworkPolicy admits connections to the app's Xpra port from its
// session pod only (docs/architecture.md, trust boundary 4); everything
// else is refused.
func AppNetworkPolicy(app, session *corev1.Pod, port int32) *networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	p := intstr.FromInt32(port)
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            app.Name,
			Namespace:       app.Namespace,
			Labels:          maps.Clone(app.Labels),
			OwnerReferences: []metav1.OwnerReference{ownerRef(app)},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelAppInstance: app.Labels[LabelAppInstance], LabelSession: session.Name}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
					LabelComponent:  ComponentSession,
					LabelUsername:   session.Labels[LabelUsername],
					LabelServername: session.Labels[LabelServername],
				}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &p}},
			}},
		},
	}
}

// sessionIDs is the user and group the session's notebook runs as.
func sessionIDs(session *corev1.Pod) (uid, gid int64) {
	uid, gid = DefaultUID, DefaultGID
	for _, c := range session.Spec.Containers {
		if c.Name == NotebookContainerName && c.SecurityContext != nil {
			uid = valueOr(c.SecurityContext.RunAsUser, uid)
			gid = valueOr(c.SecurityContext.RunAsGroup, gid)
		}
	}
	return uid, gid
}

func sessionFSGroup(session *corev1.Pod) *int64 {
	if sc := session.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		return ptrTo(*sc.FSGroup)
	}
	return ptrTo[int64](DefaultFSGID)
}

// sessionHome finds the session's home volume and where it is mounted.
func sessionHome(session *corev1.Pod) (corev1.Volume, corev1.VolumeMount, bool) {
	for _, v := range session.Spec.Volumes {
		if v.Name != HomeVolumeName || v.PersistentVolumeClaim == nil {
			continue
		}
		for _, c := range session.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if c.Name == NotebookContainerName && m.Name == HomeVolumeName && m.SubPath == "" {
					return *v.DeepCopy(), m, true
				}
			}
		}
	}
	return corev1.Volume{}, corev1.VolumeMount{}, false
}

// appResources turns the catalog's quantities into requests and limits: a
// limit equal to the request for memory and GPUs, so an app cannot starve
// its neighbours, and a CPU request without a limit, so it may burst.
func appResources(r catalog.Resources) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	if q, err := resource.ParseQuantity(r.CPU); err == nil && r.CPU != "" {
		out.Requests[corev1.ResourceCPU] = q
	}
	if q, err := resource.ParseQuantity(r.Memory); err == nil && r.Memory != "" {
		out.Requests[corev1.ResourceMemory] = q
		out.Limits[corev1.ResourceMemory] = q
	}
	if q, err := resource.ParseQuantity(r.GPU); err == nil && r.GPU != "" {
		out.Requests["nvidia.com/gpu"] = q
		out.Limits["nvidia.com/gpu"] = q
	}
	if len(out.Requests) == 0 {
		out.Requests = nil
	}
	if len(out.Limits) == 0 {
		out.Limits = nil
	}
	return out
}
