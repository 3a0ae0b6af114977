package podspec

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names inside the session pod that other parts rely on.
const (
	// NotebookContainerName is KubeSpawner's name for the single-user
	// container; poll() and the hub's tooling look for it.
	NotebookContainerName = "notebook"
	// NotebookPortName is the named port KubeSpawner (7.1+) reads the
	// server's port from; the readiness probe targets it too.
	NotebookPortName = "notebook-port"

	// HomeVolumeName is the home PVC's volume; Z2JH configurations mount
	// sub-paths of a volume of this name.
	HomeVolumeName = "home"

	// SessionVolumeName mounts the session token: SessionTokenKey of the
	// hub env Secret appears as SessionTokenMountPath/SessionTokenFile.
	SessionVolumeName     = "kubedesk-session"
	SessionTokenMountPath = "/etc/kubedesk/session"
	SessionTokenFile      = "token"
	// SessionTokenKey is a valid variable name on purpose: envFrom copies
	// every key of the Secret into the environment, and an invalid name
	// would be skipped or kept depending on the cluster's version. The file
	// is the copy to read, since the kubelet refreshes it when the Secret
	// changes and never refreshes the environment.
	SessionTokenKey = "KUBEDESK_SESSION_TOKEN"
)

// Variables the pod gets besides the hub's environment.
const (
	EnvPodIP        = "KUBEDESK_POD_IP"
	EnvPodName      = "KUBEDESK_POD_NAME"
	EnvPodNamespace = "KUBEDESK_POD_NAMESPACE"
	EnvDefaultURL   = "JUPYTERHUB_DEFAULT_URL"
	// EnvServiceURL tells the launcher agent where the spawner service is;
	// EnvServiceCA, which CA certificates (PEM) to trust for its https URL
	// besides the system's.
	EnvServiceURL = "KUBEDESK_SERVICE_URL"
	EnvServiceCA  = "KUBEDESK_SERVICE_CA"
)

// readinessPeriodSeconds is how often the kubelet asks <prefix>api. A spawn is
// Ready (and the hub told) only at the first success, so the period adds up
// to its own length to every spawn; Kubernetes' default of 10 s would be most
// of a warm start. At 2 s a warm start on the dev node spent 0.8 s (median)
// waiting for the probe; a GET per second per session is cheap.
const readinessPeriodSeconds = 1

// PodInput is what a session pod is built from.
type PodInput struct {
	Namespace string
	// Names carries the raw user and server names as well as the slugs.
	Names Names
	// Profile is the slug of the chosen profile, "" without profiles.
	Profile string
	// Settings are the merged, validated settings of the profile.
	Settings Settings
	// HubEnvSecret names the Secret with the hub's environment (and the
	// session token); "" means Names.Secret.
	HubEnvSecret string
	// ServicePrefix is JUPYTERHUB_SERVICE_PREFIX (/user/alice/), under which
	// the server answers; the readiness probe asks <prefix>api, as
	// JupyterHub 5 does.
	ServicePrefix string
	// ServiceURL is how the session's launcher agent reaches the spawner
	// service (KUBEDESK_SERVICE_URL); "" leaves it out. ServiceCA is the PEM
	// bundle it trusts for that URL (KUBEDESK_SERVICE_CA): a CA certificate
	// is public, so it travels in the pod spec, not in a Secret.
	ServiceURL string
	ServiceCA  string
}

// Pod builds the desktop session pod. It makes no API calls. in.Settings must
// have passed Validate: quantities that do not parse are left out.
//
// The pod refers to the hub env Secret by name only; the hub's token never
// appears in the pod. The service creates the pod first and the Secret right
// after, with an ownerReference to the pod (which needs the pod's UID); the
// kubelet holds the container in CreateContainerConfigError until the Secret
// exists, so the order is safe.
func Pod(in PodInput) *corev1.Pod {
	s := in.Settings
	uid := valueOr(s.UID, DefaultUID)
	gid := valueOr(s.GID, DefaultGID)
	secretName := in.HubEnvSecret
	if secretName == "" {
		secretName = in.Names.Secret
	}

	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	if s.StorageEnsured() {
		volumes = append(volumes, corev1.Volume{
			Name: HomeVolumeName,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: in.Names.PVC,
			}},
		})
		mounts = append(mounts, corev1.VolumeMount{Name: HomeVolumeName, MountPath: s.HomeMountPath})
	}
	volumes = append(volumes, corev1.Volume{
		Name: SessionVolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secretName,
			// Only the token, not the hub's environment, becomes a file.
			Items: []corev1.KeyToPath{{Key: SessionTokenKey, Path: SessionTokenFile}},
			// Readable by the session's group (fsGroup); nobody writes it.
			DefaultMode: ptrTo[int32](0o440),
			// Optional so that a Secret without a token yet still starts;
			// envFrom (not optional) makes the kubelet wait for the Secret.
			Optional: ptrTo(true),
		}},
	})
	mounts = append(mounts, corev1.VolumeMount{Name: SessionVolumeName, MountPath: SessionTokenMountPath, ReadOnly: true})
	volumes = append(volumes, copyAll(s.Volumes)...)
	mounts = append(mounts, copyAll(s.VolumeMounts)...)

	notebook := corev1.Container{
		Name:            NotebookContainerName,
		Image:           s.Image,
		ImagePullPolicy: s.ImagePullPolicy,
		Args:            containerArgs(s),
		WorkingDir:      s.WorkingDir,
		Ports: []corev1.ContainerPort{{
			Name:          NotebookPortName,
			ContainerPort: s.Port,
			Protocol:      corev1.ProtocolTCP,
		}},
		// Kubernetes gives env precedence over envFrom, so Environment and
		// the variables below win over the hub's, as Spawner.environment
		// does in JupyterHub's get_env.
		EnvFrom: []corev1.EnvFromSource{{
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secretName}},
		}},
		Env:       env(s, in.ServiceURL, in.ServiceCA),
		Resources: resources(s),
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: readinessPath(in.ServicePrefix),
				Port: intstr.FromString(NotebookPortName),
			}},
			PeriodSeconds: readinessPeriodSeconds,
		},
		VolumeMounts:    mounts,
		SecurityContext: containerSecurity(nil, uid, gid),
	}

	containers := append([]corev1.Container{notebook}, secured(s.ExtraContainers, uid, gid)...)

	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        in.Names.Pod,
			Namespace:   in.Namespace,
			Labels:      withExtra(Labels(in.Names, in.Profile), s.ExtraLabels),
			Annotations: withExtra(podAnnotations(in.Names, in.Profile), s.ExtraAnnotations),
		},
		Spec: corev1.PodSpec{
			// KubeSpawner's policy. A crash (an OOM kill of JupyterLab)
			// restarts the container in place: the pod keeps its IP, so the
			// hub's route stays good, and keeps the app pods it owns. A clean
			// exit (File > Shut Down) ends the pod and poll() reports it.
			// Never would turn every crash into a lost desktop with all its
			// apps; a crash loop shows as not Ready and CrashLoopBackOff,
			// which the service can report as a failure itself.
			RestartPolicy:                 corev1.RestartPolicyOnFailure,
			TerminationGracePeriodSeconds: ptrTo(valueOr(s.TerminationGracePeriodSeconds, defaultTerminationGracePeriod)),
			// Only the service talks to the Kubernetes API
			// (docs/architecture.md, trust boundary 3), even when an
			// operator names a service account (for example for cloud
			// workload identity).
			AutomountServiceAccountToken: ptrTo(false),
			// Service variables leak the namespace's services into every
			// session and slow container start in large namespaces.
			EnableServiceLinks: ptrTo(false),
			ServiceAccountName: s.ServiceAccount,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:       ptrTo(true),
				FSGroup:            ptrTo(valueOr(s.FSGID, DefaultFSGID)),
				SupplementalGroups: slices.Clone(s.SupplementalGIDs),
				// A home holds many files; changing the owner of all of
				// them at every start would delay the spawn. Checking the
				// root of the volume is enough for a volume kubedesk owns.
				FSGroupChangePolicy: ptrTo(corev1.FSGroupChangeOnRootMismatch),
				SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			InitContainers:    secured(s.InitContainers, uid, gid),
			Containers:        containers,
			Volumes:           volumes,
			NodeSelector:      maps.Clone(s.NodeSelector),
			Tolerations:       copyAll(s.Tolerations),
			Affinity:          affinity(s),
			PriorityClassName: s.PriorityClassName,
			SchedulerName:     s.SchedulerName,
			ImagePullSecrets:  pullSecrets(s.ImagePullSecrets),
		},
	}
	return pod
}

// containerArgs follows KubeSpawner: cmd plus args become the container's
// args, leaving the image's ENTRYPOINT in place.
func containerArgs(s Settings) []string {
	if len(s.Cmd) == 0 {
		return nil
	}
	return slices.Concat(s.Cmd, s.Args)
}

// env is the container's own environment: pod identity from the downward
// API, the default URL, KubeSpawner's informational resource variables (read
// by jupyter-resource-usage), then Environment, which replaces any of them.
func env(s Settings, serviceURL, serviceCA string) []corev1.EnvVar {
	vars := []corev1.EnvVar{
		fieldEnv(EnvPodIP, "status.podIP"),
		fieldEnv(EnvPodName, "metadata.name"),
		fieldEnv(EnvPodNamespace, "metadata.namespace"),
	}
	if serviceURL != "" {
		vars = append(vars, corev1.EnvVar{Name: EnvServiceURL, Value: serviceURL})
	}
	if serviceCA != "" {
		vars = append(vars, corev1.EnvVar{Name: EnvServiceCA, Value: serviceCA})
	}
	if s.DefaultURL != "" {
		vars = append(vars, corev1.EnvVar{Name: EnvDefaultURL, Value: s.DefaultURL})
	}
	// JupyterHub writes memory in bytes and CPU as a number of cores.
	if v, ok := bytesOf(s.MemLimit); ok {
		vars = append(vars, corev1.EnvVar{Name: "MEM_LIMIT", Value: v})
	}
	if v, ok := coresOf(s.CPULimit); ok {
		vars = append(vars, corev1.EnvVar{Name: "CPU_LIMIT", Value: v})
	}
	if v, ok := bytesOf(s.MemGuarantee); ok {
		vars = append(vars, corev1.EnvVar{Name: "MEM_GUARANTEE", Value: v})
	}
	if v, ok := coresOf(s.CPUGuarantee); ok {
		vars = append(vars, corev1.EnvVar{Name: "CPU_GUARANTEE", Value: v})
	}
	// Drop what Environment sets rather than list a name twice: duplicate
	// names draw an API warning and leave the winner to the kubelet.
	vars = slices.DeleteFunc(vars, func(v corev1.EnvVar) bool {
		_, replaced := s.Environment[v.Name]
		return replaced
	})
	for _, name := range sortedKeys(s.Environment) {
		vars = append(vars, corev1.EnvVar{Name: name, Value: s.Environment[name]})
	}
	return vars
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

func bytesOf(q string) (string, bool) {
	parsed, err := resource.ParseQuantity(q)
	if q == "" || err != nil {
		return "", false
	}
	return strconv.FormatInt(parsed.Value(), 10), true
}

func coresOf(q string) (string, bool) {
	parsed, err := resource.ParseQuantity(q)
	if q == "" || err != nil {
		return "", false
	}
	return strconv.FormatFloat(float64(parsed.MilliValue())/1000, 'f', -1, 64), true
}

// resources maps the KubeSpawner traits onto limits and requests. An extra
// resource (a GPU) with a limit and no guarantee gets a request of the same
// amount: Kubernetes would default it so, and writing it out keeps the
// rendered pod equal to what the scheduler sees. CPU and memory are left to
// that defaulting, as in KubeSpawner.
func resources(s Settings) corev1.ResourceRequirements {
	limits, requests := corev1.ResourceList{}, corev1.ResourceList{}
	put(limits, corev1.ResourceCPU, s.CPULimit)
	put(limits, corev1.ResourceMemory, s.MemLimit)
	put(requests, corev1.ResourceCPU, s.CPUGuarantee)
	put(requests, corev1.ResourceMemory, s.MemGuarantee)
	for name, q := range s.ExtraResourceLimits {
		put(limits, corev1.ResourceName(name), q)
		if _, ok := s.ExtraResourceGuarantees[name]; !ok {
			put(requests, corev1.ResourceName(name), q)
		}
	}
	for name, q := range s.ExtraResourceGuarantees {
		put(requests, corev1.ResourceName(name), q)
	}
	var r corev1.ResourceRequirements
	if len(limits) > 0 {
		r.Limits = limits
	}
	if len(requests) > 0 {
		r.Requests = requests
	}
	return r
}

func put(list corev1.ResourceList, name corev1.ResourceName, q string) {
	if parsed, err := resource.ParseQuantity(q); q != "" && err == nil {
		list[name] = parsed
	}
}

// readinessPath is <prefix>api; JupyterHub's prefixes end with '/', but a
// hand-written one may not.
func readinessPath(prefix string) string {
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix + "api"
}

// secured copies operator containers and fills in the session's security
// defaults wherever they leave a field unset. Validate has refused settings
// that contradict the defaults (root, privilege escalation, added
// capabilities), so what remains only narrows them.
func secured(cs []corev1.Container, uid, gid int64) []corev1.Container {
	out := copyAll(cs)
	for i := range out {
		out[i].SecurityContext = containerSecurity(out[i].SecurityContext, uid, gid)
	}
	return out
}

// containerSecurity is the session's container security context
// (docs/architecture.md, trust boundary 3) with sc's own settings kept.
// Every container gets it, since a pod is only as confined as its least
// confined container.
func containerSecurity(sc *corev1.SecurityContext, uid, gid int64) *corev1.SecurityContext {
	out := sc.DeepCopy()
	if out == nil {
		out = &corev1.SecurityContext{}
	}
	if out.RunAsNonRoot == nil {
		out.RunAsNonRoot = ptrTo(true)
	}
	if out.RunAsUser == nil {
		out.RunAsUser = ptrTo(uid)
	}
	if out.RunAsGroup == nil {
		out.RunAsGroup = ptrTo(gid)
	}
	if out.AllowPrivilegeEscalation == nil {
		out.AllowPrivilegeEscalation = ptrTo(false)
	}
	if out.Capabilities == nil {
		out.Capabilities = &corev1.Capabilities{}
	}
	if !slices.Contains(out.Capabilities.Drop, "ALL") {
		out.Capabilities.Drop = append(out.Capabilities.Drop, "ALL")
	}
	if out.SeccompProfile == nil {
		out.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	return out
}

// affinity assembles KubeSpawner's six affinity lists; nil when all are empty.
func affinity(s Settings) *corev1.Affinity {
	var a corev1.Affinity
	if len(s.NodeAffinityRequired) > 0 || len(s.NodeAffinityPreferred) > 0 {
		a.NodeAffinity = &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: copyAll(s.NodeAffinityPreferred),
		}
		if len(s.NodeAffinityRequired) > 0 {
			a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
				NodeSelectorTerms: copyAll(s.NodeAffinityRequired),
			}
		}
	}
	if len(s.PodAffinityRequired) > 0 || len(s.PodAffinityPreferred) > 0 {
		a.PodAffinity = &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution:  copyAll(s.PodAffinityRequired),
			PreferredDuringSchedulingIgnoredDuringExecution: copyAll(s.PodAffinityPreferred),
		}
	}
	if len(s.PodAntiAffinityRequired) > 0 || len(s.PodAntiAffinityPreferred) > 0 {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution:  copyAll(s.PodAntiAffinityRequired),
			PreferredDuringSchedulingIgnoredDuringExecution: copyAll(s.PodAntiAffinityPreferred),
		}
	}
	if a.NodeAffinity == nil && a.PodAffinity == nil && a.PodAntiAffinity == nil {
		return nil
	}
	return &a
}

func pullSecrets(names []string) []corev1.LocalObjectReference {
	if len(names) == 0 {
		return nil
	}
	refs := make([]corev1.LocalObjectReference, len(names))
	for i, name := range names {
		refs[i] = corev1.LocalObjectReference{Name: name}
	}
	return refs
}

// copyAll deep-copies Kubernetes objects out of Settings, so that changing a
// built pod cannot change the profile it was built from.
func copyAll[T any, P interface {
	*T
	DeepCopy() *T
}](in []T) []T {
	if len(in) == 0 {
		return nil
	}
	out := make([]T, len(in))
	for i := range in {
		out[i] = *P(&in[i]).DeepCopy()
	}
	return out
}

func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
