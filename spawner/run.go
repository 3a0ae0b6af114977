package spawner

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/api"
	"kubedesk.dev/kubedesk/spawner/internal/apps"
	"kubedesk.dev/kubedesk/spawner/internal/config"
	"kubedesk.dev/kubedesk/spawner/internal/httpguard"
	"kubedesk.dev/kubedesk/spawner/internal/leader"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/profile"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/internal/sessiontoken"
	"kubedesk.dev/kubedesk/spawner/internal/tlsfiles"
	"kubedesk.dev/kubedesk/spawner/internal/tokenrenew"
)

// shutdownGrace bounds how long open requests (progress streams included)
// may take to finish once the service is asked to stop.
const shutdownGrace = 10 * time.Second

// Run is the spawner service's main: it parses args, loads the
// configuration and serves until ctx ends.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kubedesk-spawner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file; KUBEDESK_* environment variables override it")
	checkOnly := fs.Bool("check", false, "load and validate the configuration and profiles, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath, os.Getenv)
	if err != nil {
		return err
	}
	profiles, err := loadProfiles(cfg)
	if err != nil {
		return err
	}
	if *checkOnly {
		_, err := fmt.Fprintf(stdout, "Configuration is valid: %d profiles.\n", len(profiles.list))
		return err
	}
	log := newLogger(cfg, stderr)
	// client-go logs through klog; send it to the same handler.
	klog.SetSlogLogger(log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var mgr *session.Manager
	var appMgr *apps.Manager
	m := metrics.NewSpawner(reg, func() map[string]int { return mgr.Counts() }, func() map[string]int { return appMgr.Counts() })

	restCfg, err := restConfig(cfg)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = cfg.KubeQPS, cfg.KubeBurst
	restCfg.UserAgent = "kubedesk-spawner"
	restCfg.Wrap(m.CountKubeRequests)
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	signer, err := sessionSigner(cfg, log)
	if err != nil {
		return err
	}
	serviceCA, err := readServiceCA(cfg.SessionServiceCAFile)
	if err != nil {
		return err
	}
	var apiTLS *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tlsfiles.Load(cfg.TLSCertFile, cfg.TLSKeyFile, log)
		if err != nil {
			return err
		}
		apiTLS = cert.ServerConfig()
	}
	mgr = session.New(client, session.Config{
		Tokens:             signer,
		ServiceURL:         cfg.SessionServiceURL,
		ServiceCA:          serviceCA,
		Namespace:          cfg.Namespace,
		SpawnTimeout:       cfg.SpawnTimeout,
		StopTimeout:        cfg.StopTimeout,
		DeleteGracePeriod:  cfg.DeleteGracePeriod,
		UnschedulableGrace: cfg.UnschedulableGrace,
	}, m, log)

	cat, skipped, err := loadCatalog(cfg, log)
	if err != nil {
		return err
	}
	m.CatalogApps.Set(float64(cat.Len()))
	m.CatalogSkipped.Set(float64(skipped))
	warnings := appWarnings(cfg, cat)
	for _, w := range warnings {
		log.Warn(w)
	}
	appMgr = apps.New(client, apps.Config{
		Namespace:         cfg.Namespace,
		XpraImage:         cfg.XpraImage,
		MaxAppsPerSession: cfg.MaxAppsPerSession,
		MaxLaunchFiles:    cfg.MaxLaunchFiles,
		MaxLaunchArgBytes: cfg.MaxLaunchArgBytes,
	}, cat, sessionsForApps{mgr}, m, log)

	renewer := tokenrenew.New(client, cfg.Namespace, mgr, signer, cfg.SessionTokenTTL, log)
	collector := orphanCollector(cfg, mgr, m, log)

	// With leader_election only the Lease's holder runs the managers; they
	// rebuild everything from the cluster at start, so a failover is a
	// restart from the hub's point of view (spawner/internal/leader).
	elector := leader.New(leader.Config{
		Election: cfg.LeaderElection, Client: client, Namespace: cfg.Namespace,
		Lease: cfg.LeaderElectionLease, Identity: cfg.LeaderElectionID, Metrics: m, Logger: log,
	})
	lead := func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return mgr.Start(ctx) })
		g.Go(func() error { return appMgr.Start(ctx) })
		g.Go(func() error { return renewer.Start(ctx) })
		if collector != nil {
			g.Go(func() error { return collector.Start(ctx) })
		}
		return g.Wait()
	}

	apiHandler, err := api.New(api.Options{
		Apps:         appMgr,
		Tokens:       signer,
		HubToken:     cfg.HubToken,
		MaxBodyBytes: cfg.MaxBodyBytes,
		StopTimeout:  cfg.StopTimeout,
		Sessions:     mgr,
		Profiles:     profiles,
		Metrics:      m,
		Logger:       log,
		// The per-server stream limit keeps its default (16).
		MaxProgressStreams: cfg.MaxProgressStreams,
		Failures:           httpguard.NewFailures(cfg.AuthFailureBurst),
		Standby:            elector.Standby,
	})
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return elector.Run(ctx, lead) })
	g.Go(func() error { return serve(ctx, log, "api", cfg.Listen, apiLimits(cfg), apiTLS, apiHandler) })
	g.Go(func() error {
		ready := func() bool { return elector.Leading() && mgr.Ready() }
		return serve(ctx, log, "ops", cfg.OpsListen, opsLimits, nil, opsHandler(cfg, ready, elector.Standby, warnings, reg))
	})
	log.Info("Spawner service starting", "namespace", cfg.Namespace, "listen", cfg.Listen, "ops_listen", cfg.OpsListen,
		"tls", apiTLS != nil, "profiles", len(profiles.list))
	err = g.Wait()
	log.Info("Spawner service stopped", "err", err)
	return err
}

// opsHandler is the ops server's handler: health, readiness and metrics,
// plus Go's pprof endpoints under /debug/pprof/ when the pprof key is on
// (off by default: profiles reveal internals and cost CPU while taken).
func opsHandler(cfg config.Config, ready, standby func() bool, warnings []string, reg *prometheus.Registry) http.Handler {
	ops := api.NewOps(ready, standby, warnings, reg)
	if !cfg.Pprof {
		return ops
	}
	mux := http.NewServeMux()
	mux.Handle("/", ops)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// sessionSigner loads the key that signs session tokens, or makes a random
// one (tokens then die with this process, which the log says).
func sessionSigner(cfg config.Config, log *slog.Logger) (*sessiontoken.Signer, error) {
	var key []byte
	if cfg.SessionKeyFile != "" {
		data, err := os.ReadFile(cfg.SessionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read session_key_file: %w", err)
		}
		key = bytes.TrimSpace(data)
	} else {
		key = make([]byte, sessiontoken.MinKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		log.Warn("No session_key_file: session tokens are signed with a random key; after a restart, running sessions get new tokens, which reach their pods with the kubelet's next Secret sync")
	}
	return sessiontoken.NewSigner(key, cfg.SessionTokenTTL)
}

func restConfig(cfg config.Config) (*rest.Config, error) {
	if cfg.Kubeconfig == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set kubeconfig to run outside a cluster): %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	return c, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// readHeaderTimeout bounds how long a connection may take to send its
// request headers (against clients that hold connections open without
// asking anything). It is generous because the hub is such a client when
// it is busy: during a wave of 1000 spawns its one thread stalls for more
// than 10 s between the kernel's connect and writing the request, and at
// 10 s the service had closed 13 % of the wave's connections (the
// KubeSpawner benchmark, docs/bench/kubespawner.md).
const readHeaderTimeout = 2 * time.Minute

// apiLimits bound what clients can make the API listener hold before they
// are authenticated (issue 13): a 16 KiB header (net/http's 1 MiB default
// let 300 unterminated headers cost 500 MB), idle keep-alives closed after
// two minutes, and max_connections at once. There is no whole-request read
// timeout, which would end progress streams (see httpguard); bodies have
// their own deadline.
func apiLimits(cfg config.Config) httpguard.Limits {
	return httpguard.Limits{
		MaxHeaderBytes:    httpguard.DefaultMaxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxConns:          cfg.MaxConnections,
	}
}

// opsLimits: the kubelet's probes and Prometheus send a request at once and
// hold few connections; 256 leaves room for an operator's curl and pprof.
var opsLimits = httpguard.Limits{
	MaxHeaderBytes:    httpguard.DefaultMaxHeaderBytes,
	ReadHeaderTimeout: 10 * time.Second,
	IdleTimeout:       time.Minute,
	MaxConns:          256,
}

// serve runs an HTTP server until ctx ends, then shuts it down gracefully;
// with tlsCfg, over TLS (the handshake is bounded by the header timeout,
// and the connection cap counts connections before their handshake).
func serve(ctx context.Context, log *slog.Logger, name, addr string, lim httpguard.Limits, tlsCfg *tls.Config, h http.Handler) error {
	ln, err := httpguard.Listen(addr, lim)
	if err != nil {
		return fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	srv := httpguard.Server(ctx, h, lim)
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		// No HTTP/2 (tlsfiles.ServerConfig): an empty map keeps net/http
		// from adding it.
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		ln = tls.NewListener(ln, tlsCfg)
	}
	log.Info("Listening", "server", name, "addr", ln.Addr().String(), "tls", tlsCfg != nil, "max_connections", lim.MaxConns)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", name, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down %s: %w", name, err)
	}
	return nil
}

// readServiceCA reads the CA bundle session agents trust for the service's
// https URL, and checks that it holds certificates: a bad file would
// otherwise show only as every agent failing its handshake.
func readServiceCA(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read session_service_ca_file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return "", fmt.Errorf("session_service_ca_file %s: no PEM certificate in it", path)
	}
	return string(data), nil
}

// sessionsForApps adapts the session manager to the app manager.
type sessionsForApps struct{ m *session.Manager }

func (s sessionsForApps) SessionPod(user, server string) (*corev1.Pod, string, bool) {
	return s.m.SessionPod(session.Key{User: user, Server: server})
}

func (s sessionsForApps) ReadWriteOnce(pod *corev1.Pod) bool { return s.m.ReadWriteOnce(pod) }

// appWarnings are the sentences that say why sessions of this configuration
// can launch no apps: the service still serves desktops, so they do not
// stop it, but an operator must see them (log, /readyz).
func appWarnings(cfg config.Config, cat *catalog.Catalog) []string {
	var out []string
	if cat.Len() == 0 {
		out = append(out, "No app catalog: sessions can launch no apps and their menus list none; set catalog_file or neurodesk_apps_file (the chart's sessions.catalog or sessions.neurodeskApps)")
	}
	if cfg.SessionServiceURL == "" {
		out = append(out, "No session_service_url: the launcher agents of sessions cannot reach this service, so no session can launch apps; set it to this service's URL as session pods reach it")
	}
	return out
}

// loadCatalog reads the app catalog and says how many entries it skipped.
// A bad entry is logged with its location and skipped; only an unreadable
// file stops the service.
func loadCatalog(cfg config.Config, log *slog.Logger) (*catalog.Catalog, int, error) {
	var parts []*catalog.Catalog
	var problems []catalog.Problem
	read := func(path string, parse func([]byte, string) (*catalog.Catalog, []catalog.Problem)) error {
		if path == "" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read app catalog: %w", err)
		}
		c, p := parse(data, path)
		parts = append(parts, c)
		problems = append(problems, p...)
		return nil
	}
	if err := read(cfg.CatalogFile, catalog.Parse); err != nil {
		return nil, 0, err
	}
	err := read(cfg.NeurodeskAppsFile, func(data []byte, src string) (*catalog.Catalog, []catalog.Problem) {
		return catalog.ImportNeurodesk(data, src, catalog.NeurodeskOptions{})
	})
	if err != nil {
		return nil, 0, err
	}
	cat, p := catalog.Merge(parts...)
	problems = append(problems, p...)
	for _, p := range problems {
		log.Warn("Catalog entry skipped", "problem", p.Error())
	}
	log.Info("App catalog loaded", "apps", cat.Len(), "skipped", len(problems))
	return cat, len(problems), nil
}

// profileSet adapts the profile package to the API.
type profileSet struct {
	base   podspec.Settings
	list   []profile.Profile
	form   string
	public any
}

func loadProfiles(cfg config.Config) (*profileSet, error) {
	base := podspec.Defaults()
	if cfg.DefaultsFile != "" {
		var err error
		if base, err = podspec.LoadSettings(cfg.DefaultsFile, base); err != nil {
			return nil, err
		}
	}
	if err := base.Validate(); err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	var list []profile.Profile
	if cfg.ProfilesFile != "" {
		var err error
		if list, err = profile.Load(cfg.ProfilesFile); err != nil {
			return nil, err
		}
	}
	if err := profile.Validate(base, list); err != nil {
		return nil, fmt.Errorf("profiles %s: %w", cfg.ProfilesFile, err)
	}
	form, err := profile.RenderForm(list)
	if err != nil {
		return nil, fmt.Errorf("render profile form: %w", err)
	}
	return &profileSet{base: base, list: list, form: form, public: profile.Public(list)}, nil
}

func (p *profileSet) Resolve(userOptions map[string]any) (string, podspec.Settings, error) {
	sel, err := profile.Resolve(p.base, p.list, userOptions)
	if err != nil {
		var ve *profile.ValidationError
		if errors.As(err, &ve) {
			return "", podspec.Settings{}, &api.OptionsError{Field: ve.Field, Message: ve.Message}
		}
		return "", podspec.Settings{}, err
	}
	// An unlisted choice puts the user's text into the settings; it must
	// still make a valid, non-root pod.
	if err := sel.Settings.Validate(); err != nil {
		return "", podspec.Settings{}, &api.OptionsError{Field: "user_options", Message: "These options do not give a valid session: " + err.Error()}
	}
	return sel.Profile, sel.Settings, nil
}

func (p *profileSet) Public() any  { return p.public }
func (p *profileSet) Form() string { return p.form }
