package jupyterhub

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const config = `
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = %d
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = %d
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d"
c.ConfigurableHTTPProxy.pid_file = "jupyterhub-proxy.pid"
`

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// TestNothingOutlivesTheTest starts a hub, kills it (as benchmarks do at
// their end), restarts it on the same state, and checks that when the test
// ends neither the hub nor its proxy still runs.
func TestNothingOutlivesTheTest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not starting a real JupyterHub")
	}
	for _, killAtEnd := range []bool{false, true} {
		var hubPids, proxyPids []int
		t.Run(fmt.Sprintf("KillAtEnd=%v", killAtEnd), func(t *testing.T) {
			dir := t.TempDir()
			proxyPort := freePort(t)
			cfg := filepath.Join(dir, "jupyterhub_config.py")
			require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, config, proxyPort, freePort(t), freePort(t)), 0o600))
			h := Start(t, Options{Venv: ".cache/venv", Config: cfg, Dir: dir, Ready: fmt.Sprintf("http://127.0.0.1:%d/hub/api", proxyPort), KillAtEnd: killAtEnd})
			require.True(t, alive(h.ProxyPid()), "the proxy's pid file names a running proxy")
			hubPids, proxyPids = append(hubPids, h.Pid()), append(proxyPids, h.ProxyPid())

			h.Kill()
			assert.False(t, alive(hubPids[0]), "Kill ends the hub")
			assert.False(t, isProxy(proxyPids[0]), "Kill ends the proxy, which runs in a session of its own")

			h.Restart(t)
			hubPids, proxyPids = append(hubPids, h.Pid()), append(proxyPids, h.ProxyPid())
		})
		for _, pid := range hubPids {
			assert.False(t, alive(pid), "hub %d outlived its test", pid)
		}
		for _, pid := range proxyPids {
			assert.False(t, isProxy(pid), "proxy %d outlived its test", pid)
		}
	}
}
