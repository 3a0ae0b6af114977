package benchhub

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

// hubStartTimeout bounds a hub's start until /hub/api answers; a restart
// with thousands of servers takes much longer (measured, not bounded here).
const hubStartTimeout = 10 * time.Minute

// hubVersion is one JupyterHub major version, from its bench venv.
type hubVersion struct {
	Name    string // jh5, jh6
	Venv    string
	Version string // from versions.txt
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func loadHub(t *testing.T, name string) hubVersion {
	t.Helper()
	venv := filepath.Join(repoRoot(), ".cache", "venv-bench-"+name)
	data, err := os.ReadFile(filepath.Join(venv, "versions.txt"))
	if err != nil {
		t.Fatalf("%s: run hack/bench-env.sh first (make bench-hub does): %v", venv, err)
	}
	h := hubVersion{Name: name, Venv: venv}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "jupyterhub=="); ok {
			h.Version = v
		}
	}
	return h
}

// hubProc is a running JupyterHub and its proxy.
type hubProc struct {
	URL    string // public (proxy) URL
	Token  string // the bench service's admin token
	State  string
	Log    string
	cmd    *exec.Cmd
	exited chan struct{}
	env    []string
	args   []string
	client *http.Client
}

type hubOptions struct {
	Hub       hubVersion
	Spawner   string
	Namespace string
	Env       []string // extra BENCH_* / KUBEDESK_* settings
	State     string   // reuse a state dir (restart); "" for a new one
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newClient() *http.Client {
	return &http.Client{
		Timeout: 20 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns: 4000, MaxIdleConnsPerHost: 4000, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		},
	}
}

// startHub runs JupyterHub with jupyterhub_config.py and waits until its API
// answers through the proxy.
func startHub(t *testing.T, opts hubOptions, kubeconfig string) *hubProc {
	t.Helper()
	root := repoRoot()
	state := opts.State
	if state == "" {
		state = filepath.Join(root, ".cache", "benchhub", "runs", time.Now().UTC().Format("20060102-150405")+"-"+opts.Hub.Name+"-"+opts.Spawner)
		if err := os.MkdirAll(state, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := &hubProc{Token: randomHex(16), State: state, Log: filepath.Join(state, "jupyterhub.log"), client: newClient()}
	port := freePort(t)
	h.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	chp := filepath.Join(root, ".cache", "node", "node_modules", ".bin")
	h.env = append(os.Environ(),
		"PATH="+filepath.Join(opts.Hub.Venv, "bin")+string(os.PathListSeparator)+chp+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+kubeconfig,
		"BENCH_SPAWNER="+opts.Spawner,
		"BENCH_STATE="+state,
		"BENCH_NAMESPACE="+opts.Namespace,
		"BENCH_TOKEN="+h.Token,
		fmt.Sprintf("BENCH_PORT=%d", port),
		fmt.Sprintf("BENCH_POD_PORT=%d", podresponder.Port),
		fmt.Sprintf("BENCH_HUB_PORT=%d", freePort(t)),
		fmt.Sprintf("BENCH_PROXY_API_PORT=%d", freePort(t)),
	)
	h.env = append(h.env, opts.Env...)
	h.args = []string{filepath.Join(opts.Hub.Venv, "bin", "jupyterhub"), "-f", filepath.Join(root, "test", "benchhub", "jupyterhub_config.py")}
	h.launch(t)
	return h
}

func (h *hubProc) launch(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(h.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(h.args[0], h.args[1:]...)
	cmd.Dir = h.State
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.cmd = cmd
	h.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(h.exited) }()
	t.Cleanup(func() { h.kill() })
	if err := h.waitAPI(hubStartTimeout); err != nil {
		t.Fatalf("jupyterhub: %v\n%s", err, tailFile(h.Log, 4000))
	}
}

// waitAPI waits until GET /hub/api answers 200 through the proxy.
func (h *hubProc) waitAPI(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-h.exited:
			return fmt.Errorf("exited during start (%s)", h.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", h.URL+"/hub/api/", nil)
		resp, err := h.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer at %s/hub/api within %s", h.URL, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the hub and its proxy at once. The hub starts the proxy in a
// session of its own, so the proxy is killed by its pid.
func (h *hubProc) kill() {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	proxy := h.ProxyPid()
	_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
	<-h.exited
	if proxy > 0 && isProxy(proxy) {
		_ = syscall.Kill(proxy, syscall.SIGKILL)
	}
	// Its keep-alive connections, and their goroutines, end with it.
	h.client.CloseIdleConnections()
}

// isProxy reports whether pid still runs configurable-http-proxy (the pid
// file may outlive it).
func isProxy(pid int) bool {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmd), "configurable-http-proxy")
}

// terminate stops the hub with SIGTERM, as a rolling update of its pod does,
// and waits for it; the proxy is left running (Z2JH runs it in its own pod).
func (h *hubProc) terminate(timeout time.Duration) error {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
		return nil
	case <-time.After(timeout):
		_ = h.cmd.Process.Kill()
		<-h.exited
		return fmt.Errorf("no exit within %s of SIGTERM", timeout)
	}
}

func (h *hubProc) Pid() int { return h.cmd.Process.Pid }

// ProxyPid reads CHP's pid from the pid file the hub writes.
func (h *hubProc) ProxyPid() int {
	data, err := os.ReadFile(filepath.Join(h.State, "jupyterhub-proxy.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// api sends one request to the hub's REST API with the admin token.
func (h *hubProc) api(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.URL+"/hub/api"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "token "+h.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// userModel is the part of JupyterHub's user model the benchmark reads.
type userModel struct {
	Name    string `json:"name"`
	Servers map[string]struct {
		Ready   bool    `json:"ready"`
		Pending *string `json:"pending"`
		URL     string  `json:"url"`
	} `json:"servers"`
}

// users lists every user (paginated) with their servers.
func (h *hubProc) users(ctx context.Context, state string) ([]userModel, error) {
	var all []userModel
	// JupyterHub caps a page at api_page_max_limit (200 by default).
	const page = 200
	for offset := 0; ; offset += page {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(page)}, "include_stopped_servers": {"0"}}
		if state != "" {
			q.Set("state", state)
		}
		status, body, err := h.api(ctx, "GET", "/users?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET /users: %d %s", status, trunc(string(body), 300))
		}
		var chunk []userModel
		if err := json.Unmarshal(body, &chunk); err != nil {
			return nil, err
		}
		all = append(all, chunk...)
		if len(chunk) == 0 {
			return all, nil
		}
	}
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	return string(data[max(0, len(data)-n):])
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// procStat is one reading of a process's CPU seconds and peak RSS.
type procStat struct {
	CPU    float64
	RSSMiB float64 // VmHWM: peak resident set
}

func readProc(pid int) procStat {
	if pid <= 0 {
		return procStat{}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	ps := procStat{CPU: (utime + stime) / 100} // USER_HZ
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(status))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
				ps.RSSMiB = kb / 1024
			}
		}
	}
	return ps
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func load1() float64 {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
