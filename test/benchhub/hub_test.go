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
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
	"kubedesk.dev/kubedesk/test/jupyterhub"
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
	*jupyterhub.Hub
	URL    string // public (proxy) URL
	Token  string // the bench service's admin token
	State  string
	Venv   string // its virtual environment, which has py-spy
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
	h := &hubProc{Token: randomHex(16), State: state, Venv: opts.Hub.Venv, client: newClient()}
	port := freePort(t)
	h.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	env := []string{
		"KUBECONFIG=" + kubeconfig,
		"BENCH_SPAWNER=" + opts.Spawner,
		"BENCH_STATE=" + state,
		"BENCH_NAMESPACE=" + opts.Namespace,
		"BENCH_TOKEN=" + h.Token,
		fmt.Sprintf("BENCH_PORT=%d", port),
		fmt.Sprintf("BENCH_POD_PORT=%d", podresponder.Port),
		fmt.Sprintf("BENCH_HUB_PORT=%d", freePort(t)),
		fmt.Sprintf("BENCH_PROXY_API_PORT=%d", freePort(t)),
	}
	// Its keep-alive connections, and their goroutines, end after it
	// (cleanups run last first).
	t.Cleanup(h.client.CloseIdleConnections)
	h.Hub = jupyterhub.Start(t, jupyterhub.Options{
		Venv:         opts.Hub.Venv,
		Config:       filepath.Join(root, "test", "benchhub", "jupyterhub_config.py"),
		Dir:          state,
		Env:          append(env, opts.Env...),
		Ready:        h.URL + "/hub/api/",
		StartTimeout: hubStartTimeout,
		KillAtEnd:    true,
		Client:       h.client,
	})
	return h
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
