package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// TestAppsUnavailableSaysWhy: a session whose launcher agent cannot reach
// the service (the service tells sessions a URL where nothing listens, as
// a wrong session_service_url or a NetworkPolicy would) still starts, and
// says why it has no apps: JupyterLab's Running apps panel shows the
// agent's sentence (read in the browser), and the desktop's menu has the
// entry that shows it.
func TestAppsUnavailableSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end on the dev node")
	}
	c := devcluster.Start(t)
	requireDesktopEnv(t)
	requireJupyterLabExt(t)
	buildDesktopBin(t)
	ns := c.Namespace(t)

	nowhere := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)) // nothing listens there
	svc := spawnertest.Start(t, spawnertest.Options{
		Kubeconfig: c.Kubeconfig, Namespace: ns, Chart: spawnertest.DemoChart(),
		Env: []string{"KUBEDESK_SESSION_SERVICE_URL=" + nowhere},
	})
	h := startDemoHub(t, svc)
	const user = "bob"
	_, _, s := spawnDesktop(t, c, ns, h, svc, user)

	lab := startLab(t)
	lab.do(map[string]any{"cmd": "open", "hub": h.URL, "user": user, "password": h.Password, "expect": "Desktop"})
	got := lab.do(map[string]any{"cmd": "notice", "screenshot": filepath.Join(artifactsDir(t), "unavailable-jupyterlab.png")})
	t.Logf("Running apps panel: %q", got.Notice)
	assert.Contains(t, got.Notice, "cannot reach the kubedesk service at "+nowhere)
	assert.Contains(t, got.Notice, "tell your operator")

	entry, err := os.ReadFile(devcluster.ContainerFile(s.pid, filepath.Join(s.getenv("HOME"), ".local", "share", "applications", menu.NoticeFile)))
	require.NoError(t, err, "the desktop's menu has the notice")
	assert.Contains(t, string(entry), "Name="+menu.NoticeName)
	assert.Contains(t, string(entry), "cannot reach the kubedesk service at "+nowhere)
}
