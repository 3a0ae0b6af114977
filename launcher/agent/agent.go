package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Options are what the agent takes besides its Config; the zero value is
// the real thing.
type Options struct {
	Logger *slog.Logger
	// Menu says where the menu goes; zero means menu.DefaultOptions().
	Menu menu.Options
	// HTTPClient calls the service and the hub; nil means a client with a
	// 30 s timeout.
	HTTPClient *http.Client

	// For tests: fakes of the service, the attacher and the hub.
	service  sessionAPI
	attacher attacher
	hub      interface {
		identifier
		activityReporter
	}
}

// Agent is the launcher agent of one session.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	svc  sessionAPI
	pres *presence

	menu     *menuSync
	local    *localAPI
	sup      *supervisor
	activity *activity // nil without a hub
	proxy    *proxy    // nil without a hub or with ProxyAddr ""
}

// New builds the agent's parts; Start runs them.
func New(cfg Config, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	hc := opts.HTTPClient
	if hc == nil {
		t, err := serviceTransport(cfg.ServiceCA)
		if err != nil {
			return nil, err
		}
		hc = &http.Client{Timeout: 30 * time.Second, Transport: t}
	}
	svc := opts.service
	if svc == nil {
		svc = sessionapi.NewClient(cfg.ServiceURL, cfg.TokenFile, hc)
	}
	mopts := opts.Menu
	if mopts.DataHome == "" || mopts.ConfigHome == "" {
		d, err := menu.DefaultOptions()
		if err != nil {
			return nil, err
		}
		if mopts.DataHome == "" {
			mopts.DataHome = d.DataHome
		}
		if mopts.ConfigHome == "" {
			mopts.ConfigHome = d.ConfigHome
		}
	}
	if mopts.KnownFileType == nil {
		// Once for the agent's life, not at every menu sync.
		mopts.KnownFileType = menu.SystemGlobs()
	}
	att := opts.attacher
	if att == nil {
		att = &xpraAttacher{
			command: cfg.XpraCommand, extra: cfg.XpraAttachArgs,
			secretsDir: filepath.Dir(cfg.Socket),
			display:    cfg.desktopX, log: log.With("part", "xpra"),
		}
	}

	a := &Agent{cfg: cfg, log: log, svc: svc, pres: newPresence(nil)}
	a.menu = newMenuSync(svc, mopts, cfg.MenuInterval, log.With("part", "menu"))
	a.menu.serviceURL = cfg.ServiceURL
	a.sup = newSupervisor(svc, att, a.pres, log.With("part", "supervisor"))
	a.sup.idle = cfg.IdleTimeout
	a.local = &localAPI{socket: cfg.Socket, svc: svc, serviceURL: cfg.ServiceURL, log: log.With("part", "api"), uid: os.Getuid(), kick: a.sup.kick}

	var hub interface {
		identifier
		activityReporter
	}
	switch {
	case opts.hub != nil:
		hub = opts.hub
	case cfg.hubEnabled():
		hub = &hubapi.Client{BaseURL: cfg.HubAPIURL, Token: cfg.HubAPIToken, HTTPClient: hc}
	default:
		log.Warn("No hub configured: no activity reports, no HTML5 proxy", "needs", []string{EnvHubAPIURL, EnvHubAPIToken, EnvHubUser})
	}
	if hub != nil {
		a.activity = &activity{hub: hub, user: cfg.User, server: cfg.ServerName, pres: a.pres,
			interval: cfg.ActivityInterval, now: time.Now, log: log.With("part", "activity")}
		if cfg.ProxyAddr != "" {
			a.proxy = &proxy{addr: cfg.ProxyAddr, hub: hub, user: cfg.User, server: cfg.ServerName,
				lookup: a.lookup, pres: a.pres,
				log: log.With("part", "proxy"), now: time.Now}
		}
	}
	return a, nil
}

// lookup finds a running app's route: the supervisor's last view, else
// the service (an app that has just started).
func (a *Agent) lookup(ctx context.Context, id string) (route, error) {
	if r, ok := a.sup.route(id); ok {
		return r, nil
	}
	app, err := a.svc.Get(ctx, id)
	if err != nil {
		return route{}, err
	}
	r, ok := routeOf(app)
	if !ok {
		return route{}, errNotRunning{status: app.Status}
	}
	return r, nil
}

// Start runs every part until ctx ends or one fails. On the way out the
// attaches stop (their windows leave the desktop; the apps keep running)
// and the socket is removed.
func (a *Agent) Start(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	run := func(name string, start func(context.Context) error) {
		g.Go(func() error {
			if err := start(ctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	run("menu", a.menu.Start)
	run("launch api", a.local.Start)
	run("supervisor", a.sup.Start)
	if a.activity != nil {
		run("activity", a.activity.Start)
	}
	if a.proxy != nil {
		run("html5 proxy", a.proxy.Start)
	}
	a.log.Info("Launcher agent started", "service", a.cfg.ServiceURL, "socket", a.cfg.Socket, "proxy", a.cfg.ProxyAddr)
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Run is the kubedesk-launcher program: it reads the configuration from
// the environment and runs the agent until ctx ends.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "help":
			fmt.Fprint(stdout, Usage)
			return nil
		default:
			return fmt.Errorf("unexpected argument %q; the agent is configured through its environment (kubedesk-launcher --help)", args[0])
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := ConfigFromEnv(os.Getenv)
	if err == nil {
		var a *Agent
		if a, err = New(cfg, Options{Logger: log}); err == nil {
			return a.Start(ctx)
		}
	}
	// The agent cannot work; it stays to say why where users look, rather
	// than exit and leave an empty menu and a bare 502 behind.
	return runUnavailable(ctx, cfg, misconfigured(cfg, err), menu.Options{}, log)
}

// serviceTransport is the transport to the spawner service: Go's default,
// trusting ca (PEM) besides the system's roots when it is set.
func serviceTransport(ca string) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if ca == "" {
		return t, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		return nil, fmt.Errorf("%s holds no PEM certificate", EnvServiceCA)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}
