package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// Named timeouts of the tests that run a real JupyterHub.
const (
	// hubStartTimeout bounds a fresh hub (and its proxy) until /hub/api
	// answers, on a loaded 2-core machine.
	hubStartTimeout = 90 * time.Second
	// hubStopTimeout is how long the hub gets after SIGTERM to stop every
	// server (through the service: pods deleted, processes gone) and its
	// proxy, before its process group is killed.
	hubStopTimeout = 2 * time.Minute
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
// demo does; then its process group is killed.
func startDemoHub(t *testing.T, svc *spawnertest.Service) *hub {
	t.Helper()
	root := repoRoot(t)
	jupyterhub := filepath.Join(root, ".cache", "venv", "bin", "jupyterhub")
	chp := filepath.Join(root, ".cache", "node", "node_modules", ".bin")
	for _, need := range []string{jupyterhub, filepath.Join(chp, "configurable-http-proxy")} {
		_, err := os.Stat(need)
		require.NoError(t, err, "run hack/python-env.sh venv node first (make deps does)")
	}
	state := t.TempDir()
	port := freePort(t)
	h := &hub{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Password: randomHex(t, 8), Log: filepath.Join(state, "jupyterhub.log")}
	logf, err := os.Create(h.Log)
	require.NoError(t, err)
	defer logf.Close() // the child has its own copy

	cmd := exec.Command(jupyterhub, "-f", filepath.Join(root, "examples", "demo", "jupyterhub_config.py"))
	cmd.Dir = state
	cmd.Env = append(os.Environ(),
		"PATH="+chp+string(os.PathListSeparator)+os.Getenv("PATH"),
		// This checkout's shim, whichever checkout the venv's editable
		// install points at (git worktrees share .cache).
		"PYTHONPATH="+filepath.Join(root, "spawner", "python", "src"),
		"KUBEDESK_SERVICE_URL="+svc.URL,
		"KUBEDESK_SERVICE_TOKEN="+svc.Token,
		// The CA of a service that serves TLS ("" for plain HTTP).
		"KUBEDESK_SERVICE_CA_FILE="+svc.CAFile,
		"KUBEDESK_DEMO_PASSWORD="+h.Password,
		"KUBEDESK_DEMO_STATE="+state,
		fmt.Sprintf("KUBEDESK_DEMO_PORT=%d", port),
		fmt.Sprintf("KUBEDESK_DEMO_HUB_PORT=%d", freePort(t)),
		fmt.Sprintf("KUBEDESK_DEMO_PROXY_API_PORT=%d", freePort(t)),
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the hub and its proxy
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(hubStopTimeout):
			t.Errorf("jupyterhub did not stop within %s of SIGTERM; killing its process group", hubStopTimeout)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(h.Log)
			t.Logf("jupyterhub log (last 8000 bytes):\n%s", b[max(0, len(b)-8000):])
		}
	})

	deadline := time.Now().Add(hubStartTimeout)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(h.Log)
			t.Fatalf("jupyterhub exited during start (%s):\n%s", cmd.ProcessState, b)
		default:
		}
		resp, err := http.Get(h.URL + "/hub/api")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jupyterhub did not answer %s/hub/api within %s", h.URL, hubStartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
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
