package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

// profiles put the sessions' servers on the pod responder's port: kwok's
// pods run nothing, the responder answers for them.
var profiles = fmt.Sprintf(`
- display_name: Desktop
  slug: desktop
  default: true
  kubespawner_override:
    image: kubedesk/desktop:e2e
    port: %[1]d
- display_name: Big desktop
  slug: big
  kubespawner_override:
    image: kubedesk/desktop:e2e
    port: %[1]d
    cpu_limit: "4"
    mem_limit: 8G
`, podresponder.Port)

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestJupyterHubStartsAndStopsServers runs the shim's e2e test
// (spawner/python/tests/test_jupyterhub_e2e.py: a real JupyterHub that
// starts a server through its REST API, waits until it is ready and routed,
// and stops it) against the real service on the dev cluster, once for each
// supported JupyterHub major version. kwok's pods run nothing, so the pod
// responder answers the hub's readiness check at each pod's IP.
func TestJupyterHubStartsAndStopsServers(t *testing.T) {
	c := devcluster.Start(t)
	devcluster.StartResponder(t)
	ns := c.Namespace(t)
	svc := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: ns, Profiles: profiles})
	root := repoRoot(t)

	for _, hub := range []struct{ name, venv string }{
		{"jupyterhub-4", ".cache/venv-jh4"},
		{"jupyterhub-5", ".cache/venv"},
		{"jupyterhub-6", ".cache/venv-jh6"},
	} {
		t.Run(hub.name, func(t *testing.T) {
			python := filepath.Join(root, hub.venv, "bin", "python")
			_, err := os.Stat(python)
			require.NoError(t, err, "run hack/python-env.sh first (make test does)")
			cmd := exec.Command(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_jupyterhub_e2e.py")
			cmd.Dir = filepath.Join(root, "spawner", "python")
			cmd.Env = append(os.Environ(),
				"KUBEDESK_SERVICE_URL="+svc.URL,
				"KUBEDESK_SERVICE_TOKEN="+svc.Token,
				"KUBEDESK_E2E_PROFILE=big",
			)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "pytest against %s:\n%s", hub.name, out)
			assert.Contains(t, string(out), "1 passed")

			pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			assert.Empty(t, pods.Items, "the hub's stop removed the pod")
			pvcs, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			assert.Len(t, pvcs.Items, 1, "the user's home survives the stop")
		})
	}
}
