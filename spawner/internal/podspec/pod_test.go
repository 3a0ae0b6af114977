package podspec

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

const (
	testNamespace = "jhub"
	testToken     = "hub-api-token-4f1d9c0b7a6e" // stands for JUPYTERHUB_API_TOKEN
)

// podInput returns the input of a plain session; cases change what they test.
func podInput(user, server string) PodInput {
	return PodInput{
		Namespace:     testNamespace,
		Names:         NewNames(user, server),
		Settings:      Defaults(),
		ServicePrefix: "/user/" + user + "/" + server,
	}
}

// goldenCases are the pods whose YAML is pinned under testdata.
func goldenCases() map[string]PodInput {
	plain := podInput("alice", "")
	plain.ServicePrefix = "/user/alice/"

	gpu := podInput("alice", "gpu-2")
	gpu.ServicePrefix = "/user/alice/gpu-2/"
	gpu.Profile = "gpu-large"
	gpu.Settings.Image = "kubedesk/desktop-cuda:2025.1"
	gpu.Settings.ImagePullPolicy = corev1.PullIfNotPresent
	gpu.Settings.ImagePullSecrets = []string{"registry-credentials"}
	gpu.Settings.CPUGuarantee, gpu.Settings.CPULimit = "2", "8"
	gpu.Settings.MemGuarantee, gpu.Settings.MemLimit = "8Gi", "32Gi"
	gpu.Settings.ExtraResourceLimits = map[string]string{"nvidia.com/gpu": "1"}
	gpu.Settings.NodeSelector = map[string]string{"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
	gpu.Settings.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	gpu.Settings.NodeAffinityRequired = []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: "hub.jupyter.org/node-purpose", Operator: corev1.NodeSelectorOpIn, Values: []string{"user"}},
	}}}
	gpu.Settings.NodeAffinityPreferred = []corev1.PreferredSchedulingTerm{{Weight: 50, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"europe-west4-a"}}},
	}}}
	gpu.Settings.PodAffinityPreferred = []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelComponent: ComponentSession}},
		TopologyKey:   "kubernetes.io/hostname",
	}}}
	gpu.Settings.PodAntiAffinityRequired = []corev1.PodAffinityTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelProfile: "gpu-large"}},
		TopologyKey:   "kubernetes.io/hostname",
	}}
	gpu.Settings.PriorityClassName = "jhub-default-priority"
	gpu.Settings.SchedulerName = "jhub-user-scheduler"
	gpu.Settings.DefaultURL = "/desktop"
	gpu.Settings.Environment = map[string]string{"NVIDIA_DRIVER_CAPABILITIES": "all", "CPU_LIMIT": "7"}
	gpu.Settings.TerminationGracePeriodSeconds = ptrTo[int64](10)

	extras := podInput("bob", "")
	extras.ServicePrefix = "/user/bob/"
	extras.Profile = "neuro"
	extras.HubEnvSecret = "custom-hub-env"
	extras.Settings.Cmd = []string{"start-desktop.sh"}
	extras.Settings.Args = []string{"--debug"}
	extras.Settings.WorkingDir = "/home/jovyan/work"
	extras.Settings.UID = ptrTo[int64](1001)
	extras.Settings.GID = ptrTo[int64](1001)
	extras.Settings.FSGID = ptrTo[int64](2000)
	extras.Settings.SupplementalGIDs = []int64{3000}
	extras.Settings.ServiceAccount = "workload-identity"
	extras.Settings.Volumes = []corev1.Volume{
		{Name: "x11", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "neurodesk-cvmfs", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cvmfs", ReadOnly: true}}},
	}
	extras.Settings.VolumeMounts = []corev1.VolumeMount{
		{Name: "x11", MountPath: "/tmp/.X11-unix"},
		{Name: "neurodesk-cvmfs", MountPath: "/cvmfs", ReadOnly: true},
		{Name: HomeVolumeName, MountPath: "/shared", SubPath: "shared"},
	}
	extras.Settings.InitContainers = []corev1.Container{{
		Name: "fix-home", Image: "busybox:1.37", Command: []string{"sh", "-c", "mkdir -p /home/jovyan/Desktop"},
		VolumeMounts: []corev1.VolumeMount{{Name: HomeVolumeName, MountPath: "/home/jovyan"}},
	}}
	extras.Settings.ExtraContainers = []corev1.Container{{
		Name: "xpra", Image: "kubedesk/xpra:6",
		VolumeMounts:    []corev1.VolumeMount{{Name: "x11", MountPath: "/tmp/.X11-unix"}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptrTo[int64](65534), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}},
	}}
	extras.Settings.ExtraLabels = map[string]string{"hub.jupyter.org/network-access-hub": "true"}
	extras.Settings.ExtraAnnotations = map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}

	unicode := podInput("Jörg Müller", "Mein Desktop")
	unicode.ServicePrefix = "/user/J%C3%B6rg%20M%C3%BCller/Mein%20Desktop/"
	unicode.Profile = "Small (2 CPU)"
	unicode.Settings.StoragePVCEnsure = ptrTo(false)

	return map[string]PodInput{"plain": plain, "gpu": gpu, "extras": extras, "unicode-named-server": unicode}
}

func TestPodGolden(t *testing.T) {
	t.Parallel()
	for name, in := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, in.Settings.Validate(), "golden inputs are valid settings")
			assertGolden(t, "pod-"+name, Pod(in))
		})
	}
}

func TestSecretAndPVCGolden(t *testing.T) {
	t.Parallel()
	in := goldenCases()["plain"]
	pod := Pod(in)
	pod.UID = types.UID("0b5c8f0e-3f8a-4a8e-9d0e-6d7c2b1a9f00") // as the API server would assign
	assertGolden(t, "secret-plain", HubEnvSecret(testNamespace, in.Names, pod, hubEnv(in.Names), pod.Labels))

	s := Defaults()
	s.StorageClass = ptrTo("standard-rwo")
	assertGolden(t, "pvc-plain", HomePVC(testNamespace, in.Names, s, StorageLabels(in.Names)))
}

func assertGolden(t *testing.T, name string, obj any) {
	t.Helper()
	got, err := yaml.Marshal(obj)
	require.NoError(t, err)
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./spawner/internal/podspec -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; if the change is intended, run go test ./spawner/internal/podspec -update", path)
}

// hubEnv is a hub environment as JupyterHub's get_env makes it.
func hubEnv(n Names) map[string]string {
	return map[string]string{
		"JUPYTERHUB_API_TOKEN":      testToken,
		"JPY_API_TOKEN":             testToken,
		"JUPYTERHUB_CLIENT_ID":      "jupyterhub-user-" + n.User,
		"JUPYTERHUB_API_URL":        "http://hub:8081/hub/api",
		"JUPYTERHUB_SERVICE_PREFIX": "/user/" + n.User + "/",
		"JUPYTERHUB_USER":           n.User,
		"JUPYTERHUB_SERVER_NAME":    n.Server,
		SessionTokenKey:             "session-token-9e8d",
	}
}

// TestTokenOnlyInSecret guards checklist item 5: the hub's token lives in the
// Secret and nowhere else, whatever the settings.
func TestTokenOnlyInSecret(t *testing.T) {
	t.Parallel()
	for name, in := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := Pod(in)
			pod.UID = "uid-1"
			podJSON, err := json.Marshal(pod)
			require.NoError(t, err)
			assert.NotContains(t, string(podJSON), testToken)
			assert.NotContains(t, string(podJSON), "session-token-9e8d")

			pvcJSON, err := json.Marshal(HomePVC(in.Namespace, in.Names, in.Settings, StorageLabels(in.Names)))
			require.NoError(t, err)
			assert.NotContains(t, string(pvcJSON), testToken)

			secret := HubEnvSecret(in.Namespace, in.Names, pod, hubEnv(in.Names), pod.Labels)
			assert.Equal(t, testToken, string(secret.Data["JUPYTERHUB_API_TOKEN"]))
			for k, v := range secret.Annotations {
				assert.NotContains(t, v, testToken, "annotation %s", k)
			}
			for k, v := range secret.Labels {
				assert.NotContains(t, v, testToken, "label %s", k)
			}
		})
	}
}

func TestPodSecurity(t *testing.T) {
	t.Parallel()
	for name, in := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pod := Pod(in)
			uid, gid := *in.Settings.UID, *in.Settings.GID

			assert.Equal(t, ptrTo(false), pod.Spec.AutomountServiceAccountToken)
			assert.Equal(t, ptrTo(false), pod.Spec.EnableServiceLinks)
			psc := pod.Spec.SecurityContext
			require.NotNil(t, psc)
			assert.Equal(t, ptrTo(true), psc.RunAsNonRoot)
			assert.Equal(t, in.Settings.FSGID, psc.FSGroup)
			assert.Equal(t, in.Settings.SupplementalGIDs, psc.SupplementalGroups)

			all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
			for _, c := range all {
				sc := c.SecurityContext
				require.NotNil(t, sc, c.Name)
				assert.Equal(t, ptrTo(true), sc.RunAsNonRoot, c.Name)
				assert.NotZero(t, *sc.RunAsUser, c.Name)
				assert.Equal(t, ptrTo(false), sc.AllowPrivilegeEscalation, c.Name)
				assert.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"), c.Name)
				assert.Empty(t, sc.Capabilities.Add, c.Name)
				assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type, c.Name)
				assert.Nil(t, sc.Privileged, c.Name)
				if c.Name != "xpra" {
					assert.Equal(t, uid, *sc.RunAsUser, c.Name)
				}
				assert.Equal(t, gid, *sc.RunAsGroup, c.Name)
			}
		})
	}

	t.Run("a sidecar keeps its own narrower settings", func(t *testing.T) {
		t.Parallel()
		xpra := Pod(goldenCases()["extras"]).Spec.Containers[1]
		require.Equal(t, "xpra", xpra.Name)
		assert.Equal(t, int64(65534), *xpra.SecurityContext.RunAsUser)
		assert.Equal(t, []corev1.Capability{"NET_RAW", "ALL"}, xpra.SecurityContext.Capabilities.Drop)
	})
}

func TestPodLabelsAndAnnotations(t *testing.T) {
	t.Parallel()
	in := goldenCases()["unicode-named-server"]
	// Validate would refuse these; the builder must hold its ground anyway.
	in.Settings.ExtraLabels = map[string]string{LabelComponent: "other", LabelUsername: "mallory", "team": "neuro"}
	in.Settings.ExtraAnnotations = map[string]string{AnnotationUsername: "mallory", "note": "x"}
	pod := Pod(in)

	assert.Equal(t, map[string]string{
		LabelName:         "kubedesk",
		LabelManagedBy:    "kubedesk",
		LabelAppComponent: "singleuser-server",
		LabelComponent:    "singleuser-server",
		LabelUsername:     in.Names.SafeUser,
		LabelServername:   in.Names.SafeServer,
		LabelProfile:      SafeSlug("Small (2 CPU)"),
		"team":            "neuro",
	}, pod.Labels)
	for k, v := range pod.Labels {
		assert.Empty(t, validation.IsQualifiedName(k), k)
		assert.Empty(t, validation.IsValidLabelValue(v), "%s=%s", k, v)
	}
	assert.Equal(t, map[string]string{
		AnnotationUsername:   "Jörg Müller",
		AnnotationServername: "Mein Desktop",
		AnnotationProfile:    "Small (2 CPU)",
		"note":               "x",
	}, pod.Annotations)

	selector, err := labels.Parse(SessionSelector())
	require.NoError(t, err)
	assert.True(t, selector.Matches(labels.Set(pod.Labels)), "informers find the pod")
	assert.False(t, selector.Matches(labels.Set(StorageLabels(in.Names))), "informers skip PVC labels")
}

func TestSessionSelector(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "app.kubernetes.io/managed-by=kubedesk,component=singleuser-server", SessionSelector())
}

func TestPodEnvironment(t *testing.T) {
	t.Parallel()
	in := podInput("alice", "")
	in.Settings.MemLimit, in.Settings.MemGuarantee = "2G", "1Gi"
	in.Settings.CPULimit, in.Settings.CPUGuarantee = "1500m", "0.5"
	in.Settings.DefaultURL = "/lab"
	in.Settings.Environment = map[string]string{"MEM_LIMIT": "override", "ZZZ": "last", "AAA": "first"}
	c := Pod(in).Spec.Containers[0]

	values := map[string]string{}
	var order []string
	for _, e := range c.Env {
		_, dup := values[e.Name]
		require.False(t, dup, "%s is listed twice", e.Name)
		values[e.Name] = e.Value
		order = append(order, e.Name)
	}
	assert.Equal(t, "override", values["MEM_LIMIT"], "Environment wins")
	assert.Equal(t, "1073741824", values["MEM_GUARANTEE"], "bytes, as JupyterHub writes them")
	assert.Equal(t, "1.5", values["CPU_LIMIT"])
	assert.Equal(t, "0.5", values["CPU_GUARANTEE"])
	assert.Equal(t, "/lab", values[EnvDefaultURL])
	assert.Equal(t, []string{
		EnvPodIP, EnvPodName, EnvPodNamespace, EnvDefaultURL, "CPU_LIMIT", "MEM_GUARANTEE", "CPU_GUARANTEE",
		"AAA", "MEM_LIMIT", "ZZZ", // Environment comes last, sorted
	}, order)
	assert.Equal(t, "status.podIP", c.Env[0].ValueFrom.FieldRef.FieldPath)

	require.Len(t, c.EnvFrom, 1)
	assert.Equal(t, in.Names.Secret, c.EnvFrom[0].SecretRef.Name, "hub env comes from the Secret")
	assert.Nil(t, c.EnvFrom[0].SecretRef.Optional, "the kubelet waits for the Secret")
}

// The launcher agent learns where the service is and, for its https URL,
// which CA to trust; neither is set when the service has none.
func TestPodServiceEndpoint(t *testing.T) {
	t.Parallel()
	env := func(in PodInput) map[string]string {
		out := map[string]string{}
		for _, e := range Pod(in).Spec.Containers[0].Env {
			out[e.Name] = e.Value
		}
		return out
	}
	in := podInput("alice", "")
	in.ServiceURL, in.ServiceCA = "https://kubedesk-spawner.jhub.svc:8080", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	got := env(in)
	assert.Equal(t, in.ServiceURL, got[EnvServiceURL])
	assert.Equal(t, in.ServiceCA, got[EnvServiceCA])
	got = env(podInput("alice", ""))
	assert.NotContains(t, got, EnvServiceURL)
	assert.NotContains(t, got, EnvServiceCA)
}

func TestPodResources(t *testing.T) {
	t.Parallel()
	in := podInput("alice", "")
	in.Settings.CPULimit = "2"
	in.Settings.ExtraResourceLimits = map[string]string{"nvidia.com/gpu": "1", "ephemeral-storage": "20Gi"}
	in.Settings.ExtraResourceGuarantees = map[string]string{"ephemeral-storage": "5Gi"}
	r := Pod(in).Spec.Containers[0].Resources

	assert.Equal(t, corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("2"),
		"nvidia.com/gpu":                resource.MustParse("1"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
	}, r.Limits)
	assert.Equal(t, corev1.ResourceList{
		"nvidia.com/gpu":                resource.MustParse("1"),
		corev1.ResourceEphemeralStorage: resource.MustParse("5Gi"),
	}, r.Requests, "a GPU limit implies the same request; CPU is left to Kubernetes' defaulting")

	plain := Pod(podInput("alice", "")).Spec.Containers[0].Resources
	assert.Nil(t, plain.Limits)
	assert.Nil(t, plain.Requests)
}

func TestPodStorage(t *testing.T) {
	t.Parallel()
	in := podInput("alice", "")
	pod := Pod(in)
	require.Equal(t, HomeVolumeName, pod.Spec.Volumes[0].Name)
	assert.Equal(t, in.Names.PVC, pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)
	assert.Equal(t, corev1.VolumeMount{Name: HomeVolumeName, MountPath: "/home/jovyan"}, pod.Spec.Containers[0].VolumeMounts[0])

	in.Settings.StoragePVCEnsure = ptrTo(false)
	pod = Pod(in)
	for _, v := range pod.Spec.Volumes {
		assert.NotEqual(t, HomeVolumeName, v.Name)
	}
}

func TestPodSessionTokenMount(t *testing.T) {
	t.Parallel()
	in := podInput("alice", "")
	in.HubEnvSecret = "env-secret"
	pod := Pod(in)
	var vol *corev1.Volume
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == SessionVolumeName {
			vol = &pod.Spec.Volumes[i]
		}
	}
	require.NotNil(t, vol)
	assert.Equal(t, "env-secret", vol.Secret.SecretName)
	assert.Equal(t, []corev1.KeyToPath{{Key: SessionTokenKey, Path: SessionTokenFile}}, vol.Secret.Items, "only the token becomes a file")
	assert.Equal(t, ptrTo(true), vol.Secret.Optional)
	assert.Contains(t, pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: SessionVolumeName, MountPath: "/etc/kubedesk/session", ReadOnly: true})
	assert.Empty(t, validation.IsEnvVarName(SessionTokenKey))
}

func TestReadinessPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, prefix, want string }{
		{"hub prefix", "/user/alice/", "/user/alice/api"},
		{"named server", "/user/alice/gpu-2/", "/user/alice/gpu-2/api"},
		{"no trailing slash", "/user/alice", "/user/alice/api"},
		{"no leading slash", "user/alice/", "/user/alice/api"},
		{"empty", "", "/api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, readinessPath(tt.prefix))
		})
	}
}

func TestPodDoesNotAliasSettings(t *testing.T) {
	t.Parallel()
	in := goldenCases()["extras"]
	before, err := json.Marshal(in.Settings)
	require.NoError(t, err)

	pod := Pod(in)
	pod.Spec.Volumes[len(pod.Spec.Volumes)-1].Name = "changed"
	pod.Spec.Containers[1].SecurityContext.Capabilities.Drop[0] = "CHANGED"
	pod.Spec.Containers[1].VolumeMounts[0].Name = "changed"
	pod.Spec.SecurityContext.SupplementalGroups[0] = 1
	*pod.Spec.SecurityContext.FSGroup = 1
	pod.Labels["team"] = "changed"

	after, err := json.Marshal(in.Settings)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after))
}

func TestPodArgs(t *testing.T) {
	t.Parallel()
	in := podInput("alice", "")
	assert.Nil(t, Pod(in).Spec.Containers[0].Args, "no cmd keeps the image's CMD")
	assert.Nil(t, Pod(in).Spec.Containers[0].Command, "the image's ENTRYPOINT always stays")
	in.Settings.Cmd = []string{"jupyterhub-singleuser"}
	in.Settings.Args = []string{"--debug"}
	assert.Equal(t, []string{"jupyterhub-singleuser", "--debug"}, Pod(in).Spec.Containers[0].Args)
}

func TestHubEnvSecret(t *testing.T) {
	t.Parallel()
	n := NewNames("alice", "")
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n.Pod, UID: "uid-1"}}
	s := HubEnvSecret(testNamespace, n, owner, hubEnv(n), Labels(n, ""))
	assert.Equal(t, n.Pod, s.Name)
	assert.Equal(t, corev1.SecretTypeOpaque, s.Type)
	assert.Equal(t, []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Pod", Name: n.Pod, UID: "uid-1",
		Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true),
	}}, s.OwnerReferences)
	assert.Equal(t, Labels(n, ""), s.Labels)

	assert.Empty(t, HubEnvSecret(testNamespace, n, nil, nil, nil).OwnerReferences)
}

func TestHomePVC(t *testing.T) {
	t.Parallel()
	n := NewNames("Jörg Müller", "")
	pvc := HomePVC(testNamespace, n, Defaults(), StorageLabels(n))
	assert.Equal(t, n.PVC, pvc.Name)
	assert.Empty(t, pvc.OwnerReferences, "the home outlives the pod")
	assert.Nil(t, pvc.Spec.StorageClassName, "the cluster's default class")
	assert.Equal(t, resource.MustParse("10Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pvc.Spec.AccessModes)
	assert.Equal(t, "Jörg Müller", pvc.Annotations[AnnotationUsername])
	assert.Equal(t, ComponentStorage, pvc.Labels[LabelComponent])
	assert.NotContains(t, pvc.Labels, LabelProfile)

	s := Defaults()
	s.StorageClass = ptrTo("")
	assert.Equal(t, ptrTo(""), HomePVC(testNamespace, n, s, nil).Spec.StorageClassName, `"" asks for no dynamic provisioning`)
}

func TestGoldenFilesAreValidYAMLOfTheirKind(t *testing.T) {
	t.Parallel()
	if *update {
		t.Skip("files are being rewritten")
	}
	files, err := filepath.Glob("testdata/*.golden.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var meta metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal(b, &meta), f)
		kind := strings.SplitN(filepath.Base(f), "-", 2)[0]
		assert.Equal(t, map[string]string{"pod": "Pod", "secret": "Secret", "pvc": "PersistentVolumeClaim", "networkpolicy": "NetworkPolicy"}[kind], meta.Kind, f)
	}
}
