package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is the spawner service's configuration.
type Config struct {
	Listen               string        `mapstructure:"listen"`
	OpsListen            string        `mapstructure:"ops_listen"`
	Namespace            string        `mapstructure:"namespace"`
	Kubeconfig           string        `mapstructure:"kubeconfig"`
	HubToken             string        `mapstructure:"hub_token"`
	HubTokenFile         string        `mapstructure:"hub_token_file"`
	DefaultsFile         string        `mapstructure:"defaults_file"`
	ProfilesFile         string        `mapstructure:"profiles_file"`
	SessionKeyFile       string        `mapstructure:"session_key_file"`
	CatalogFile          string        `mapstructure:"catalog_file"`
	SessionServiceURL    string        `mapstructure:"session_service_url"`
	SessionServiceCAFile string        `mapstructure:"session_service_ca_file"`
	TLSCertFile          string        `mapstructure:"tls_cert_file"`
	TLSKeyFile           string        `mapstructure:"tls_key_file"`
	NeurodeskAppsFile    string        `mapstructure:"neurodesk_apps_file"`
	XpraImage            string        `mapstructure:"xpra_image"`
	MaxAppsPerSession    int           `mapstructure:"max_apps_per_session"`
	MaxLaunchFiles       int           `mapstructure:"max_launch_files"`
	MaxLaunchArgBytes    int           `mapstructure:"max_launch_arg_bytes"`
	SessionTokenTTL      time.Duration `mapstructure:"session_token_ttl"`
	SpawnTimeout         time.Duration `mapstructure:"spawn_timeout"`
	StopTimeout          time.Duration `mapstructure:"stop_timeout"`
	DeleteGracePeriod    time.Duration `mapstructure:"delete_grace_period"`
	UnschedulableGrace   time.Duration `mapstructure:"unschedulable_grace"`
	MaxBodyBytes         int64         `mapstructure:"max_body_bytes"`
	MaxConnections       int           `mapstructure:"max_connections"`
	MaxProgressStreams   int           `mapstructure:"max_progress_streams"`
	AuthFailureBurst     int           `mapstructure:"auth_failure_burst"`
	KubeQPS              float32       `mapstructure:"kube_qps"`
	KubeBurst            int           `mapstructure:"kube_burst"`
	LogFormat            string        `mapstructure:"log_format"`
	LogLevel             string        `mapstructure:"log_level"`
	// Pprof serves Go's profiles under /debug/pprof/ on the ops listener.
	Pprof bool `mapstructure:"pprof"`
	// LeaderElection makes this process one of several replicas of which
	// only the holder of the Lease LeaderElectionLease acts; the others
	// stand by (spawner/internal/leader). LeaderElectionID names this
	// process in the Lease: POD_NAME, else hostname and pid.
	LeaderElection      bool   `mapstructure:"leader_election"`
	LeaderElectionLease string `mapstructure:"leader_election_lease"`
	LeaderElectionID    string `mapstructure:"leader_election_id"`
	// The hub's API and a token of the service's own there, for orphan
	// collection (spawner/internal/orphans).
	HubAPIURL       string `mapstructure:"hub_api_url"`
	HubAPIToken     string `mapstructure:"hub_api_token"`
	HubAPITokenFile string `mapstructure:"hub_api_token_file"`
	// OrphanCollectionInterval 0 turns orphan collection off.
	OrphanCollectionInterval time.Duration `mapstructure:"orphan_collection_interval"`
	OrphanGracePeriod        time.Duration `mapstructure:"orphan_grace_period"`
	OrphanDryRun             bool          `mapstructure:"orphan_dry_run"`
}

// OrphanCollection reports whether orphans are collected: an interval, and
// the hub's API URL and a token to ask it with.
func (c Config) OrphanCollection() bool {
	return c.OrphanCollectionInterval > 0 && c.HubAPIURL != "" && c.HubAPIToken != ""
}

// defaults lists every key. A key must be here for a KUBEDESK_* variable to
// reach it, since viper only maps environment variables onto known keys.
func defaults() map[string]any {
	return map[string]any{
		"listen":                     ":8080",
		"ops_listen":                 ":9090",
		"namespace":                  "",
		"kubeconfig":                 "",
		"hub_token":                  "",
		"hub_token_file":             "",
		"defaults_file":              "",
		"profiles_file":              "",
		"session_key_file":           "",
		"session_service_url":        "",
		"session_service_ca_file":    "",
		"tls_cert_file":              "",
		"tls_key_file":               "",
		"catalog_file":               "",
		"neurodesk_apps_file":        "",
		"xpra_image":                 "kubedesk/xpra-sidecar:3.1",
		"max_apps_per_session":       8,
		"max_launch_files":           64,
		"max_launch_arg_bytes":       32 << 10,
		"session_token_ttl":          "168h",
		"spawn_timeout":              "4m",
		"stop_timeout":               "1m",
		"delete_grace_period":        "1s",
		"unschedulable_grace":        "30s",
		"max_body_bytes":             1 << 20,
		"max_connections":            4096,
		"max_progress_streams":       2048,
		"auth_failure_burst":         20,
		"kube_qps":                   100,
		"kube_burst":                 200,
		"log_format":                 "json",
		"log_level":                  "info",
		"pprof":                      false,
		"leader_election":            false,
		"leader_election_lease":      "kubedesk-spawner",
		"leader_election_id":         "",
		"hub_api_url":                "",
		"hub_api_token":              "",
		"hub_api_token_file":         "",
		"orphan_collection_interval": "10m",
		"orphan_grace_period":        "5m",
		"orphan_dry_run":             false,
	}
}

// Load reads the file at path (optional, "" for none) and the environment,
// and validates the result. getenv is os.Getenv outside tests.
func Load(path string, getenv func(string) string) (Config, error) {
	v := viper.New()
	for k, val := range defaults() {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("KUBEDESK")
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	var cfg Config
	err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.StringToTimeDurationHookFunc()))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", orEnv(path), err)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = getenv("POD_NAMESPACE")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.LeaderElectionID == "" {
		cfg.LeaderElectionID = identity(getenv)
	}
	if cfg.HubTokenFile != "" {
		data, err := os.ReadFile(cfg.HubTokenFile)
		if err != nil {
			return Config{}, fmt.Errorf("read hub_token_file: %w", err)
		}
		cfg.HubToken = strings.TrimSpace(string(data))
	}
	if cfg.HubAPITokenFile != "" {
		data, err := os.ReadFile(cfg.HubAPITokenFile)
		if err != nil {
			return Config{}, fmt.Errorf("read hub_api_token_file: %w", err)
		}
		cfg.HubAPIToken = strings.TrimSpace(string(data))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", orEnv(path), err)
	}
	return cfg, nil
}

// identity names this process in the leader Lease: the pod's name (the
// chart's downward API), else the hostname and pid, which tell apart two
// processes on one machine (the tests run replicas so).
func identity(getenv func(string) string) string {
	if name := getenv("POD_NAME"); name != "" {
		return name
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s_%d", host, os.Getpid())
}

func orEnv(path string) string {
	if path == "" {
		return "(environment)"
	}
	return path
}

// Validate checks every field and reports all problems at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for key, addr := range map[string]string{"listen": c.Listen, "ops_listen": c.OpsListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			add("%s: %q is not a host:port address", key, addr)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		add("tls_cert_file and tls_key_file: set both to serve the API over TLS, or neither")
	}
	if u, err := url.Parse(c.SessionServiceURL); c.SessionServiceURL != "" && err == nil {
		if c.TLSCertFile != "" && u.Scheme != "https" {
			add("session_service_url: %q must be https:// when the API serves TLS (tls_cert_file), or session agents cannot reach it", c.SessionServiceURL)
		}
		if c.SessionServiceCAFile != "" && u.Scheme != "https" {
			add("session_service_ca_file: only an https:// session_service_url has a certificate to check, got %q", c.SessionServiceURL)
		}
	}
	if c.Listen == c.OpsListen {
		add("listen and ops_listen must differ: the API needs the hub's token, the ops endpoints do not")
	}
	if len(c.HubToken) < 16 {
		add("hub_token: set hub_token_file or KUBEDESK_HUB_TOKEN to a random token of at least 16 characters (for example `openssl rand -hex 32`); the API never runs without one")
	}
	for key, d := range map[string]time.Duration{
		"session_token_ttl": c.SessionTokenTTL,
		"spawn_timeout":     c.SpawnTimeout, "stop_timeout": c.StopTimeout, "unschedulable_grace": c.UnschedulableGrace,
	} {
		if d <= 0 {
			add("%s: must be positive, got %s", key, d)
		}
	}
	if u, err := url.Parse(c.HubAPIURL); c.HubAPIURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		add("hub_api_url: %q is not an absolute http(s) URL (JupyterHub's API, e.g. http://hub:8081/hub/api)", c.HubAPIURL)
	}
	if c.OrphanCollectionInterval < 0 || c.OrphanGracePeriod < 0 {
		add("orphan_collection_interval and orphan_grace_period: must not be negative (an interval of 0 turns collection off)")
	}
	if c.DeleteGracePeriod < 0 {
		add("delete_grace_period: must not be negative, got %s", c.DeleteGracePeriod)
	}
	if c.MaxAppsPerSession < 1 {
		add("max_apps_per_session: must be at least 1, got %d", c.MaxAppsPerSession)
	}
	if c.MaxLaunchFiles < 1 {
		add("max_launch_files: must be at least 1, got %d", c.MaxLaunchFiles)
	}
	if c.MaxLaunchArgBytes < 256 {
		add("max_launch_arg_bytes: must be at least 256, got %d", c.MaxLaunchArgBytes)
	}
	if c.MaxBodyBytes < 1024 {
		add("max_body_bytes: must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.MaxConnections < 16 {
		add("max_connections: must be at least 16, got %d", c.MaxConnections)
	}
	if c.MaxProgressStreams < 1 || c.MaxProgressStreams >= c.MaxConnections {
		add("max_progress_streams: must be at least 1 and below max_connections (%d), so that streams never take every connection; got %d", c.MaxConnections, c.MaxProgressStreams)
	}
	if c.AuthFailureBurst < 1 {
		add("auth_failure_burst: must be at least 1, got %d", c.AuthFailureBurst)
	}
	if c.KubeQPS <= 0 || c.KubeBurst <= 0 {
		add("kube_qps and kube_burst: must be positive")
	}
	if c.LeaderElection && len(validation.IsDNS1123Subdomain(c.LeaderElectionLease)) > 0 {
		add("leader_election_lease: %q is not a valid Lease name (lower case letters, digits, '-' and '.')", c.LeaderElectionLease)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		add("log_format: must be json or text, got %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level: must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return errors.Join(errs...)
}
