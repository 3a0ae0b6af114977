// Package kind tests the kind cluster example: the config decodes strictly
// with kind's own v1alpha4 types, and kubedesk's values for it send
// sessions to the node it labels and taints.
package kind

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func loadConfig(t *testing.T) *v1alpha4.Cluster {
	t.Helper()
	data, err := os.ReadFile("kind-config.yaml")
	require.NoError(t, err)
	var c v1alpha4.Cluster
	require.NoError(t, yaml.UnmarshalStrict(data, &c), "kind-config.yaml against kind's v1alpha4 types")
	return &c
}

func TestKindConfig(t *testing.T) {
	t.Parallel()
	c := loadConfig(t)
	assert.Equal(t, "Cluster", c.Kind)
	assert.Equal(t, "kind.x-k8s.io/v1alpha4", c.APIVersion)
	require.Len(t, c.Nodes, 2)

	cp := c.Nodes[0]
	assert.Equal(t, v1alpha4.ControlPlaneRole, cp.Role)
	require.Len(t, cp.ExtraPortMappings, 1)
	hub := cp.ExtraPortMappings[0]
	// The README's Zero to JupyterHub flags: proxy.service.nodePorts.http.
	assert.EqualValues(t, 30080, hub.ContainerPort)
	assert.EqualValues(t, 8000, hub.HostPort)
	assert.Equal(t, "127.0.0.1", hub.ListenAddress, "the hub is not exposed beyond this machine")
	assert.Equal(t, v1alpha4.PortMappingProtocolTCP, hub.Protocol)

	worker := c.Nodes[1]
	assert.Equal(t, v1alpha4.WorkerRole, worker.Role)
	assert.Equal(t, "desktop", worker.Labels["kubedesk.dev/pool"])
	require.Len(t, worker.KubeadmConfigPatches, 1)
	var patch struct {
		Kind             string `json:"kind"`
		NodeRegistration struct {
			Taints []corev1.Taint `json:"taints"`
		} `json:"nodeRegistration"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(worker.KubeadmConfigPatches[0]), &patch))
	assert.Equal(t, "JoinConfiguration", patch.Kind)
	assert.Equal(t, []corev1.Taint{{Key: "kubedesk.dev/pool", Value: "desktop", Effect: corev1.TaintEffectNoSchedule}},
		patch.NodeRegistration.Taints)
}

// TestValuesMatchConfig checks that kubedesk-values.yaml's sessions select
// and tolerate the worker of kind-config.yaml.
func TestValuesMatchConfig(t *testing.T) {
	t.Parallel()
	worker := loadConfig(t).Nodes[1]
	data, err := os.ReadFile("kubedesk-values.yaml")
	require.NoError(t, err)
	var values struct {
		Sessions struct {
			Defaults struct {
				NodeSelector map[string]string   `json:"node_selector"`
				Tolerations  []corev1.Toleration `json:"tolerations"`
			} `json:"defaults"`
		} `json:"sessions"`
	}
	require.NoError(t, yaml.Unmarshal(data, &values))
	d := values.Sessions.Defaults
	for k, v := range d.NodeSelector {
		assert.Equal(t, v, worker.Labels[k], "node_selector %s", k)
	}
	require.NotEmpty(t, d.NodeSelector)
	taint := corev1.Taint{Key: "kubedesk.dev/pool", Value: "desktop", Effect: corev1.TaintEffectNoSchedule}
	var tolerated bool
	for _, tol := range d.Tolerations {
		tolerated = tolerated || (tol.Key == taint.Key && tol.Effect == taint.Effect &&
			(tol.Operator == corev1.TolerationOpExists || tol.Value == taint.Value))
	}
	assert.True(t, tolerated, "sessions tolerate the desktop pool's taint")
}
