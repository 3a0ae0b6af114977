package chartenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/helm/chartenv"
	"kubedesk.dev/kubedesk/spawner/catalog"
)

func host(t *testing.T) chartenv.Host {
	return chartenv.Host{
		Namespace: "kubedesk-demo", Kubeconfig: "/k/kubeconfig.yaml",
		Listen: "127.0.0.1:8090", OpsListen: "127.0.0.1:9091",
		SessionServiceURL: "http://127.0.0.1:8090",
		HubTokenFile:      "/state/hub-token", SessionKeyFile: "/state/session-key",
		ConfigDir: t.TempDir(),
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// The chart's default render (its golden file) as a process here: the
// chart's settings as they are, the places of the pod replaced by the
// host's, and the ConfigMap's files under ConfigDir.
func TestFromTheDefaultRender(t *testing.T) {
	t.Parallel()
	render, err := os.ReadFile(filepath.Join("..", "testdata", "default.golden"))
	require.NoError(t, err)
	h := host(t)
	s, err := chartenv.FromManifests(render, h)
	require.NoError(t, err)
	env := envMap(s.Env)

	// The host's places.
	assert.Equal(t, "kubedesk-demo", env["POD_NAMESPACE"], "the Downward API's namespace")
	assert.Equal(t, "/k/kubeconfig.yaml", env["KUBEDESK_KUBECONFIG"])
	assert.Equal(t, "127.0.0.1:8090", env["KUBEDESK_LISTEN"])
	assert.Equal(t, "127.0.0.1:9091", env["KUBEDESK_OPS_LISTEN"])
	assert.Equal(t, "http://127.0.0.1:8090", env["KUBEDESK_SESSION_SERVICE_URL"])
	assert.Equal(t, "/state/hub-token", env["KUBEDESK_HUB_TOKEN_FILE"])
	assert.Equal(t, "/state/session-key", env["KUBEDESK_SESSION_KEY_FILE"])
	for _, k := range []string{"KUBEDESK_DEFAULTS_FILE", "KUBEDESK_PROFILES_FILE", "KUBEDESK_CATALOG_FILE"} {
		assert.Equal(t, h.ConfigDir, filepath.Dir(env[k]), "%s is a file of the chart's ConfigMap, written into ConfigDir", k)
		_, ok := s.Files[filepath.Base(env[k])]
		assert.True(t, ok, "%s names %s, which the ConfigMap has", k, filepath.Base(env[k]))
	}
	// The chart's own settings, untouched.
	assert.Equal(t, "kubedesk/xpra-sidecar:0.1.0", env["KUBEDESK_XPRA_IMAGE"])
	assert.Equal(t, "168h", env["KUBEDESK_SESSION_TOKEN_TTL"])
	assert.Equal(t, "json", env["KUBEDESK_LOG_FORMAT"])
	// Nothing from the pod leaks through.
	for _, kv := range s.Env {
		assert.NotContains(t, kv, "/etc/kubedesk/", "the host has no such path")
	}
}

// What the host cannot give is an error that names the setting, rather
// than a service that starts without it.
func TestRefusesWhatTheHostCannotGive(t *testing.T) {
	t.Parallel()
	render, err := os.ReadFile(filepath.Join("..", "testdata", "default.golden"))
	require.NoError(t, err)
	for name, tc := range map[string]struct{ old, new, want string }{
		"a value from a Secret": {
			old:  "            - name: KUBEDESK_LOG_LEVEL\n",
			new:  "            - name: KUBEDESK_EXTRA\n              valueFrom:\n                secretKeyRef: {name: s, key: k}\n            - name: KUBEDESK_LOG_LEVEL\n",
			want: "KUBEDESK_EXTRA: a value from the pod (Secret s)",
		},
		"a file of the Secret's mount": {
			old:  "            - name: KUBEDESK_LOG_LEVEL\n",
			new:  "            - name: KUBEDESK_TLS_CERT_FILE\n              value: /etc/kubedesk/secret/tls.crt\n            - name: KUBEDESK_LOG_LEVEL\n",
			want: "KUBEDESK_TLS_CERT_FILE: /etc/kubedesk/secret/tls.crt is a file of the pod's volume at /etc/kubedesk/secret",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, string(render), tc.old)
			changed := strings.Replace(string(render), tc.old, tc.new, 1)
			_, err := chartenv.FromManifests([]byte(changed), host(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err = chartenv.FromManifests(render, chartenv.Host{})
	assert.ErrorContains(t, err, "the host's namespace is not set")
}

// A chart that serves TLS (spawner.tls): its certificate,
// key and CA are files of the TLS Secret's mount, pointed at TLSDir; a host
// without one says so.
func TestTLS(t *testing.T) {
	helm, root := helmBinary(t)
	h := host(t)
	h.SessionServiceURL = "https://127.0.0.1:8090"
	h.TLSDir = "/state/tls"
	args := []string{"--set", "spawner.tls.secretName=kubedesk-spawner-tls"}
	chart := filepath.Join(root, "helm", "kubedesk")
	s, err := chartenv.Render(t.Context(), helm, chart, args, h)
	require.NoError(t, err)
	env := envMap(s.Env)
	assert.Equal(t, "/state/tls/tls.crt", env["KUBEDESK_TLS_CERT_FILE"])
	assert.Equal(t, "/state/tls/tls.key", env["KUBEDESK_TLS_KEY_FILE"])
	assert.Equal(t, "/state/tls/ca.crt", env["KUBEDESK_SESSION_SERVICE_CA_FILE"])
	assert.Equal(t, "https://127.0.0.1:8090", env["KUBEDESK_SESSION_SERVICE_URL"])

	h.TLSDir = ""
	_, err = chartenv.Render(t.Context(), helm, chart, args, h)
	assert.ErrorContains(t, err, "KUBEDESK_TLS_CERT_FILE: /etc/kubedesk/tls/tls.crt is a file of the pod's volume at /etc/kubedesk/tls")
}

// The demo's own values, rendered by helm: the catalog the service reads
// has the demo's apps and Neurodesk's, and the service's settings check
// out with its own --check.
// helmBinary is the project's helm (hack/helm.sh), built if need be; the
// repository's root comes with it.
func helmBinary(t *testing.T) (helm, root string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	helm = filepath.Join(root, ".cache", "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		if testing.Short() {
			t.Skip("helm is not built (hack/helm.sh)")
		}
		out, err := exec.Command(filepath.Join(root, "hack", "helm.sh")).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	return helm, root
}

func TestDemoValues(t *testing.T) {
	helm, root := helmBinary(t)
	h := host(t)
	secrets := t.TempDir()
	h.HubTokenFile, h.SessionKeyFile = filepath.Join(secrets, "hub-token"), filepath.Join(secrets, "session-key")
	require.NoError(t, os.WriteFile(h.HubTokenFile, []byte("hub-token-0123456789"), 0o600))
	require.NoError(t, os.WriteFile(h.SessionKeyFile, []byte("session-key-0123456789abcdef0123456789"), 0o600))
	s, err := chartenv.Render(t.Context(), helm, filepath.Join(root, "helm", "kubedesk"), []string{
		"--values", filepath.Join(root, "examples", "demo", "values.yaml"),
	}, h)
	require.NoError(t, err)
	env := envMap(s.Env)

	own, problems := catalog.Load(env["KUBEDESK_CATALOG_FILE"])
	require.Empty(t, problems)
	for _, id := range []string{"mricron", "mtpaint", "veusz", "xterm"} {
		_, err := own.Lookup(id, "")
		assert.NoError(t, err, "the demo's catalog has %s", id)
	}
	data, err := os.ReadFile(env["KUBEDESK_NEURODESK_APPS_FILE"])
	require.NoError(t, err, "the Neurodesk sample reaches the service")
	imported, problems := catalog.ImportNeurodesk(data, "neurodesk-apps.json", catalog.NeurodeskOptions{})
	require.Empty(t, problems)
	_, err = imported.Lookup("itksnap", "4.4.0")
	assert.NoError(t, err)

	// The service itself accepts the configuration.
	bin := filepath.Join(t.TempDir(), "kubedesk-spawner")
	out, err := exec.Command("go", "build", "-o", bin, "kubedesk.dev/kubedesk/cmd/kubedesk-spawner").CombinedOutput()
	require.NoError(t, err, "%s", out)
	check := exec.Command(bin, "--check")
	check.Env = s.Env
	out, err = check.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "2 profiles")
}
