package agent

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kubedesk.dev/kubedesk/launcher/launchapi"
)

// Names of the environment variables the agent reads (see the package doc
// for what each means and its default).
const (
	EnvServiceURL       = "KUBEDESK_SERVICE_URL"
	EnvServiceCA        = "KUBEDESK_SERVICE_CA"
	EnvTokenFile        = "KUBEDESK_SESSION_TOKEN_FILE"
	EnvSocket           = launchapi.EnvSocket
	EnvDesktopEnv       = "KUBEDESK_DESKTOP_ENV"
	EnvDisplay          = "DISPLAY"
	EnvXAuthority       = "XAUTHORITY"
	EnvProxyAddr        = "KUBEDESK_LAUNCHER_PROXY_ADDR"
	EnvPodIP            = "KUBEDESK_POD_IP"
	EnvHubAPIURL        = "JUPYTERHUB_API_URL"
	EnvHubAPIToken      = "JUPYTERHUB_API_TOKEN"
	EnvHubUser          = "JUPYTERHUB_USER"
	EnvHubServerName    = "JUPYTERHUB_SERVER_NAME"
	EnvXpraCommand      = "XPRA_COMMAND"
	EnvXpraAttachArgs   = "KUBEDESK_XPRA_ATTACH_ARGS"
	EnvIdleTimeout      = "KUBEDESK_APP_IDLE_TIMEOUT"
	EnvMenuInterval     = "KUBEDESK_MENU_INTERVAL"
	EnvActivityInterval = "KUBEDESK_ACTIVITY_INTERVAL"
)

// Defaults of the configuration.
const (
	DefaultTokenFile        = "/etc/kubedesk/session/token"
	DefaultSocket           = launchapi.DefaultSocket
	DefaultDesktopEnv       = "/tmp/kubedesk/desktop.env"
	DefaultProxyPort        = "8899"
	DefaultXpraCommand      = "xpra"
	DefaultMenuInterval     = 5 * time.Minute
	DefaultActivityInterval = time.Minute
	// PollFast and PollSlow are how often the supervisor lists the
	// session's apps while one of them is starting, and otherwise. The fast
	// poll is what stands between an app pod turning Ready and its attach
	// starting (at 1 s, click → window had two modes a second apart); a
	// list is a read of the service's informer cache, so 4/s for the few
	// seconds an app starts costs nothing worth saving.
	PollFast = 250 * time.Millisecond
	PollSlow = 5 * time.Second
)

// Config is the agent's configuration.
type Config struct {
	// ServiceURL is the spawner service's root URL; the agent calls
	// <ServiceURL>/api/v1/session/….
	ServiceURL string
	// ServiceCA is PEM: the CA certificates trusted, besides the system's,
	// for an https ServiceURL (the service's own CA, which it puts in the
	// session pod's spec).
	ServiceCA string
	// TokenFile holds the session token; it is read again on every call,
	// because the kubelet replaces it when the service renews the token.
	TokenFile string
	// Socket is the Unix socket of the local API (mode 0600).
	Socket string
	// DesktopEnvFile is the desktop's published DISPLAY and XAUTHORITY,
	// read when Display is empty (and again before every attach, so an
	// agent started before the desktop finds it later).
	DesktopEnvFile string
	// Display and XAuthority are the desktop's X display, when set in the
	// agent's environment.
	Display, XAuthority string
	// ProxyAddr is the HTML5 proxy's listen address; "" disables it.
	ProxyAddr string
	// HubAPIURL, HubAPIToken, User and ServerName are the hub's API, the
	// server's own token, the session's owner and the server's name.
	HubAPIURL, HubAPIToken, User, ServerName string
	// XpraCommand is the xpra program and any leading arguments, e.g.
	// ["/usr/bin/python3", "/usr/bin/xpra"].
	XpraCommand []string
	// XpraAttachArgs are added to the default attach options.
	XpraAttachArgs []string
	// IdleTimeout stops an app that has had no client attached (neither the
	// desktop's xpra attach nor an HTML5 viewer) this long; 0 turns it off.
	IdleTimeout time.Duration
	// MenuInterval is how often the catalog is fetched and the menu
	// rewritten; 0 means only at start.
	MenuInterval time.Duration
	// ActivityInterval is the least time between two activity reports.
	ActivityInterval time.Duration
}

// ConfigFromEnv reads the configuration from the environment through
// getenv (os.Getenv in the agent) and validates it.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		ServiceURL:       strings.TrimRight(getenv(EnvServiceURL), "/"),
		ServiceCA:        getenv(EnvServiceCA),
		TokenFile:        or(getenv(EnvTokenFile), DefaultTokenFile),
		Socket:           or(getenv(EnvSocket), DefaultSocket),
		DesktopEnvFile:   or(getenv(EnvDesktopEnv), DefaultDesktopEnv),
		Display:          getenv(EnvDisplay),
		XAuthority:       getenv(EnvXAuthority),
		HubAPIURL:        getenv(EnvHubAPIURL),
		HubAPIToken:      getenv(EnvHubAPIToken),
		User:             getenv(EnvHubUser),
		ServerName:       getenv(EnvHubServerName),
		XpraCommand:      strings.Fields(or(getenv(EnvXpraCommand), DefaultXpraCommand)),
		XpraAttachArgs:   strings.Fields(getenv(EnvXpraAttachArgs)),
		MenuInterval:     DefaultMenuInterval,
		ActivityInterval: DefaultActivityInterval,
	}
	var errs []error
	duration := func(name string, dst *time.Duration) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a duration such as 90s or 30m", name, v))
			return
		}
		*dst = d
	}
	duration(EnvIdleTimeout, &c.IdleTimeout)
	duration(EnvMenuInterval, &c.MenuInterval)
	duration(EnvActivityInterval, &c.ActivityInterval)

	switch v := getenv(EnvProxyAddr); {
	case v == "off":
		c.ProxyAddr = ""
	case v != "":
		c.ProxyAddr = v
	case getenv(EnvPodIP) != "":
		c.ProxyAddr = net.JoinHostPort(getenv(EnvPodIP), DefaultProxyPort)
	default:
		c.ProxyAddr = net.JoinHostPort("127.0.0.1", DefaultProxyPort)
	}
	if err := errors.Join(append(errs, c.Validate())...); err != nil {
		return c, err
	}
	return c, nil
}

// Validate checks the configuration; the messages name the variable at
// fault.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.ServiceURL); c.ServiceURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("%s=%q must be the spawner service's http(s) URL", EnvServiceURL, c.ServiceURL))
	} else if c.ServiceCA != "" && u.Scheme != "https" {
		errs = append(errs, fmt.Errorf("%s is set, but %s=%q is not https: there is no certificate to check", EnvServiceCA, EnvServiceURL, c.ServiceURL))
	}
	if c.ServiceCA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.ServiceCA)) {
		errs = append(errs, fmt.Errorf("%s holds no PEM certificate", EnvServiceCA))
	}
	if !filepath.IsAbs(c.TokenFile) {
		errs = append(errs, fmt.Errorf("%s=%q must be an absolute path", EnvTokenFile, c.TokenFile))
	}
	if !filepath.IsAbs(c.Socket) {
		errs = append(errs, fmt.Errorf("%s=%q must be an absolute path", EnvSocket, c.Socket))
	}
	if len(c.XpraCommand) == 0 {
		errs = append(errs, fmt.Errorf("%s must name the xpra program", EnvXpraCommand))
	}
	if c.ProxyAddr != "" {
		if _, _, err := net.SplitHostPort(c.ProxyAddr); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q must be host:port or \"off\"", EnvProxyAddr, c.ProxyAddr))
		}
	}
	if c.ActivityInterval < time.Second {
		errs = append(errs, fmt.Errorf("%s=%s must be at least 1s", EnvActivityInterval, c.ActivityInterval))
	}
	if c.HubAPIURL != "" && c.User == "" {
		errs = append(errs, fmt.Errorf("%s is set but %s is not", EnvHubAPIURL, EnvHubUser))
	}
	return errors.Join(errs...)
}

// hubEnabled reports whether the hub's API is configured (activity and
// the HTML5 proxy need it).
func (c Config) hubEnabled() bool { return c.HubAPIURL != "" && c.HubAPIToken != "" && c.User != "" }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// X is the desktop's X display.
type X struct {
	Display    string
	XAuthority string
}

// desktopX finds the desktop's display: the agent's own DISPLAY, else the
// desktop's env file (KEY=VALUE lines, optionally quoted, "export " ok).
func (c Config) desktopX() (X, error) {
	if c.Display != "" {
		return X{c.Display, c.XAuthority}, nil
	}
	b, err := os.ReadFile(c.DesktopEnvFile)
	if err != nil {
		return X{}, fmt.Errorf("find the desktop's display: DISPLAY is not set and %w", err)
	}
	x := parseDesktopEnv(b)
	if x.Display == "" {
		return X{}, fmt.Errorf("find the desktop's display: %s has no DISPLAY", c.DesktopEnvFile)
	}
	return x, nil
}

func parseDesktopEnv(b []byte) X {
	var x X
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		switch strings.TrimSpace(k) {
		case EnvDisplay:
			x.Display = v
		case EnvXAuthority:
			x.XAuthority = v
		}
	}
	return x
}
