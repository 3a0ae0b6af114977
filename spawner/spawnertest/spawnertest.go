package spawnertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/helm/chartenv"
	"kubedesk.dev/kubedesk/spawner/internal/session"
)

// startTimeout bounds the wait for a started service to report ready.
const startTimeout = 60 * time.Second

// Options describe one service process.
type Options struct {
	Kubeconfig string
	Namespace  string
	// Profiles is the YAML of the profile list; empty for none.
	Profiles string
	// Env adds KEY=VALUE settings (KUBEDESK_SPAWN_TIMEOUT=...).
	Env []string
	// SessionServiceURL makes the service give session pods its own URL
	// (KUBEDESK_SESSION_SERVICE_URL, their launcher agent's
	// KUBEDESK_SERVICE_URL): pods on the dev node share this machine's
	// network, so they reach it at 127.0.0.1:port.
	SessionServiceURL bool
	// Chart, when set, configures the service as the Helm chart does with
	// these `helm template` arguments (values files, --set…), through
	// helm/chartenv: every setting the chart gives the service, with this
	// machine's addresses (SessionServiceURL is then implied). Profiles and
	// Env still win over it. DemoChart is the demo's.
	Chart []string
	// TLS serves the API over TLS with a certificate of a CA of the test's
	// own (for 127.0.0.1 and localhost); the service hands that CA to
	// session agents, and Service.CAFile is it for other clients (the
	// hub's shim).
	TLS bool
}

// DemoChart are the chart arguments of `make demo` (hack/demo.sh): the
// demo's values file, with its profiles, catalog and Neurodesk sample, and
// the dev node's placement of sessions.
func DemoChart() []string {
	demo := filepath.Join(repoRoot(), "examples", "demo")
	return []string{"--values", filepath.Join(demo, "values.yaml"), "--values", filepath.Join(demo, "values-devnode.yaml")}
}

// repoRoot is the repository's root, found from this file's place in it.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Service is a running spawner service.
type Service struct {
	// URL is the API's base (http://127.0.0.1:port) and Token the hub's.
	URL    string
	OpsURL string
	Token  string
	// SessionKey signs the session tokens the service mints.
	SessionKey []byte
	// CAFile is the CA (PEM) of the API's certificate with Options.TLS.
	CAFile string

	opts    Options
	listen  string // the API's host:port
	env     []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	client  *http.Client
}

// Event is one progress event as the stream sends it.
type Event struct {
	Kind     string `json:"-"`
	Progress int    `json:"progress"`
	Message  string `json:"message"`
	URL      string `json:"url"`
	Reason   string `json:"reason"`
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/kubedesk-spawner once per process and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubedesk-spawner-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kubedesk-spawner")
		out, err := exec.Command("go", "build", "-o", binPath, "kubedesk.dev/kubedesk/cmd/kubedesk-spawner").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// Start runs a service and waits until it is ready. It is killed when the
// test ends; its log is printed if the test failed.
func Start(tb testing.TB, opts Options) *Service {
	tb.Helper()
	dir := tb.TempDir()
	token := randomToken()
	tokenFile := filepath.Join(dir, "hub-token")
	must(tb, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	sessionKey := []byte(randomToken())
	keyFile := filepath.Join(dir, "session-key")
	must(tb, os.WriteFile(keyFile, sessionKey, 0o600))
	listen := freeAddr(tb)
	s := &Service{
		URL: "http://" + listen, OpsURL: "http://" + freeAddr(tb), Token: token, SessionKey: sessionKey,
		opts: opts, listen: listen, logPath: filepath.Join(dir, "service.log"),
		client: &http.Client{Timeout: 2 * time.Minute},
	}
	var tlsEnv []string
	tlsDir := filepath.Join(dir, "tls")
	if opts.TLS {
		must(tb, os.Mkdir(tlsDir, 0o700))
		ca := NewCA(tb)
		files := ca.WriteTLS(tb, tlsDir, "127.0.0.1", "localhost")
		s.URL, s.CAFile = "https://"+listen, files.CA
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.PEM())
		s.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		tlsEnv = []string{"KUBEDESK_TLS_CERT_FILE=" + files.Cert, "KUBEDESK_TLS_KEY_FILE=" + files.Key,
			"KUBEDESK_SESSION_SERVICE_CA_FILE=" + files.CA}
	}
	s.env = append(os.Environ(),
		"KUBEDESK_KUBECONFIG="+opts.Kubeconfig,
		"KUBEDESK_NAMESPACE="+opts.Namespace,
		"KUBEDESK_HUB_TOKEN_FILE="+tokenFile,
		"KUBEDESK_SESSION_KEY_FILE="+keyFile,
		"KUBEDESK_LISTEN="+listen,
		"KUBEDESK_OPS_LISTEN="+strings.TrimPrefix(s.OpsURL, "http://"),
		"KUBEDESK_LOG_FORMAT=text",
		"KUBEDESK_LOG_LEVEL=debug",
	)
	if len(opts.Chart) > 0 {
		// The chart's own TLS settings, with its Secret's files here.
		if opts.TLS {
			opts.Chart = append(slices.Clone(opts.Chart), "--set", "spawner.tls.secretName=kubedesk-spawner-tls")
			tlsEnv = nil
		}
		s.env = append(os.Environ(), chartEnv(tb, opts, s, dir, tokenFile, keyFile, tlsDir)...)
		s.env = append(s.env, "KUBEDESK_LOG_FORMAT=text", "KUBEDESK_LOG_LEVEL=debug")
	}
	if opts.Profiles != "" {
		path := filepath.Join(dir, "profiles.yaml")
		must(tb, os.WriteFile(path, []byte(opts.Profiles), 0o600))
		s.env = append(s.env, "KUBEDESK_PROFILES_FILE="+path)
	}
	if opts.SessionServiceURL {
		s.env = append(s.env, "KUBEDESK_SESSION_SERVICE_URL="+s.URL)
	}
	s.env = append(s.env, tlsEnv...)
	s.env = append(s.env, opts.Env...)
	s.launch(tb)
	tb.Cleanup(func() {
		s.stopProcess(syscall.SIGKILL)
		if tb.Failed() {
			data, _ := os.ReadFile(s.logPath)
			tb.Logf("spawner service log (%s):\n%s", s.logPath, tail(string(data), 80))
		}
	})
	return s
}

// chartEnv renders the chart with opts.Chart and returns the service's
// environment as its Deployment has it, on this machine's addresses.
func chartEnv(tb testing.TB, opts Options, s *Service, dir, tokenFile, keyFile, tlsDir string) []string {
	tb.Helper()
	helm := filepath.Join(repoRoot(), ".cache", "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		tb.Fatalf("helm is not built: run hack/helm.sh (make deps does): %v", err)
	}
	rendered, err := chartenv.Render(context.Background(), helm, filepath.Join(repoRoot(), "helm", "kubedesk"), opts.Chart, chartenv.Host{
		Namespace: opts.Namespace, Kubeconfig: opts.Kubeconfig,
		Listen: s.listen, OpsListen: strings.TrimPrefix(s.OpsURL, "http://"),
		SessionServiceURL: s.URL, HubTokenFile: tokenFile, SessionKeyFile: keyFile,
		ConfigDir: filepath.Join(dir, "chart-config"), TLSDir: tlsDir,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rendered.Env
}

func (s *Service) launch(tb testing.TB) {
	tb.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	must(tb, err)
	cmd := exec.Command(Binary(tb))
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	must(tb, cmd.Start())
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()

	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(s.OpsURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.exited:
			data, _ := os.ReadFile(s.logPath)
			tb.Fatalf("spawner service exited during start:\n%s", tail(string(data), 40))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("spawner service not ready after %s", startTimeout)
		}
	}
}

func (s *Service) stopProcess(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	<-s.exited
}

// Kill ends the service with SIGKILL: it gets no chance to clean up.
func (s *Service) Kill(tb testing.TB) { s.stopProcess(syscall.SIGKILL) }

// Terminate ends the service with SIGTERM, as a rolling update does.
func (s *Service) Terminate(tb testing.TB) { s.stopProcess(syscall.SIGTERM) }

// Restart starts the service again with the same settings and waits until
// it is ready.
func (s *Service) Restart(tb testing.TB) { tb.Helper(); s.launch(tb) }

// Pid is the service process's id, for measuring it.
func (s *Service) Pid() int { return s.cmd.Process.Pid }

// HTTPClient is a client of the API: it trusts the API's certificate.
func (s *Service) HTTPClient() *http.Client { return s.client }

// Do sends an API request with the hub's token; body is JSON-encoded.
func (s *Service) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	return s.DoAs(tb, "", method, path, body)
}

// DoAs is Do with another token: "" is the hub's, "-" none at all.
func (s *Service) DoAs(tb testing.TB, token, method, path string, body any) (int, []byte) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		must(tb, err)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	must(tb, err)
	req.Header.Set("Content-Type", "application/json")
	switch token {
	case "":
		req.Header.Set("Authorization", "Bearer "+s.Token)
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	must(tb, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(tb, err)
	return resp.StatusCode, data
}

// Session GETs a server's status and fails the test unless it exists.
func (s *Service) Session(tb testing.TB, path string) session.Session {
	tb.Helper()
	status, body := s.Do(tb, "GET", path, nil)
	if status != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, status, body)
	}
	var out session.Session
	must(tb, json.Unmarshal(body, &out))
	return out
}

// Sessions lists every session.
func (s *Service) Sessions(tb testing.TB) []session.Session {
	tb.Helper()
	status, body := s.Do(tb, "GET", "/api/v1/sessions", nil)
	if status != http.StatusOK {
		tb.Fatalf("GET sessions: %d %s", status, body)
	}
	var out []session.Session
	must(tb, json.Unmarshal(body, &out))
	return out
}

// Progress reads a server's progress stream until it ends (after ready or
// failed) or timeout passes, and returns the events.
func (s *Service) Progress(tb testing.TB, path string, timeout time.Duration) []Event {
	tb.Helper()
	events, err := s.ProgressErr(path, timeout)
	if err != nil {
		tb.Fatalf("progress %s: %v (events so far: %+v)", path, err, events)
	}
	return events
}

// ProgressErr is Progress for callers outside a test's goroutine.
func (s *Service) ProgressErr(path string, timeout time.Duration) ([]Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+path+"/progress", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	// The stream lasts as long as the spawn: no client timeout, ctx's.
	resp, err := (&http.Client{Transport: s.client.Transport}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var events []Event
	kind := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var e Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				return events, err
			}
			e.Kind = kind
			events = append(events, e)
		}
	}
	if err := sc.Err(); err != nil {
		return events, err
	}
	if len(events) == 0 || (events[len(events)-1].Kind != "ready" && events[len(events)-1].Kind != "failed") {
		return events, fmt.Errorf("stream ended without ready or failed")
	}
	return events, nil
}

// Metrics returns the service's /metrics text.
func (s *Service) Metrics(tb testing.TB) string {
	tb.Helper()
	resp, err := http.Get(s.OpsURL + "/metrics")
	must(tb, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(tb, err)
	return string(data)
}

// Log returns what the service has logged so far (text format).
func (s *Service) Log(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile(s.logPath)
	must(tb, err)
	return string(data)
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	defer ln.Close()
	return ln.Addr().String()
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
