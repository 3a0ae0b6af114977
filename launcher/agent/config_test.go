package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := ConfigFromEnv(env(EnvServiceURL, "http://svc:8080/", EnvPodIP, "10.0.0.5"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ServiceURL != "http://svc:8080" || c.TokenFile != DefaultTokenFile || c.Socket != DefaultSocket ||
		c.ProxyAddr != "10.0.0.5:8899" || c.XpraCommand[0] != "xpra" || c.IdleTimeout != 0 ||
		c.ActivityInterval != time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	c, err = ConfigFromEnv(env(EnvServiceURL, "http://svc", EnvXpraCommand, "/usr/bin/python3 /usr/bin/xpra",
		EnvIdleTimeout, "30m", EnvProxyAddr, "off"))
	if err != nil || len(c.XpraCommand) != 2 || c.IdleTimeout != 30*time.Minute || c.ProxyAddr != "" {
		t.Errorf("overrides: %+v %v", c, err)
	}
	for _, tc := range []struct {
		name string
		env  func(string) string
		want string
	}{
		{"no service", env(), "KUBEDESK_SERVICE_URL=\"\" must be the spawner service's http(s) URL"},
		{"bad duration", env(EnvServiceURL, "http://svc", EnvIdleTimeout, "soon"), `KUBEDESK_APP_IDLE_TIMEOUT="soon" is not a duration`},
		{"relative socket", env(EnvServiceURL, "http://svc", EnvSocket, "l.sock"), `KUBEDESK_LAUNCHER_SOCKET="l.sock" must be an absolute path`},
		{"hub without user", env(EnvServiceURL, "http://svc", EnvHubAPIURL, "http://hub/hub/api"), "JUPYTERHUB_USER is not"},
		{"a CA for an http URL", env(EnvServiceURL, "http://svc", EnvServiceCA, "-----BEGIN CERTIFICATE-----"), "KUBEDESK_SERVICE_CA is set, but KUBEDESK_SERVICE_URL=\"http://svc\" is not https"},
		{"a CA that is no certificate", env(EnvServiceURL, "https://svc", EnvServiceCA, "not a certificate"), "KUBEDESK_SERVICE_CA holds no PEM certificate"},
	} {
		if _, err := ConfigFromEnv(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDesktopX(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "desktop.env")
	c := Config{DesktopEnvFile: file}
	if _, err := c.desktopX(); err == nil {
		t.Error("no display and no file: no error")
	}
	if err := os.WriteFile(file, []byte("# desktop\nexport DISPLAY=':3'\nXAUTHORITY=/tmp/kubedesk/Xauthority\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if x, err := c.desktopX(); err != nil || x != (X{":3", "/tmp/kubedesk/Xauthority"}) {
		t.Errorf("from file: %+v %v", x, err)
	}
	c.Display = ":9"
	if x, _ := c.desktopX(); x.Display != ":9" {
		t.Errorf("DISPLAY set: %+v", x)
	}
}
