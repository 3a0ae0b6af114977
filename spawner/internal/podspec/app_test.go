package podspec

import (
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"kubedesk.dev/kubedesk/spawner/catalog"
)

func sessionPod(t *testing.T) *corev1.Pod {
	t.Helper()
	pod := Pod(podInput("Jörg Müller", "gpu"))
	pod.UID = types.UID("9b1c7a52-session-uid")
	pod.Spec.NodeName = "node-7"
	pod.Spec.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	return pod
}

func itksnap() catalog.App {
	return catalog.App{
		ID: "itksnap", Name: "ITK-SNAP", Version: "4.4.0", Image: "vnmd/itksnap_4.4.0:20260117",
		Command: []string{"itksnap"}, Args: []string{"-g", "{file}"},
		Env:       map[string]string{"QT_QPA_PLATFORM": "xcb"},
		Resources: catalog.Resources{CPU: "1", Memory: "4Gi"},
	}
}

func appInput(t *testing.T) AppPodInput {
	return AppPodInput{
		Session: sessionPod(t), App: itksnap(), Instance: "x7k2p",
		Command: []string{"itksnap", "-g", "/home/jovyan/brain.nii.gz"},
		Display: ":100", XpraImage: "kubedesk/xpra-sidecar:3.1", XpraPort: 14500, PinToNode: "node-7",
	}
}

func TestAppPodGolden(t *testing.T) {
	t.Parallel()
	in := appInput(t)
	pod := AppPod(in)
	assertGolden(t, "pod-app-itksnap", pod)
	assertGolden(t, "networkpolicy-app-itksnap", AppNetworkPolicy(pod, in.Session, in.XpraPort))
}

func TestAppPod(t *testing.T) {
	t.Parallel()
	in := appInput(t)
	pod := AppPod(in)

	assert.Empty(t, validation.IsDNS1123Label(pod.Name), pod.Name)
	for k, v := range pod.Labels {
		assert.Empty(t, validation.IsValidLabelValue(v), "%s=%s", k, v)
	}
	require.Len(t, pod.OwnerReferences, 1, "owned by the session pod, so stopping the session removes it")
	assert.Equal(t, in.Session.UID, pod.OwnerReferences[0].UID)
	assert.Equal(t, "Jörg Müller", pod.Annotations[AnnotationUsername])
	assert.Equal(t, in.Session.Labels[LabelUsername], pod.Labels[LabelUsername])
	assert.False(t, *pod.Spec.AutomountServiceAccountToken)
	assert.Equal(t, corev1.RestartPolicyNever, pod.Spec.RestartPolicy, "the app's exit ends the pod")

	require.Len(t, pod.Spec.InitContainers, 1)
	xpra := pod.Spec.InitContainers[0]
	assert.Equal(t, corev1.ContainerRestartPolicyAlways, *xpra.RestartPolicy, "a native sidecar: started first, ended with the app")
	require.NotNil(t, xpra.StartupProbe, "the app starts only when Xpra listens")
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		sc := c.SecurityContext
		assert.True(t, *sc.RunAsNonRoot, c.Name)
		assert.Equal(t, int64(DefaultUID), *sc.RunAsUser, c.Name)
		assert.False(t, *sc.AllowPrivilegeEscalation, c.Name)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c.Name)
	}

	app := pod.Spec.Containers[0]
	assert.Equal(t, in.Command, app.Command, "the command line is passed as argv, never through a shell")
	assert.Contains(t, app.Env, corev1.EnvVar{Name: "DISPLAY", Value: ":100"})
	assert.Contains(t, app.Env, corev1.EnvVar{Name: "HOME", Value: "/home/jovyan"})
	assert.Equal(t, "/home/jovyan", app.WorkingDir, "the app starts in the home directory")
	assert.Equal(t, "4Gi", app.Resources.Limits.Memory().String())

	var homeClaim string
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			homeClaim = v.PersistentVolumeClaim.ClaimName
		}
	}
	assert.Equal(t, NewNames("Jörg Müller", "gpu").PVC, homeClaim, "the app sees the session's home")

	terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	assert.Equal(t, []string{"node-7"}, terms[0].MatchFields[0].Values, "a ReadWriteOnce home pins the app to the session's node")
	assert.Contains(t, pod.Spec.Tolerations, in.Session.Spec.Tolerations[0])

	data, err := json.Marshal(pod)
	require.NoError(t, err)
	assert.NotContains(t, string(data), SessionTokenKey, "the app pod never sees the session token")
}

func TestAppPodWithoutPinning(t *testing.T) {
	t.Parallel()
	in := appInput(t)
	in.PinToNode = ""
	in.App.Placement = catalog.Placement{NodeSelector: map[string]string{"kubedesk.dev/gpu": "true"},
		Tolerations: []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}
	in.App.Resources.GPU = "1"
	pod := AppPod(in)
	assert.Nil(t, pod.Spec.Affinity)
	assert.Equal(t, map[string]string{"kubedesk.dev/gpu": "true"}, pod.Spec.NodeSelector)
	assert.Len(t, pod.Spec.Tolerations, 1, "only the app's own tolerations")
	gpu := pod.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
	assert.Equal(t, "1", gpu.String())
}

func TestAppPodName(t *testing.T) {
	t.Parallel()
	long := AppPodName("jupyter-averyveryveryverylongusername-with-dashes", "a-very-long-application-id", "x7k2p")
	assert.LessOrEqual(t, len(long), 63)
	assert.Empty(t, validation.IsDNS1123Label(long), long)
	assert.Equal(t, "jupyter-alice-xterm-x7k2p", AppPodName("jupyter-alice", "xterm", "x7k2p"))
}

func TestAppSecretAndPolicy(t *testing.T) {
	t.Parallel()
	in := appInput(t)
	pod := AppPod(in)
	pod.UID = "app-uid"
	secret := AppSecret(pod, XpraCredentials{Password: "s3cret", EncryptionKey: "k3y"})
	assert.Equal(t, pod.Name, secret.Name, "the sidecar mounts the Secret named after its pod")
	assert.Equal(t, types.UID("app-uid"), secret.OwnerReferences[0].UID)
	// Every file the sidecar is told to read is a key of that Secret: the
	// password for --tcp-auth, the key for --tcp-encryption.
	files := map[string]string{}
	for _, e := range pod.Spec.InitContainers[0].Env {
		if strings.HasSuffix(e.Name, "_FILE") {
			dir, key := path.Split(e.Value)
			assert.Equal(t, XpraAuthMountPath+"/", dir, e.Name)
			files[e.Name] = string(secret.Data[key])
		}
	}
	assert.Equal(t, map[string]string{"XPRA_PASSWORD_FILE": "s3cret", "XPRA_ENCRYPTION_KEY_FILE": "k3y"}, files)

	np := AppNetworkPolicy(pod, in.Session, in.XpraPort)
	assert.Equal(t, in.Instance, np.Spec.PodSelector.MatchLabels[LabelAppInstance])
	require.Len(t, np.Spec.Ingress, 1)
	from := np.Spec.Ingress[0].From[0].PodSelector.MatchLabels
	assert.Equal(t, ComponentSession, from[LabelComponent], "only the owning session pod may connect")
	assert.Equal(t, in.Session.Labels[LabelUsername], from[LabelUsername])
	assert.Equal(t, int32(14500), np.Spec.Ingress[0].Ports[0].Port.IntVal)
}
