package podspec

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Settings is everything that shapes one desktop session's pod and home
// volume. Operators write it as the service's `defaults`, and profiles
// override it key by key with KubeSpawner's `kubespawner_override` names, so a
// Zero to JupyterHub `profileList` pastes in unchanged. The JSON names are
// therefore KubeSpawner's trait names; embedded Kubernetes objects keep their
// own (camelCase) API names, as they do in KubeSpawner's configuration.
//
// The zero value is not usable: start from Defaults() and overlay.
type Settings struct {
	// Image is the desktop session image.
	Image string `json:"image,omitempty"`
	// ImagePullPolicy is Always, IfNotPresent or Never; empty leaves it to
	// Kubernetes.
	ImagePullPolicy corev1.PullPolicy `json:"image_pull_policy,omitempty"`
	// ImagePullSecrets names Secrets in the session namespace.
	ImagePullSecrets []string `json:"image_pull_secrets,omitempty"`
	// Cmd replaces the image's CMD, and Args are appended to it, as with
	// KubeSpawner's cmd and Spawner.args: both become the container's args,
	// so the image's ENTRYPOINT (an init such as tini in the Jupyter docker
	// stacks) still runs. Args without Cmd are refused by Validate, since
	// they would replace the image's CMD with bare flags.
	Cmd  []string `json:"cmd,omitempty"`
	Args []string `json:"args,omitempty"`
	// WorkingDir of the session container.
	WorkingDir string `json:"working_dir,omitempty"`
	// Port the single-user server listens on (KubeSpawner's default: 8888).
	Port int32 `json:"port,omitempty"`
	// Environment is added to the container after the hub's environment, so it
	// wins on conflicts, as Spawner.environment does in JupyterHub.
	Environment map[string]string `json:"environment,omitempty"`

	// Resources, in Kubernetes quantity syntax ("500m", "2G").
	CPULimit     string `json:"cpu_limit,omitempty"`
	CPUGuarantee string `json:"cpu_guarantee,omitempty"`
	MemLimit     string `json:"mem_limit,omitempty"`
	MemGuarantee string `json:"mem_guarantee,omitempty"`
	// ExtraResourceLimits / ExtraResourceGuarantees carry extended resources
	// such as {"nvidia.com/gpu": "1"}.
	ExtraResourceLimits     map[string]string `json:"extra_resource_limits,omitempty"`
	ExtraResourceGuarantees map[string]string `json:"extra_resource_guarantees,omitempty"`

	// Scheduling.
	NodeSelector             map[string]string                `json:"node_selector,omitempty"`
	Tolerations              []corev1.Toleration              `json:"tolerations,omitempty"`
	NodeAffinityRequired     []corev1.NodeSelectorTerm        `json:"node_affinity_required,omitempty"`
	NodeAffinityPreferred    []corev1.PreferredSchedulingTerm `json:"node_affinity_preferred,omitempty"`
	PodAffinityRequired      []corev1.PodAffinityTerm         `json:"pod_affinity_required,omitempty"`
	PodAffinityPreferred     []corev1.WeightedPodAffinityTerm `json:"pod_affinity_preferred,omitempty"`
	PodAntiAffinityRequired  []corev1.PodAffinityTerm         `json:"pod_anti_affinity_required,omitempty"`
	PodAntiAffinityPreferred []corev1.WeightedPodAffinityTerm `json:"pod_anti_affinity_preferred,omitempty"`
	PriorityClassName        string                           `json:"priority_class_name,omitempty"`
	SchedulerName            string                           `json:"scheduler_name,omitempty"`

	// Identity. UID/GID/FSGID default to 1000/100/100 (jovyan in the Jupyter
	// docker stacks); root (0) is refused by validation.
	UID              *int64  `json:"uid,omitempty"`
	GID              *int64  `json:"gid,omitempty"`
	FSGID            *int64  `json:"fs_gid,omitempty"`
	SupplementalGIDs []int64 `json:"supplemental_gids,omitempty"`
	ServiceAccount   string  `json:"service_account,omitempty"`

	// Extensibility.
	Volumes          []corev1.Volume      `json:"volumes,omitempty"`
	VolumeMounts     []corev1.VolumeMount `json:"volume_mounts,omitempty"`
	InitContainers   []corev1.Container   `json:"init_containers,omitempty"`
	ExtraContainers  []corev1.Container   `json:"extra_containers,omitempty"`
	ExtraLabels      map[string]string    `json:"extra_labels,omitempty"`
	ExtraAnnotations map[string]string    `json:"extra_annotations,omitempty"`

	// Home volume: one PVC per user and server, kept across stops.
	// StoragePVCEnsure=false runs the session without a home PVC.
	StoragePVCEnsure   *bool                               `json:"storage_pvc_ensure,omitempty"`
	StorageCapacity    string                              `json:"storage_capacity,omitempty"`
	StorageClass       *string                             `json:"storage_class,omitempty"`
	StorageAccessModes []corev1.PersistentVolumeAccessMode `json:"storage_access_modes,omitempty"`
	// HomeMountPath is where the home volume is mounted (/home/jovyan).
	HomeMountPath string `json:"home_mount_path,omitempty"`

	// TerminationGracePeriodSeconds bounds how long a stopping session may
	// take to save and exit when the delete names no grace period. Not a
	// KubeSpawner trait (KubeSpawner leaves Kubernetes' 30 s); nil keeps 30 s.
	TerminationGracePeriodSeconds *int64 `json:"termination_grace_period_seconds,omitempty"`

	// DefaultURL is the path JupyterHub opens after the spawn (for example
	// /desktop), passed as JUPYTERHUB_DEFAULT_URL.
	DefaultURL string `json:"default_url,omitempty"`

	// AllowPrivilegedFields names the privileged fields (PrivilegedFields)
	// that volumes, init_containers and extra_containers may use; Validate
	// refuses each of them otherwise. Not a KubeSpawner trait: KubeSpawner
	// passes such fields through, kubedesk makes the operator say so by
	// name. Root and the host's namespaces (hostNetwork, hostPID, hostIPC)
	// are never allowed: no setting reaches them.
	AllowPrivilegedFields []string `json:"allow_privileged_fields,omitempty"`
}

// Privileged fields of volumes and containers, by their Kubernetes names:
// each gives a session's pod more of the node than its own sandbox, so
// Validate refuses it unless allow_privileged_fields names it. The chart's
// ValidatingAdmissionPolicy refuses the same fields in every pod the
// service creates, less those the operator allows.
const (
	// FieldHostPath: a hostPath volume (the node's files).
	FieldHostPath = "hostPath"
	// FieldHostPort: a container port bound on the node's address.
	FieldHostPort = "hostPort"
	// FieldPrivileged: securityContext.privileged (the node's devices and
	// every capability).
	FieldPrivileged = "privileged"
	// FieldAllowPrivilegeEscalation: securityContext.allowPrivilegeEscalation
	// true (setuid binaries gain privileges).
	FieldAllowPrivilegeEscalation = "allowPrivilegeEscalation"
	// FieldCapabilities: securityContext.capabilities.add.
	FieldCapabilities = "capabilities"
	// FieldSeccompProfile: a seccompProfile of type Unconfined.
	FieldSeccompProfile = "seccompProfile"
	// FieldAppArmorProfile: an appArmorProfile of type Unconfined, or the
	// older container.apparmor.security.beta.kubernetes.io annotation set
	// to unconfined.
	FieldAppArmorProfile = "appArmorProfile"
	// FieldProcMount: a procMount other than Default (an unmasked /proc).
	FieldProcMount = "procMount"
	// FieldSELinuxOptions: seLinuxOptions (a chosen SELinux label).
	FieldSELinuxOptions = "seLinuxOptions"
)

// PrivilegedFields lists every name allow_privileged_fields accepts.
var PrivilegedFields = []string{
	FieldHostPath, FieldHostPort, FieldPrivileged, FieldAllowPrivilegeEscalation, FieldCapabilities,
	FieldSeccompProfile, FieldAppArmorProfile, FieldProcMount, FieldSELinuxOptions,
}

// appArmorAnnotationPrefix starts the annotation that set a container's
// AppArmor profile before the appArmorProfile field (Kubernetes 1.30); the
// kubelet still honours it.
const appArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"

// Default values that Defaults fills in. UID 1000 and GID 100 are jovyan and
// users in the Jupyter docker stacks, which desktop images build on.
const (
	DefaultImage         = "kubedesk/desktop:latest"
	DefaultPort          = 8888
	DefaultUID           = 1000
	DefaultGID           = 100
	DefaultFSGID         = 100
	DefaultCapacity      = "10Gi"
	DefaultHomeMountPath = "/home/jovyan"
	// defaultTerminationGracePeriod is Kubernetes' own default, written out
	// so that the rendered pod says what a stop will wait for.
	defaultTerminationGracePeriod int64 = 30
)

// Defaults returns the settings every profile starts from. Resources are left
// unset: without a profile a session gets what the namespace's LimitRange
// gives, as with KubeSpawner.
func Defaults() Settings {
	return Settings{
		Image:              DefaultImage,
		Port:               DefaultPort,
		UID:                ptrTo[int64](DefaultUID),
		GID:                ptrTo[int64](DefaultGID),
		FSGID:              ptrTo[int64](DefaultFSGID),
		StoragePVCEnsure:   ptrTo(true),
		StorageCapacity:    DefaultCapacity,
		StorageAccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		HomeMountPath:      DefaultHomeMountPath,
	}
}

// StorageEnsured reports whether the session gets a home PVC.
func (s Settings) StorageEnsured() bool {
	return s.StoragePVCEnsure != nil && *s.StoragePVCEnsure
}

// Validate reports every problem in s at once, one line each, named by the
// settings key, so an operator can fix a profile in one pass. Apply it to the
// settings after all overrides: a profile may be fine alone and wrong merged.
func (s Settings) Validate() error {
	return errors.Join(s.validate().errs...)
}

// CheckPrivilegedFields reports, as Validate would, only the privileged
// fields s uses that allow_privileged_fields does not name, and names in it
// that are not privileged fields. Profile loading
// runs it on every override, so such a profile stops the service at start;
// the rest of Validate waits for the settings of a whole spawn.
func (s Settings) CheckPrivilegedFields() error {
	return errors.Join(s.validate().privilegedErrs...)
}

func (s Settings) validate() *validator {
	v := &validator{allowed: map[string]bool{}}
	for _, f := range s.AllowPrivilegedFields {
		if !slices.Contains(PrivilegedFields, f) {
			v.add("allow_privileged_fields", "%q is not one of %s", f, strings.Join(PrivilegedFields, ", "))
			v.privilegedErrs = append(v.privilegedErrs, v.errs[len(v.errs)-1])
		}
		v.allowed[f] = true
	}

	if strings.TrimSpace(s.Image) == "" {
		v.add("image", "is required")
	}
	switch s.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		v.add("image_pull_policy", "%q is not one of Always, IfNotPresent, Never", s.ImagePullPolicy)
	}
	for _, name := range s.ImagePullSecrets {
		v.dnsSubdomain("image_pull_secrets", name)
	}
	if len(s.Args) > 0 && len(s.Cmd) == 0 {
		v.add("args", "needs cmd: args are appended to cmd and would otherwise replace the image's command")
	}
	if s.Port < 1 || s.Port > 65535 {
		v.add("port", "%d is not between 1 and 65535", s.Port)
	}
	for _, name := range sortedKeys(s.Environment) {
		if errs := validation.IsEnvVarName(name); len(errs) > 0 {
			v.add("environment", "%q is not a valid variable name: %s", name, strings.Join(errs, "; "))
		}
	}

	v.limitPair("cpu_guarantee", s.CPUGuarantee, "cpu_limit", s.CPULimit)
	v.limitPair("mem_guarantee", s.MemGuarantee, "mem_limit", s.MemLimit)
	v.extraResources(s.ExtraResourceGuarantees, s.ExtraResourceLimits)

	for _, k := range sortedKeys(s.NodeSelector) {
		v.labelPair("node_selector", k, s.NodeSelector[k])
	}
	if s.PriorityClassName != "" {
		v.dnsSubdomain("priority_class_name", s.PriorityClassName)
	}
	if s.ServiceAccount != "" {
		v.dnsSubdomain("service_account", s.ServiceAccount)
	}

	v.id("uid", s.UID, "user")
	v.id("gid", s.GID, "group")
	v.id("fs_gid", s.FSGID, "group")
	for _, g := range s.SupplementalGIDs {
		if g <= 0 {
			v.add("supplemental_gids", "%d is not allowed: sessions never run with the root group", g)
		}
	}
	if s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds < 0 {
		v.add("termination_grace_period_seconds", "%d is negative", *s.TerminationGracePeriodSeconds)
	}

	v.volumes(s)
	v.containers(s)

	for _, k := range sortedKeys(s.ExtraLabels) {
		if slices.Contains(managedLabelKeys, k) {
			v.add("extra_labels", "%q is set by kubedesk and cannot be overridden", k)
			continue
		}
		v.labelPair("extra_labels", k, s.ExtraLabels[k])
	}
	for _, k := range sortedKeys(s.ExtraAnnotations) {
		if slices.Contains(managedAnnotationKeys, k) {
			v.add("extra_annotations", "%q is set by kubedesk and cannot be overridden", k)
			continue
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			v.add("extra_annotations", "key %q is invalid: %s", k, strings.Join(errs, "; "))
		}
		if strings.HasPrefix(k, appArmorAnnotationPrefix) && s.ExtraAnnotations[k] == "unconfined" {
			v.privileged("extra_annotations", FieldAppArmorProfile, "%q: unconfined runs the container without AppArmor", k)
		}
	}

	v.storage(s)
	return v
}

// validator collects problems; each method checks one kind of field.
type validator struct {
	errs []error
	// privilegedErrs are the errors of privileged fields, also in errs.
	privilegedErrs []error
	// allowed holds the privileged fields the operator allowed by name.
	allowed map[string]bool
}

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// privileged reports the privileged field under key, unless the operator
// allowed it; the message says how to.
func (v *validator) privileged(key, field, format string, args ...any) {
	if v.allowed[field] {
		return
	}
	v.add(key, "%s; to allow it, list %q in allow_privileged_fields", fmt.Sprintf(format, args...), field)
	v.privilegedErrs = append(v.privilegedErrs, v.errs[len(v.errs)-1])
}

func (v *validator) dnsSubdomain(key, name string) {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		v.add(key, "%q is not a valid name: %s", name, strings.Join(errs, "; "))
	}
}

func (v *validator) labelPair(key, k, val string) {
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		v.add(key, "key %q is invalid: %s", k, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
		v.add(key, "value %q of %q is invalid: %s", val, k, strings.Join(errs, "; "))
	}
}

// quantity parses q, reporting an error under key; nil when empty or bad.
func (v *validator) quantity(key, q string) *resource.Quantity {
	if q == "" {
		return nil
	}
	parsed, err := resource.ParseQuantity(q)
	if err != nil {
		v.add(key, "%q is not a quantity (examples: 500m, 2, 4Gi)", q)
		return nil
	}
	if parsed.Sign() < 0 {
		v.add(key, "%q is negative", q)
		return nil
	}
	return &parsed
}

// limitPair checks a guarantee against its limit: Kubernetes refuses a pod
// whose request exceeds its limit, and the error would only show at spawn.
func (v *validator) limitPair(gKey, g, lKey, l string) {
	gq, lq := v.quantity(gKey, g), v.quantity(lKey, l)
	if gq != nil && lq != nil && gq.Cmp(*lq) > 0 {
		v.add(gKey, "%q is more than %s %q", g, lKey, l)
	}
}

func (v *validator) extraResources(guarantees, limits map[string]string) {
	for _, name := range sortedKeys(limits) {
		if errs := validation.IsQualifiedName(name); len(errs) > 0 {
			v.add("extra_resource_limits", "%q is not a resource name: %s", name, strings.Join(errs, "; "))
		}
	}
	for _, name := range sortedKeys(guarantees) {
		if errs := validation.IsQualifiedName(name); len(errs) > 0 {
			v.add("extra_resource_guarantees", "%q is not a resource name: %s", name, strings.Join(errs, "; "))
		}
	}
	for _, name := range sortedKeys(guarantees) {
		gKey := "extra_resource_guarantees[" + name + "]"
		lKey := "extra_resource_limits[" + name + "]"
		l, hasLimit := limits[name]
		if !hasLimit {
			v.quantity(gKey, guarantees[name])
			if isExtendedResource(name) {
				v.add(gKey, "needs the same value in extra_resource_limits: Kubernetes requires a limit for extended resources")
			}
			continue
		}
		v.limitPair(gKey, guarantees[name], lKey, l)
		// Kubernetes cannot overcommit extended resources (GPUs): their
		// request must equal their limit.
		gq, gErr := resource.ParseQuantity(guarantees[name])
		lq, lErr := resource.ParseQuantity(l)
		if isExtendedResource(name) && gErr == nil && lErr == nil && gq.Cmp(lq) < 0 {
			v.add(gKey, "%q must equal the limit %q: extended resources cannot be overcommitted", guarantees[name], l)
		}
	}
	for _, name := range sortedKeys(limits) {
		if _, paired := guarantees[name]; !paired {
			v.quantity("extra_resource_limits["+name+"]", limits[name])
		}
	}
}

// id checks a user or group ID: set, and not root. Non-root sessions are a
// product rule (docs/architecture.md, trust boundary 3), not a default.
func (v *validator) id(key string, id *int64, what string) {
	switch {
	case id == nil:
		v.add(key, "is required")
	case *id == 0:
		v.add(key, "0 is root; sessions run as a non-root %s", what)
	case *id < 0:
		v.add(key, "%d is negative", *id)
	}
}

// volumes checks volume names and that every mount names a volume the pod
// will have; Kubernetes would refuse the pod, but only at spawn time.
func (v *validator) volumes(s Settings) {
	declared := map[string]bool{}
	for _, vol := range s.Volumes {
		switch {
		case vol.Name == "":
			v.add("volumes", "a volume has no name")
			continue
		case vol.Name == SessionVolumeName || (vol.Name == HomeVolumeName && s.StorageEnsured()):
			v.add("volumes", "%q is reserved for the volume kubedesk adds", vol.Name)
		case declared[vol.Name]:
			v.add("volumes", "%q is declared twice", vol.Name)
		}
		if errs := validation.IsDNS1123Label(vol.Name); len(errs) > 0 {
			v.add("volumes", "%q is not a valid volume name: %s", vol.Name, strings.Join(errs, "; "))
		}
		if vol.HostPath != nil {
			v.privileged(fmt.Sprintf("volumes[%s]", vol.Name), FieldHostPath, "hostPath mounts the node's %s", vol.HostPath.Path)
		}
		declared[vol.Name] = true
	}
	// Z2JH configurations mount sub-paths of "home"; it exists when the
	// home PVC is ensured.
	if s.StorageEnsured() {
		declared[HomeVolumeName] = true
	}
	check := func(key string, mounts []corev1.VolumeMount) {
		for _, m := range mounts {
			if !declared[m.Name] {
				v.add(key, "mount at %q refers to volume %q, which is not in volumes", m.MountPath, m.Name)
			}
			if !path.IsAbs(m.MountPath) {
				v.add(key, "mount of %q has mountPath %q, which is not absolute", m.Name, m.MountPath)
			}
		}
	}
	check("volume_mounts", s.VolumeMounts)
	for _, c := range s.InitContainers {
		check(fmt.Sprintf("init_containers[%s].volumeMounts", c.Name), c.VolumeMounts)
	}
	for _, c := range s.ExtraContainers {
		check(fmt.Sprintf("extra_containers[%s].volumeMounts", c.Name), c.VolumeMounts)
	}
}

// containers checks init and extra containers: names unique in the pod (init
// containers share the namespace) and apart from "notebook", an image, and no
// security setting that undoes the session's non-root rule.
func (v *validator) containers(s Settings) {
	seen := map[string]bool{NotebookContainerName: true}
	check := func(key string, cs []corev1.Container) {
		for i, c := range cs {
			switch {
			case c.Name == "":
				v.add(key, "container %d has no name", i)
			case c.Name == NotebookContainerName:
				v.add(key, "%q is the session container's name", c.Name)
			case seen[c.Name]:
				v.add(key, "%q is used by two containers", c.Name)
			default:
				if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
					v.add(key, "%q is not a valid container name: %s", c.Name, strings.Join(errs, "; "))
				}
			}
			seen[c.Name] = true
			if strings.TrimSpace(c.Image) == "" {
				v.add(key, "container %q has no image", c.Name)
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					v.privileged(fmt.Sprintf("%s[%s].ports", key, c.Name), FieldHostPort, "hostPort %d binds a port of the node", p.HostPort)
				}
			}
			v.securityContext(fmt.Sprintf("%s[%s].securityContext", key, c.Name), c.SecurityContext)
		}
	}
	check("init_containers", s.InitContainers)
	check("extra_containers", s.ExtraContainers)
}

// securityContext refuses explicit settings that would run a container as
// root (always) or give it more than the session has (unless allowed by
// name); unset fields get the session's defaults when the pod is built.
func (v *validator) securityContext(key string, sc *corev1.SecurityContext) {
	if sc == nil {
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		v.privileged(key, FieldPrivileged, "privileged: true gives the container the node's devices and every capability")
	}
	if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
		v.privileged(key, FieldAllowPrivilegeEscalation, "allowPrivilegeEscalation: true lets setuid programs gain privileges")
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
		v.privileged(key, FieldCapabilities, "capabilities.add %v gives back capabilities that are dropped", sc.Capabilities.Add)
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		v.privileged(key, FieldSeccompProfile, "seccompProfile Unconfined runs the container without a seccomp filter")
	}
	if sc.AppArmorProfile != nil && sc.AppArmorProfile.Type == corev1.AppArmorProfileTypeUnconfined {
		v.privileged(key, FieldAppArmorProfile, "appArmorProfile Unconfined runs the container without AppArmor")
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		v.privileged(key, FieldProcMount, "procMount %s leaves /proc unmasked", *sc.ProcMount)
	}
	if sc.SELinuxOptions != nil {
		v.privileged(key, FieldSELinuxOptions, "seLinuxOptions choose the container's SELinux label")
	}
	if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
		v.add(key, "runAsNonRoot must be true")
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		v.add(key, "runAsUser 0 is root; containers run as a non-root user")
	}
	if sc.RunAsGroup != nil && *sc.RunAsGroup == 0 {
		v.add(key, "runAsGroup 0 is root; containers run as a non-root group")
	}
}

func (v *validator) storage(s Settings) {
	capacity := v.quantity("storage_capacity", s.StorageCapacity)
	for _, m := range s.StorageAccessModes {
		switch m {
		case corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod:
		default:
			v.add("storage_access_modes", "%q is not one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod", m)
		}
	}
	if s.StorageClass != nil && *s.StorageClass != "" {
		// "" is meaningful: it asks for no dynamic provisioning.
		v.dnsSubdomain("storage_class", *s.StorageClass)
	}
	if !s.StorageEnsured() {
		return
	}
	switch {
	case s.StorageCapacity == "":
		v.add("storage_capacity", "is required when storage_pvc_ensure is true")
	case capacity != nil && capacity.IsZero():
		v.add("storage_capacity", "%q is zero", s.StorageCapacity)
	}
	if len(s.StorageAccessModes) == 0 {
		v.add("storage_access_modes", "needs at least one mode when storage_pvc_ensure is true")
	}
	if !path.IsAbs(s.HomeMountPath) {
		v.add("home_mount_path", "%q is not an absolute path", s.HomeMountPath)
	}
}

// isExtendedResource reports whether Kubernetes treats name as an extended
// resource (nvidia.com/gpu) or huge pages: requests must equal limits.
func isExtendedResource(name string) bool {
	if strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
		return true
	}
	return strings.Contains(name, "/") && !strings.HasPrefix(name, corev1.ResourceDefaultNamespacePrefix)
}

// sortedKeys makes error lists and rendered env stable across runs.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func ptrTo[T any](v T) *T { return &v }
