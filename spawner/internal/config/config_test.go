package config

import (
	"os"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadGoodFile(t *testing.T) {
	cfg, err := Load("testdata/good.yaml", env(nil))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:8081", cfg.Listen)
	assert.Equal(t, ":9090", cfg.OpsListen, "defaults fill what the file leaves out")
	assert.Equal(t, "jhub", cfg.Namespace)
	assert.Equal(t, 210*time.Second, cfg.SpawnTimeout)
	assert.Equal(t, float32(50), cfg.KubeQPS)
	assert.Equal(t, time.Second, cfg.DeleteGracePeriod)
}

// Environment variables override the file; t.Setenv rules out t.Parallel.
func TestEnvironmentOverridesFile(t *testing.T) {
	t.Setenv("KUBEDESK_SPAWN_TIMEOUT", "90s")
	t.Setenv("KUBEDESK_NAMESPACE", "")
	t.Setenv("KUBEDESK_LOG_FORMAT", "text")
	cfg, err := Load("testdata/good.yaml", env(nil))
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, cfg.SpawnTimeout)
	assert.Equal(t, "text", cfg.LogFormat)
}

func TestEnvironmentAloneAndPodNamespace(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	cfg, err := Load("", env(map[string]string{"POD_NAMESPACE": "hub-ns"}))
	require.NoError(t, err)
	assert.Equal(t, "hub-ns", cfg.Namespace)
	assert.Equal(t, "abcdefabcdefabcdef", cfg.HubToken)
}

// Every setting can come from the environment alone: viper maps a
// KUBEDESK_* variable only onto a key it knows from defaults (a missing
// session_service_url once left session pods without KUBEDESK_SERVICE_URL).
func TestEveryKeyHasADefault(t *testing.T) {
	d := defaults()
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("mapstructure")
		require.NotEmpty(t, key, "field %s has no mapstructure tag", typ.Field(i).Name)
		assert.Contains(t, d, key, "%s: no default, so KUBEDESK_%s alone is ignored", typ.Field(i).Name, key)
	}
}

// pprof endpoints are served only when asked for.
func TestPprofOffByDefault(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	cfg, err := Load("", env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.Pprof)
	t.Setenv("KUBEDESK_PPROF", "true")
	cfg, err = Load("", env(nil))
	require.NoError(t, err)
	assert.True(t, cfg.Pprof)
}

func TestSessionServiceURLFromEnvironment(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	t.Setenv("KUBEDESK_SESSION_SERVICE_URL", "http://kubedesk-spawner.jhub:8080")
	cfg, err := Load("", env(nil))
	require.NoError(t, err)
	assert.Equal(t, "http://kubedesk-spawner.jhub:8080", cfg.SessionServiceURL)
}

func TestHubTokenFile(t *testing.T) {
	path := t.TempDir() + "/token"
	require.NoError(t, writeFile(path, "  from-a-mounted-secret-0123\n"))
	t.Setenv("KUBEDESK_HUB_TOKEN_FILE", path)
	cfg, err := Load("", env(nil))
	require.NoError(t, err)
	assert.Equal(t, "from-a-mounted-secret-0123", cfg.HubToken)
}

func TestBadFiles(t *testing.T) {
	cases := []struct {
		file string
		want []string
	}{
		{"testdata/typo.yaml", []string{`config testdata/typo.yaml`, `invalid keys: spawn_timeot`}},
		{"testdata/bad-values.yaml", []string{
			`listen: "8081" is not a host:port address`,
			`hub_token: set hub_token_file or KUBEDESK_HUB_TOKEN to a random token of at least 16 characters`,
			`spawn_timeout: must be positive, got -1s`,
			`log_format: must be json or text, got "xml"`,
		}},
		{"testdata/missing.yaml", []string{"read config testdata/missing.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(tc.file, env(nil))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// The limits of issue 13 have defaults and are checked against each other.
func TestHardeningLimits(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	cfg, err := Load("", env(nil))
	require.NoError(t, err)
	assert.Equal(t, 4096, cfg.MaxConnections)
	assert.Equal(t, 2048, cfg.MaxProgressStreams)
	assert.Equal(t, 64, cfg.MaxLaunchFiles)
	assert.Equal(t, 32<<10, cfg.MaxLaunchArgBytes)

	t.Setenv("KUBEDESK_MAX_CONNECTIONS", "100")
	t.Setenv("KUBEDESK_MAX_PROGRESS_STREAMS", "100")
	t.Setenv("KUBEDESK_MAX_LAUNCH_FILES", "0")
	_, err = Load("", env(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "max_progress_streams: must be at least 1 and below max_connections (100)")
	assert.Contains(t, err.Error(), "max_launch_files: must be at least 1")
}

// TLS on the API: both files or neither, and the URL agents get must then
// be https. Tried: a certificate without its key, TLS with an http URL, a
// CA for an http URL; then a whole TLS setting.
func TestTLS(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" for a valid setting
	}{
		{"a certificate without its key", map[string]string{"KUBEDESK_TLS_CERT_FILE": "/tls/tls.crt"},
			"tls_cert_file and tls_key_file: set both"},
		{"TLS with an http URL", map[string]string{"KUBEDESK_TLS_CERT_FILE": "/tls/tls.crt", "KUBEDESK_TLS_KEY_FILE": "/tls/tls.key",
			"KUBEDESK_SESSION_SERVICE_URL": "http://kubedesk-spawner.jhub:8080"}, "must be https:// when the API serves TLS"},
		{"a CA for an http URL", map[string]string{"KUBEDESK_SESSION_SERVICE_CA_FILE": "/tls/ca.crt",
			"KUBEDESK_SESSION_SERVICE_URL": "http://kubedesk-spawner.jhub:8080"}, "only an https:// session_service_url"},
		{"TLS", map[string]string{"KUBEDESK_TLS_CERT_FILE": "/tls/tls.crt", "KUBEDESK_TLS_KEY_FILE": "/tls/tls.key",
			"KUBEDESK_SESSION_SERVICE_CA_FILE": "/tls/ca.crt", "KUBEDESK_SESSION_SERVICE_URL": "https://kubedesk-spawner.jhub:8080"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := Load("", env(nil))
			if tc.want != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "/tls/tls.crt", cfg.TLSCertFile)
			assert.Equal(t, "/tls/tls.key", cfg.TLSKeyFile)
			assert.Equal(t, "/tls/ca.crt", cfg.SessionServiceCAFile)
		})
	}
}

// A single process runs as it always has: no leader election unless asked
// for; its identity is the pod's name when the chart gives one.
func TestLeaderElection(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	cfg, err := Load("", env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.LeaderElection)
	assert.Equal(t, "kubedesk-spawner", cfg.LeaderElectionLease)
	host, _ := os.Hostname()
	assert.Regexp(t, `^`+regexp.QuoteMeta(host)+`_\d+$`, cfg.LeaderElectionID, "hostname and pid without POD_NAME")

	t.Setenv("KUBEDESK_LEADER_ELECTION", "true")
	t.Setenv("KUBEDESK_LEADER_ELECTION_LEASE", "spawner-lock")
	cfg, err = Load("", env(map[string]string{"POD_NAME": "kubedesk-spawner-7d9f-abcde"}))
	require.NoError(t, err)
	assert.True(t, cfg.LeaderElection)
	assert.Equal(t, "spawner-lock", cfg.LeaderElectionLease)
	assert.Equal(t, "kubedesk-spawner-7d9f-abcde", cfg.LeaderElectionID)

	t.Setenv("KUBEDESK_LEADER_ELECTION_LEASE", "Not A Name")
	_, err = Load("", env(nil))
	require.ErrorContains(t, err, "leader_election_lease")
}

// Orphan collection is on only with an interval, the hub's API URL and a
// token, read from its file like the hub's.
func TestOrphanCollection(t *testing.T) {
	t.Setenv("KUBEDESK_HUB_TOKEN", "abcdefabcdefabcdef")
	cfg, err := Load("", env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.OrphanCollection(), "off without a hub URL and token")
	assert.Equal(t, 10*time.Minute, cfg.OrphanCollectionInterval)
	assert.Equal(t, 5*time.Minute, cfg.OrphanGracePeriod)
	assert.False(t, cfg.OrphanDryRun)

	tokenFile := t.TempDir() + "/hub-api-token"
	require.NoError(t, os.WriteFile(tokenFile, []byte("orphans-token\n"), 0o600))
	t.Setenv("KUBEDESK_HUB_API_URL", "http://hub:8081/hub/api")
	t.Setenv("KUBEDESK_HUB_API_TOKEN_FILE", tokenFile)
	t.Setenv("KUBEDESK_ORPHAN_DRY_RUN", "true")
	t.Setenv("KUBEDESK_ORPHAN_GRACE_PERIOD", "2s")
	cfg, err = Load("", env(nil))
	require.NoError(t, err)
	assert.True(t, cfg.OrphanCollection())
	assert.Equal(t, "orphans-token", cfg.HubAPIToken)
	assert.True(t, cfg.OrphanDryRun)
	assert.Equal(t, 2*time.Second, cfg.OrphanGracePeriod)

	t.Setenv("KUBEDESK_ORPHAN_COLLECTION_INTERVAL", "0")
	cfg, err = Load("", env(nil))
	require.NoError(t, err)
	assert.False(t, cfg.OrphanCollection(), "an interval of 0 turns it off")

	t.Setenv("KUBEDESK_HUB_API_URL", "hub:8081")
	_, err = Load("", env(nil))
	assert.ErrorContains(t, err, "hub_api_url")
}
