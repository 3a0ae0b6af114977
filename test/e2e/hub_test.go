package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/jupyterhub"
)

// hub is a real JupyterHub (.cache/venv) running the demo's configuration,
// examples/demo/jupyterhub_config.py, on free loopback ports.
type hub struct {
	// URL is the public (proxy) URL, http://127.0.0.1:<port>.
	URL      string
	Password string
	Log      string
}

// startDemoHub runs JupyterHub with the configuration `make demo` uses,
// pointed at svc, with its state in a temporary folder. SIGTERM at the end of
// the test makes it stop every server (cleanup_servers), as Ctrl-C in the
// demo does.
func startDemoHub(t *testing.T, svc *spawnertest.Service) *hub {
	t.Helper()
	state := t.TempDir()
	port := freePort(t)
	h := &hub{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Password: randomHex(t, 8)}
	p := jupyterhub.Start(t, jupyterhub.Options{
		Venv:   ".cache/venv",
		Config: filepath.Join(repoRoot(t), "examples", "demo", "jupyterhub_config.py"),
		Dir:    state,
		Env: []string{
			"KUBEDESK_SERVICE_URL=" + svc.URL,
			"KUBEDESK_SERVICE_TOKEN=" + svc.Token,
			// The CA of a service that serves TLS ("" for plain HTTP).
			"KUBEDESK_SERVICE_CA_FILE=" + svc.CAFile,
			"KUBEDESK_DEMO_PASSWORD=" + h.Password,
			"KUBEDESK_DEMO_STATE=" + state,
			fmt.Sprintf("KUBEDESK_DEMO_PORT=%d", port),
			fmt.Sprintf("KUBEDESK_DEMO_HUB_PORT=%d", freePort(t)),
			fmt.Sprintf("KUBEDESK_DEMO_PROXY_API_PORT=%d", freePort(t)),
		},
		Ready: h.URL + "/hub/api",
	})
	h.Log = p.Log
	return h
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
