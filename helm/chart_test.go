package helm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	chartDir = "kubedesk"
	// release is the release name the examples assume: it gives the
	// Service and Secret the name kubedesk-spawner.
	release = "kubedesk"
	// goldenNamespace is the namespace of the golden renders.
	goldenNamespace = "jhub"

	// Fixed secrets for renders that must not change between runs; without
	// them the chart generates new ones on every `helm template`.
	goldenHubToken    = "golden-hub-token-0123456789abcdef"
	goldenSessionKey  = "golden-session-signing-key-0123456789abcdef"
	goldenHubAPIToken = "golden-hub-api-token-0123456789abcdef"

	// Named bounds for waits on the cluster and the service.
	waitReady = 90 * time.Second
	waitGone  = 60 * time.Second
)

// valuesCase is one values file the chart is rendered with: the defaults,
// each example, and one that sets nearly every option.
type valuesCase struct {
	name   string
	values []string
}

var valuesCases = []valuesCase{
	{name: "default"},
	{name: "z2jh-example", values: []string{"../examples/z2jh/kubedesk-values.yaml"}},
	{name: "full", values: []string{"testdata/full-values.yaml"}},
	// The Zero to JupyterHub example with the Neurodesk-subset catalog.
	{name: "catalog", values: []string{"../examples/z2jh/kubedesk-values.yaml", catalogValues}},
}

const (
	// catalogExample is the example app catalog; catalogValues holds the
	// same file as kubedesk's sessions.catalog, generated from it.
	catalogExample = "../examples/catalog/neurodesk-subset.yaml"
	catalogValues  = "../examples/catalog/kubedesk-values.yaml"
)

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary builds helm from its Go module once (hack/helm.sh caches it in
// .cache/bin). Under -short it is not built: the test skips unless it is
// there already.
func helmBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	if testing.Short() {
		if _, err := os.Stat(filepath.Join(root, ".cache", "bin", "helm")); err != nil {
			t.Skip("helm is not built yet (hack/helm.sh, ~1.5 min once); skipped under -short")
		}
	}
	helmOnce.Do(func() {
		cmd := exec.Command(filepath.Join(root, "hack", "helm.sh"), "path")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			helmErr = fmt.Errorf("hack/helm.sh: %w", err)
			return
		}
		helmPath = strings.TrimSpace(string(out))
	})
	require.NoError(t, helmErr)
	return helmPath
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// helm runs helm and returns its stdout, or an error that holds its stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render runs helm template for the release in namespace with the values
// files and --set flags.
func render(t *testing.T, namespace string, values []string, sets ...string) (string, error) {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return helm(t, args...)
}

func mustRender(t *testing.T, namespace string, values []string, sets ...string) string {
	t.Helper()
	out, err := render(t, namespace, values, sets...)
	require.NoError(t, err)
	return out
}

// manifest is a render split into objects.
type manifest []*unstructured.Unstructured

func parse(t *testing.T, rendered string) manifest {
	t.Helper()
	var m manifest
	for _, doc := range strings.Split(rendered, "\n---\n") {
		obj := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		if len(obj) == 0 {
			continue
		}
		m = append(m, &unstructured.Unstructured{Object: obj})
	}
	return m
}

// one returns the only object of kind, failing the test otherwise.
func (m manifest) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range m {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "objects of kind %s", kind)
	return found[0]
}

// without drops the objects of the given kinds.
func (m manifest) without(kinds ...string) manifest {
	var out manifest
	for _, o := range m {
		keep := true
		for _, k := range kinds {
			if o.GetKind() == k {
				keep = false
			}
		}
		if keep {
			out = append(out, o)
		}
	}
	return out
}

func (m manifest) yaml(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range m {
		data, err := yaml.Marshal(o.Object)
		require.NoError(t, err)
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return buf.Bytes()
}

func decode[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out))
	return out
}

func TestLint(t *testing.T) {
	t.Parallel()
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"lint", "--strict", chartDir}
			for _, v := range tc.values {
				args = append(args, "--values", v)
			}
			out, err := helm(t, args...)
			require.NoError(t, err, out)
		})
	}
}

// TestGolden compares each render with testdata/<case>.golden. To update
// them: go test ./helm -run TestGolden -update (or make update-helm).
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := mustRender(t, goldenNamespace, tc.values,
				"spawner.auth.hubToken="+goldenHubToken, "spawner.auth.sessionSigningKey="+goldenSessionKey,
				"spawner.auth.hubAPIToken="+goldenHubAPIToken)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create it")
			assert.Equal(t, string(want), got, "render differs from %s; run with -update if the change is intended", path)
		})
	}
}

func TestSchemaRejectsUnknownKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		values string
		// key is the misspelt key the error must name.
		key string
	}{
		{"top level", "sesions: {}", "sesions"},
		{"service setting", "spawner: {config: {spawnTimout: 1m}}", "spawnTimout"},
		{"image", "spawner: {image: {repo: x}}", "repo"},
		{"session defaults", "sessions: {defaults: {cpu_limits: '2'}}", "cpu_limits"},
		{"profile", "sessions: {profiles: [{display_name: A, kubespawner_overide: {}}]}", "kubespawner_overide"},
		{"profile override", "sessions: {profiles: [{display_name: A, kubespawner_override: {mem_limt: 1G}}]}", "mem_limt"},
		{"egress rule", "sessions: {networkPolicy: {egressAllowRules: {privateIP: true}}}", "privateIP"},
		{"catalog app", "sessions: {catalog: [{id: a, version: '1', image: 'a:1', command: [a], comand: [b]}]}", "comand"},
		{"catalog resources", "sessions: {catalog: [{id: a, version: '1', image: 'a:1', command: [a], resources: {gpus: 1}}]}", "gpus"},
		{"apps", "spawner: {apps: {maxPerSesion: 2}}", "maxPerSesion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "values.yaml")
			require.NoError(t, os.WriteFile(file, []byte(tc.values), 0o600))
			_, err := render(t, goldenNamespace, []string{file})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "additional properties '"+tc.key+"' not allowed")
		})
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, set, want string }{
		{"duration", "spawner.config.spawnTimeout=4 minutes", "/spawner/config/spawnTimeout"},
		{"log level", "spawner.config.logLevel=verbose", "/spawner/config/logLevel"},
		{"short hub token", "spawner.auth.hubToken=short", "/spawner/auth/hubToken"},
		{"connection cap", "spawner.config.maxConnections=8", "/spawner/config/maxConnections"},
		{"no progress streams", "spawner.config.maxProgressStreams=0", "/spawner/config/maxProgressStreams"},
		{"no launch files", "spawner.apps.maxLaunchFiles=0", "/spawner/apps/maxLaunchFiles"},
		{"launch argument bytes", "spawner.apps.maxLaunchArgBytes=100", "/spawner/apps/maxLaunchArgBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, goldenNamespace, nil, tc.set)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestRenderRefusesStreamsAtConnectionCap: progress streams at or above the
// connection cap would let streams take every connection; the service
// refuses to start so, and the render says it first.
func TestRenderRefusesStreamsAtConnectionCap(t *testing.T) {
	t.Parallel()
	_, err := render(t, goldenNamespace, nil, "spawner.config.maxConnections=64", "spawner.config.maxProgressStreams=64")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spawner.config.maxProgressStreams (64) must be below spawner.config.maxConnections (64)")
}

// By default two replicas compete for a Lease: each is told the Lease and
// its own pod name, the scheduler is asked to keep them apart, a rollout
// replaces them at once (only the leader is ever ready, so a rollout that
// waited for readiness would never end), and the Role already grants what
// the Lease needs. One replica without election runs as it always has.
func TestReplicasWithLeaderElection(t *testing.T) {
	t.Parallel()
	m := parse(t, mustRender(t, goldenNamespace, nil))
	dep := decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	assert.Equal(t, int32(2), *dep.Spec.Replicas)
	assert.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, dep.Spec.Strategy.Type)
	assert.Equal(t, "100%", dep.Spec.Strategy.RollingUpdate.MaxUnavailable.String())
	c := dep.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	assert.Equal(t, "true", env["KUBEDESK_LEADER_ELECTION"].Value)
	assert.Equal(t, "kubedesk-spawner", env["KUBEDESK_LEADER_ELECTION_LEASE"].Value)
	require.NotNil(t, env["POD_NAME"].ValueFrom)
	assert.Equal(t, "metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	anti := dep.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	require.Len(t, anti, 1)
	assert.Equal(t, "kubernetes.io/hostname", anti[0].PodAffinityTerm.TopologyKey)
	assert.Equal(t, dep.Spec.Selector.MatchLabels, anti[0].PodAffinityTerm.LabelSelector.MatchLabels)
	assert.Len(t, m.without("PodDisruptionBudget"), len(m), "no PodDisruptionBudget: it would forbid evicting the one ready pod, the leader")

	role := decode[rbacv1.Role](t, m.one(t, "Role"))
	var leaseVerbs []string
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "coordination.k8s.io") && slices.Contains(r.Resources, "leases") {
			leaseVerbs = append(leaseVerbs, r.Verbs...)
		}
	}
	assert.Subset(t, leaseVerbs, []string{"get", "create", "update"}, "the leader Lease")

	// An operator's affinity wins over the chart's.
	m = parse(t, mustRender(t, goldenNamespace, nil, "spawner.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
		"spawner.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists"))
	dep = decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	assert.Nil(t, dep.Spec.Template.Spec.Affinity.PodAntiAffinity)
	assert.NotNil(t, dep.Spec.Template.Spec.Affinity.NodeAffinity)

	m = parse(t, mustRender(t, goldenNamespace, nil, "spawner.replicas=1", "spawner.leaderElection=false"))
	dep = decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	assert.Equal(t, int32(1), *dep.Spec.Replicas)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, dep.Spec.Strategy.Type)
	assert.Nil(t, dep.Spec.Template.Spec.Affinity)
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		assert.NotContains(t, []string{"KUBEDESK_LEADER_ELECTION", "POD_NAME"}, e.Name)
	}

	_, err := render(t, goldenNamespace, nil, "spawner.replicas=3", "spawner.leaderElection=false")
	require.ErrorContains(t, err, "spawner.replicas is 3 but spawner.leaderElection is off")
}

func TestUserNamespacesNotSupportedYet(t *testing.T) {
	t.Parallel()
	_, err := render(t, goldenNamespace, nil, "userNamespaces.enabled=true")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "per-user namespaces are not supported by the kubedesk spawner service yet")
}

func TestGeneratedSecretsAreStrongAndDistinct(t *testing.T) {
	t.Parallel()
	secret := decode[corev1.Secret](t, parse(t, mustRender(t, goldenNamespace, nil)).one(t, "Secret"))
	token, key, hubAPI := secret.Data["hub-token"], secret.Data["session-signing-key"], secret.Data["hub-api-token"]
	assert.Len(t, token, 48)
	assert.Len(t, key, 48)
	assert.Len(t, hubAPI, 48)
	assert.NotEqual(t, token, key)
	assert.NotEqual(t, token, hubAPI, "the hub's token for the service and the service's for the hub are two")
	assert.Equal(t, "keep", secret.Annotations["helm.sh/resource-policy"])
}

func TestDeploymentHardening(t *testing.T) {
	t.Parallel()
	m := parse(t, mustRender(t, goldenNamespace, nil))
	dep := decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	assert.True(t, *pod.AutomountServiceAccountToken, "the service needs the API")
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	assert.NotEmpty(t, dep.Spec.Template.Annotations["checksum/config"])
	assert.NotEmpty(t, dep.Spec.Template.Annotations["checksum/secret"])

	// A change of the profiles rolls the pod.
	m2 := parse(t, mustRender(t, goldenNamespace, nil, "sessions.defaults.image=other:1"))
	dep2 := decode[appsv1.Deployment](t, m2.one(t, "Deployment"))
	assert.NotEqual(t, dep.Spec.Template.Annotations["checksum/config"], dep2.Spec.Template.Annotations["checksum/config"])

	// The Role grants no list or watch of Secrets.
	role := decode[rbacv1.Role](t, m.one(t, "Role"))
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "secrets") {
			assert.NotContains(t, r.Verbs, "list")
			assert.NotContains(t, r.Verbs, "watch")
		}
	}
}

// TestEgressBlocksCloudMetadata: neither session nor app pods reach the
// cloud metadata server, in any of the values cases.
func TestEgressBlocksCloudMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := parse(t, mustRender(t, goldenNamespace, tc.values))
			var found []string
			for _, o := range m {
				suffix := o.GetName()[strings.LastIndex(o.GetName(), "-")+1:]
				if o.GetKind() != "NetworkPolicy" || (suffix != "sessions" && suffix != "apps") {
					continue
				}
				found = append(found, suffix)
				for _, rule := range decode[networkingv1.NetworkPolicy](t, o).Spec.Egress {
					for _, peer := range rule.To {
						if peer.IPBlock == nil {
							continue
						}
						for _, ip := range []string{"169.254.169.254", "100.100.100.200"} {
							assert.False(t, inBlock(peer.IPBlock, ip), "%s reachable by %v", ip, peer.IPBlock)
						}
					}
				}
			}
			assert.ElementsMatch(t, []string{"apps", "sessions"}, found, "NetworkPolicies for session and app pods")
		})
	}
}

// hostFiles holds what the rendered Deployment would mount, as files on
// this machine, and the container's environment pointing at them.
type hostFiles struct {
	env []string
	// hubToken is the hub-token of the Secret.
	hubToken string
}

// hostEnv turns the rendered Deployment into an environment for the service
// binary on this machine: each ConfigMap or Secret volume is written under
// dir (Secret data from secretData: the cluster's, or the render's), paths
// under its mountPath are rewritten, POD_NAMESPACE is namespace, and the
// listen addresses are left out (the caller picks free ports).
func hostEnv(t *testing.T, m manifest, namespace, dir string, secretData map[string][]byte) hostFiles {
	t.Helper()
	dep := decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	cm := decode[corev1.ConfigMap](t, m.one(t, "ConfigMap"))
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	c := dep.Spec.Template.Spec.Containers[0]

	mounts := map[string]string{} // mountPath -> dir on this machine
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range dep.Spec.Template.Spec.Volumes {
			if dep.Spec.Template.Spec.Volumes[i].Name == vm.Name {
				vol = &dep.Spec.Template.Spec.Volumes[i]
			}
		}
		require.NotNil(t, vol, "volume %s", vm.Name)
		local := filepath.Join(dir, vm.Name)
		require.NoError(t, os.MkdirAll(local, 0o700))
		switch {
		case vol.ConfigMap != nil:
			require.Equal(t, cm.Name, vol.ConfigMap.Name)
			for k, v := range cm.Data {
				require.NoError(t, os.WriteFile(filepath.Join(local, k), []byte(v), 0o600))
			}
		case vol.Secret != nil:
			for k, v := range secretData {
				require.NoError(t, os.WriteFile(filepath.Join(local, k), v, 0o600))
			}
		}
		mounts[vm.MountPath] = local
	}

	var out hostFiles
	out.hubToken = strings.TrimSpace(string(secretData["hub-token"]))
	for _, e := range c.Env {
		switch {
		case e.Name == "KUBEDESK_LISTEN" || e.Name == "KUBEDESK_OPS_LISTEN":
			continue
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			out.env = append(out.env, e.Name+"="+namespace)
		case e.ValueFrom != nil:
			continue // resourceFieldRef and the like: nothing to map here
		default:
			value := e.Value
			for mountPath, local := range mounts {
				if rest, ok := strings.CutPrefix(e.Value, mountPath+"/"); ok {
					value = filepath.Join(local, rest)
				}
			}
			out.env = append(out.env, e.Name+"="+value)
		}
	}
	return out
}

// TestConfigurationLoadsInService runs the service's --check on every
// render: the files and the environment the Deployment gives it must load,
// profiles included, so neither the chart nor the examples can drift from
// the service's strict decoding.
func TestConfigurationLoadsInService(t *testing.T) {
	t.Parallel()
	bin := spawnertest.Binary(t)
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := parse(t, mustRender(t, goldenNamespace, tc.values))
			secret := decode[corev1.Secret](t, m.one(t, "Secret"))
			files := hostEnv(t, m, goldenNamespace, t.TempDir(), secret.Data)
			cmd := exec.Command(bin, "--check")
			cmd.Env = append(os.Environ(), files.env...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "kubedesk-spawner --check:\n%s\nenv: %v", out, files.env)
			assert.Contains(t, string(out), "Configuration is valid")

			// --check does not read the app catalog; the service reads it
			// with spawner/catalog, and skips (logs) a bad entry, so a
			// mistake would only show in its log. Parse it here, strictly.
			path := envValue(t, files.env, "KUBEDESK_CATALOG_FILE")
			cat, problems := catalog.Load(path)
			require.Empty(t, problems, "rendered catalog %s", path)
			if slices.Contains(tc.values, catalogValues) {
				want, problems := catalog.Load(catalogExample)
				require.Empty(t, problems)
				assert.Equal(t, want.IDs(), cat.IDs(), "the render carries every app of %s", catalogExample)
				assert.Equal(t, want.Len(), cat.Len())
			} else if tc.name == "default" {
				assert.Zero(t, cat.Len(), "no apps by default")
			}
		})
	}
}

// envValue returns the value of name in env (NAME=value entries).
func envValue(t *testing.T, env []string, name string) string {
	t.Helper()
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	require.Failf(t, "variable not set", "%s is not in the rendered environment %v", name, env)
	return ""
}

// catalogValuesHeader starts examples/catalog/kubedesk-values.yaml; the
// rest is neurodesk-subset.yaml indented under sessions.catalog.
const catalogValuesHeader = `# kubedesk's values with the example app catalog: neurodesk-subset.yaml
# (next to this file) as sessions.catalog. Generated from it, so do not edit
# by hand; after a change of neurodesk-subset.yaml run
#
#   go test ./helm -run TestCatalogValues -update
#
# Use it with the Zero to JupyterHub example (helm merges the files; the
# catalog's gpu-only app, 3D Slicer, shows in the "gpu" profile only):
#
#   helm upgrade --install kubedesk helm/kubedesk -n jhub \
#     -f examples/z2jh/kubedesk-values.yaml -f examples/catalog/kubedesk-values.yaml

sessions:
  catalog:
`

// TestCatalogValues checks that examples/catalog/kubedesk-values.yaml is
// neurodesk-subset.yaml indented under sessions.catalog (-update rewrites
// it), so the chart's example catalog is the one spawner/catalog tests.
func TestCatalogValues(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(catalogExample)
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString(catalogValuesHeader)
	for line := range strings.Lines(string(src)) {
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("    " + line)
	}
	if *update {
		require.NoError(t, os.WriteFile(catalogValues, []byte(b.String()), 0o644))
	}
	got, err := os.ReadFile(catalogValues)
	require.NoError(t, err)
	assert.Equal(t, b.String(), string(got), "%s is stale; run go test ./helm -run TestCatalogValues -update", catalogValues)
}

// TestZ2JHExample checks that the Zero to JupyterHub values point at what
// the kubedesk chart renders with its example values.
func TestZ2JHExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../examples/z2jh/values.yaml")
	require.NoError(t, err)
	var z2jh struct {
		Hub struct {
			Config struct {
				JupyterHub struct {
					SpawnerClass string `json:"spawner_class"`
				} `json:"JupyterHub"`
				KubedeskSpawner struct {
					ServiceURL string `json:"service_url"`
				} `json:"KubedeskSpawner"`
			} `json:"config"`
			ExtraEnv  map[string]corev1.EnvVar `json:"extraEnv"`
			LoadRoles map[string]struct {
				Scopes   []string `json:"scopes"`
				Services []string `json:"services"`
			} `json:"loadRoles"`
			ExtraConfig map[string]string `json:"extraConfig"`
		} `json:"hub"`
		Singleuser struct {
			CloudMetadata struct {
				BlockWithIptables *bool `json:"blockWithIptables"`
			} `json:"cloudMetadata"`
			ProfileList []any `json:"profileList"`
		} `json:"singleuser"`
	}
	require.NoError(t, yaml.Unmarshal(data, &z2jh))

	m := parse(t, mustRender(t, goldenNamespace, valuesCases[1].values))
	svc := decode[corev1.Service](t, m.one(t, "Service"))
	secret := decode[corev1.Secret](t, m.one(t, "Secret"))

	assert.Equal(t, "kubedesk", z2jh.Hub.Config.JupyterHub.SpawnerClass)
	var apiPort int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "api" {
			apiPort = p.Port
		}
	}
	assert.Equal(t, fmt.Sprintf("http://%s:%d", svc.Name, apiPort), z2jh.Hub.Config.KubedeskSpawner.ServiceURL)
	ref := z2jh.Hub.ExtraEnv["KUBEDESK_SERVICE_TOKEN"].ValueFrom
	require.NotNil(t, ref, "hub.extraEnv.KUBEDESK_SERVICE_TOKEN.valueFrom")
	require.NotNil(t, ref.SecretKeyRef)
	assert.Equal(t, secret.Name, ref.SecretKeyRef.Name)
	assert.Contains(t, secret.Data, ref.SecretKeyRef.Key)
	// Orphan collection: the hub registers the token of the chart's
	// Secret as a service whose role has exactly the two scopes, and the
	// service asks the hub's Service with it, from a pod the hub's
	// NetworkPolicy admits.
	orphansRef := z2jh.Hub.ExtraEnv["KUBEDESK_HUB_API_TOKEN"].ValueFrom
	require.NotNil(t, orphansRef, "hub.extraEnv.KUBEDESK_HUB_API_TOKEN.valueFrom")
	require.NotNil(t, orphansRef.SecretKeyRef)
	assert.Equal(t, secret.Name, orphansRef.SecretKeyRef.Name)
	assert.Equal(t, "hub-api-token", orphansRef.SecretKeyRef.Key)
	assert.Contains(t, secret.Data, "hub-api-token")
	role := z2jh.Hub.LoadRoles["kubedesk-orphans"]
	assert.ElementsMatch(t, []string{"list:users", "read:servers"}, role.Scopes)
	require.Len(t, role.Services, 1)
	assert.Contains(t, z2jh.Hub.ExtraConfig["kubedesk-orphans"], `"name": "`+role.Services[0]+`"`)
	assert.Contains(t, z2jh.Hub.ExtraConfig["kubedesk-orphans"], `os.environ["KUBEDESK_HUB_API_TOKEN"]`)
	deploy := decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	env := map[string]string{}
	for _, e := range deploy.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "http://hub:8081/hub/api", env["KUBEDESK_HUB_API_URL"])
	assert.Equal(t, "/etc/kubedesk/secret/hub-api-token", env["KUBEDESK_HUB_API_TOKEN_FILE"])
	assert.Equal(t, "true", deploy.Spec.Template.Labels["hub.jupyter.org/network-access-hub"])

	require.NotNil(t, z2jh.Singleuser.CloudMetadata.BlockWithIptables)
	assert.False(t, *z2jh.Singleuser.CloudMetadata.BlockWithIptables, "no privileged init container")
	assert.Empty(t, z2jh.Singleuser.ProfileList, "profiles live in kubedesk's values")
}

// kubectl runs the dev cluster's kubectl.
func kubectl(t *testing.T, c *devcluster.Cluster, stdin []byte, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), ".cache", "bin", "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// TestServerSideDryRun sends every render to the dev cluster's API server
// with --dry-run=server: real schemas, defaulting and admission. The
// ServiceMonitor is left out: the dev cluster has no Prometheus Operator
// CRDs.
func TestServerSideDryRun(t *testing.T) {
	t.Parallel()
	c := devcluster.Start(t)
	ns := c.Namespace(t)
	for _, tc := range valuesCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := parse(t, mustRender(t, ns, tc.values)).without("ServiceMonitor")
			out, err := kubectl(t, c, m.yaml(t), "apply", "--server-side", "--dry-run=server",
				"--field-manager=kubedesk-chart-test", "-n", ns, "-f", "-")
			require.NoError(t, err)
			t.Log(out)
		})
	}
}

// TestInstallAndSpawn applies the Zero to JupyterHub example's render, with
// the example app catalog, to a fresh namespace, then runs the spawner
// service on this machine as the rendered Deployment would run it -- its
// files from the applied ConfigMap and Secret, its environment, and the
// rendered ServiceAccount's own token -- and serves a spawn through it. The
// service can only become ready and spawn if the chart's Role grants what it
// needs. The session's own token then reads the catalog the service loaded
// from the rendered ConfigMap.
func TestInstallAndSpawn(t *testing.T) {
	t.Parallel()
	c := devcluster.Start(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	m := parse(t, mustRender(t, ns, valuesCases[3].values)).without("ServiceMonitor")
	_, err := kubectl(t, c, m.yaml(t), "apply", "--server-side", "--field-manager=kubedesk-chart-test", "-n", ns, "-f", "-")
	require.NoError(t, err)

	// The objects are there, as rendered.
	dep := decode[appsv1.Deployment](t, m.one(t, "Deployment"))
	_, err = c.Client.AppsV1().Deployments(ns).Get(ctx, dep.Name, metav1.GetOptions{})
	require.NoError(t, err)
	sa := decode[corev1.ServiceAccount](t, m.one(t, "ServiceAccount"))
	require.Equal(t, sa.Name, dep.Spec.Template.Spec.ServiceAccountName)
	secretName := m.one(t, "Secret").GetName()
	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{})
	require.NoError(t, err)

	// Act as the ServiceAccount: a short-lived token from the TokenRequest
	// API, in a kubeconfig of its own.
	saKubeconfig, saConfig := serviceAccountKubeconfig(t, c, ns, sa.Name)
	saHTTP, err := rest.HTTPClientFor(saConfig)
	require.NoError(t, err)
	// client-go keeps the connection for the process; it ends with the test.
	t.Cleanup(func() { utilnet.CloseIdleConnectionsFor(saHTTP.Transport) })
	saClient, err := kubernetes.NewForConfigAndClient(saConfig, saHTTP)
	require.NoError(t, err)
	// Least privilege, checked: the account can neither list Secrets nor
	// touch another namespace.
	_, err = saClient.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "list secrets: %v", err)
	_, err = saClient.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "list pods in another namespace: %v", err)

	files := hostEnv(t, m, ns, t.TempDir(), secret.Data)
	svc := spawnertest.Start(t, spawnertest.Options{
		Kubeconfig: saKubeconfig,
		// Empty: the service takes POD_NAMESPACE, as in the Deployment.
		Namespace: "",
		Env:       files.env,
	})
	// The rendered environment names the Secret's token file, which wins
	// over the one spawnertest wrote.
	svc.Token = files.hubToken

	path := "/api/v1/users/alice/server"
	status, body := svc.Do(t, "POST", path, map[string]any{
		"user_options": map[string]any{"profile": "desktop"},
		"env": map[string]any{
			"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
			"JUPYTERHUB_API_TOKEN":      "hub-token-of-alice",
			"JUPYTERHUB_USER":           "alice",
		},
	})
	require.Equal(t, http.StatusAccepted, status, string(body))
	events := svc.Progress(t, path, waitReady)
	require.Equal(t, "ready", events[len(events)-1].Kind, "events: %+v", events)

	// The session pod has the example's defaults and profile.
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=singleuser-server"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)
	pod := pods.Items[0]
	assert.Equal(t, "true", pod.Labels["hub.jupyter.org/network-access-hub"], "defaults file applied")
	assert.Equal(t, "desktop", pod.Labels["kubedesk.dev/profile"])
	assert.Equal(t, "2", pod.Spec.Containers[0].Resources.Limits.Cpu().String(), "profile override applied")

	// The service loaded the rendered catalog: the session's token (from
	// the Secret the pod's environment comes from) lists the apps of its
	// profile, "desktop" -- all of the example's but the gpu-only Slicer.
	var sessionToken string
	for _, from := range pod.Spec.Containers[0].EnvFrom {
		if from.SecretRef == nil {
			continue
		}
		s, err := c.Client.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		require.NoError(t, err)
		if v, ok := s.Data["KUBEDESK_SESSION_TOKEN"]; ok {
			sessionToken = string(v)
		}
	}
	require.NotEmpty(t, sessionToken, "the session pod's token")
	status, body = svc.DoAs(t, sessionToken, "GET", "/api/v1/session/catalog", nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var apps []struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	}
	require.NoError(t, yaml.Unmarshal(body, &apps))
	want, problems := catalog.Load(catalogExample)
	require.Empty(t, problems)
	var ids []string
	for _, a := range apps {
		if !slices.Contains(ids, a.ID) {
			ids = append(ids, a.ID)
		}
	}
	slices.Sort(ids)
	wantIDs := slices.DeleteFunc(want.IDs(), func(id string) bool { return id == "slicer" })
	assert.Equal(t, wantIDs, ids, "catalog of the desktop profile")

	status, body = svc.Do(t, "DELETE", path, nil)
	require.Equal(t, http.StatusNoContent, status, string(body))
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, waitGone, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}), "session pod deleted")
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount with a token from the TokenRequest API.
func serviceAccountKubeconfig(t *testing.T, c *devcluster.Cluster, ns, name string) (string, *rest.Config) {
	t.Helper()
	expiry := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	ca := c.Config.TLSClientConfig.CAData
	if len(ca) == 0 && c.Config.TLSClientConfig.CAFile != "" {
		ca, err = os.ReadFile(c.Config.TLSClientConfig.CAFile)
		require.NoError(t, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["dev"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: ca,
		InsecureSkipTLSVerify: c.Config.TLSClientConfig.Insecure}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "dev", AuthInfo: name, Namespace: ns}
	cfg.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	restConfig, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(t, err)
	return path, restConfig
}

// TestUpgradeKeepsGeneratedSecrets installs the chart with helm itself on
// the dev cluster, upgrades it with changed values, and checks that the
// generated hub token and signing key survive: the hub's copy of the token
// must stay valid.
func TestUpgradeKeepsGeneratedSecrets(t *testing.T) {
	t.Parallel()
	c := devcluster.Start(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	helmCluster := func(args ...string) {
		t.Helper()
		out, err := helm(t, append(args, "--namespace", ns, "--kubeconfig", c.Kubeconfig)...)
		require.NoError(t, err, out)
	}

	helmCluster("install", release, chartDir)
	m := parse(t, mustRender(t, ns, nil))
	name := m.one(t, "Secret").GetName()
	secretChecksum := func() string {
		t.Helper()
		dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, m.one(t, "Deployment").GetName(), metav1.GetOptions{})
		require.NoError(t, err)
		return dep.Spec.Template.Annotations["checksum/secret"]
	}
	checksum := secretChecksum()
	before, err := c.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, before.Data["hub-token"], 48)

	helmCluster("upgrade", release, chartDir, "--set", "spawner.config.logLevel=debug")
	after, err := c.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, before.Data, after.Data, "generated secrets kept across the upgrade")
	assert.Equal(t, checksum, secretChecksum(), "an unchanged Secret does not roll the pod")

	// An explicit value replaces the generated one (rotation).
	rotated := "rotated-hub-token-0123456789abcdef"
	helmCluster("upgrade", release, chartDir, "--set", "spawner.auth.hubToken="+rotated)
	after, err = c.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, rotated, string(after.Data["hub-token"]))
	assert.Equal(t, before.Data["session-signing-key"], after.Data["session-signing-key"])
	rolled := secretChecksum()
	assert.NotEqual(t, checksum, rolled, "a rotated token rolls the pod")
	assert.Len(t, rolled, 64, "keyed by the signing key the chart generated into the Secret")

	helmCluster("upgrade", release, chartDir, "--set", "spawner.auth.hubToken="+rotated, "--set", "spawner.config.logLevel=info")
	assert.Equal(t, rolled, secretChecksum(), "the same rotated token again does not roll the pod")
}

// TestSecretChecksumIsKeyed: the checksum/secret annotation, which anyone
// who may read the Deployment reads, is no bare hash of the auth values (a
// weak hub token could be guessed from one offline): it is keyed by the
// session signing key, HMAC's nested shape. Tried: no values, both values,
// the same token with another key, a token alone with no Secret to take the
// key from (helm template has no cluster).
func TestSecretChecksumIsKeyed(t *testing.T) {
	t.Parallel()
	checksum := func(sets ...string) string {
		t.Helper()
		dep := decode[appsv1.Deployment](t, parse(t, mustRender(t, goldenNamespace, nil, sets...)).one(t, "Deployment"))
		return dep.Spec.Template.Annotations["checksum/secret"]
	}
	const token, key = "hub-token-0123456789abcdef", "signing-key-0123456789abcdef0123456789"
	assert.Equal(t, "generated", checksum(), "generated values never change: nothing to roll, nothing to hash")

	got := checksum("spawner.auth.hubToken="+token, "spawner.auth.sessionSigningKey="+key)
	values := `{"hubAPIToken":"","hubToken":"` + token + `","sessionSigningKey":"` + key + `"}`
	bare := sha256.Sum256([]byte(values))
	assert.NotEqual(t, hex.EncodeToString(bare[:]), got, "a bare hash of the values")
	inner := sha256.Sum256([]byte(key + "\x36" + values))
	outer := sha256.Sum256([]byte(key + "\x5c" + hex.EncodeToString(inner[:])))
	assert.Equal(t, hex.EncodeToString(outer[:]), got, "H(K, 0x5c, H(K, 0x36, values)) with K the signing key")
	assert.Equal(t, got, checksum("spawner.auth.hubToken="+token, "spawner.auth.sessionSigningKey="+key), "the same values, the same checksum")
	assert.NotEqual(t, got, checksum("spawner.auth.hubToken="+token, "spawner.auth.sessionSigningKey=another-key-0123456789abcdef012345"))
	assert.Equal(t, "unkeyed", checksum("spawner.auth.hubToken="+token), "no key yet: nothing of the token in the annotation")
}

// Sessions in a namespace of their own (sessions.namespace): the service's
// Role and RoleBinding -- pods, Secrets -- are there and nowhere else, so
// the service holds no right to the release namespace's Secrets (the hub's);
// the session and app policies are there; the service is told where.
func TestSessionsNamespace(t *testing.T) {
	t.Parallel()
	m := parse(t, mustRender(t, goldenNamespace, nil, "sessions.namespace=jhub-sessions"))
	for _, o := range m {
		switch o.GetKind() {
		case "Role", "RoleBinding":
			assert.Equal(t, "jhub-sessions", o.GetNamespace(), "%s %s", o.GetKind(), o.GetName())
		}
	}
	rb := decode[rbacv1.RoleBinding](t, m.one(t, "RoleBinding"))
	assert.Equal(t, goldenNamespace, rb.Subjects[0].Namespace, "the service's account stays in the release namespace")
	for _, o := range m {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		want := "jhub-sessions"
		if strings.HasSuffix(o.GetName(), "-spawner") {
			want = goldenNamespace
		}
		assert.Equal(t, want, o.GetNamespace(), "NetworkPolicy %s", o.GetName())
	}
	env := map[string]string{}
	for _, e := range decode[appsv1.Deployment](t, m.one(t, "Deployment")).Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	assert.Equal(t, "jhub-sessions", env["KUBEDESK_NAMESPACE"])

	// Without it, everything is in the release namespace and the service
	// takes its own (POD_NAMESPACE).
	m = parse(t, mustRender(t, goldenNamespace, nil))
	assert.Equal(t, goldenNamespace, m.one(t, "Role").GetNamespace())
	for _, e := range decode[appsv1.Deployment](t, m.one(t, "Deployment")).Spec.Template.Spec.Containers[0].Env {
		assert.NotEqual(t, "KUBEDESK_NAMESPACE", e.Name)
	}
}
