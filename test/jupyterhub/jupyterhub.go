// Package jupyterhub runs a real JupyterHub process for tests: the one way
// the project's tests start, wait for, restart and stop a hub and its
// configurable-http-proxy, whatever configuration they give it.
package jupyterhub

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// DefaultStartTimeout bounds a fresh hub (and its proxy) until its API
	// answers, on a loaded 2-core machine.
	DefaultStartTimeout = 90 * time.Second
	// DefaultStopTimeout is how long a hub gets after SIGTERM to stop every
	// server (cleanup_servers) and its proxy before it is killed.
	DefaultStopTimeout = 2 * time.Minute
	// logTail is how much of the hub's log a failed test prints.
	logTail = 8000
)

// Options say which hub runs, with which configuration, and where.
type Options struct {
	// Venv is the virtual environment whose bin/jupyterhub runs; relative
	// paths are under the repository root (".cache/venv").
	Venv string
	// Config is the jupyterhub_config.py it loads. It must have the proxy
	// write its pid to Dir/jupyterhub-proxy.pid
	// (c.ConfigurableHTTPProxy.pid_file), so that a hub that is killed
	// does not leave its proxy behind.
	Config string
	// Dir is its working directory, where it keeps its database, cookie
	// secret and proxy pid file; "" for a temporary one.
	Dir string
	// Env is added to the test's environment.
	Env []string
	// Ready is a URL that answers 200 once the hub is up (its API, directly
	// or through the proxy).
	Ready string
	// StartTimeout bounds the wait for Ready; 0 is DefaultStartTimeout.
	StartTimeout time.Duration
	// KillAtEnd kills the hub and its proxy when the test ends instead of
	// letting them stop their servers (benchmarks with thousands).
	KillAtEnd bool
	// Client asks Ready; nil is http.DefaultClient.
	Client *http.Client
}

// Hub is a running JupyterHub.
type Hub struct {
	// Log is the file the hub's stdout and stderr go to, in Dir.
	Log string
	// Dir is its working directory.
	Dir string

	opts   Options
	cmd    *exec.Cmd
	exited chan struct{}
}

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// proxyBin is where hack/python-env.sh installs configurable-http-proxy.
func proxyBin() string { return filepath.Join(RepoRoot(), ".cache", "node", "node_modules", ".bin") }

// Missing names what a hub of venv needs that is not installed, or "".
func Missing(venv string) string {
	for _, need := range []string{filepath.Join(venvPath(venv), "bin", "jupyterhub"), filepath.Join(proxyBin(), "configurable-http-proxy")} {
		if _, err := os.Stat(need); err != nil {
			return need + " is missing: run hack/python-env.sh (make deps does)"
		}
	}
	return ""
}

func venvPath(venv string) string {
	if filepath.IsAbs(venv) {
		return venv
	}
	return filepath.Join(RepoRoot(), venv)
}

// Start runs the hub, waits until Ready answers, and stops it when the test
// ends: SIGTERM, then (after DefaultStopTimeout, which fails the test) its
// process group and proxy are killed. A test whose hub is not installed
// fails, saying what to run.
func Start(t testing.TB, o Options) *Hub {
	t.Helper()
	if m := Missing(o.Venv); m != "" {
		t.Fatal(m)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	h := &Hub{Log: filepath.Join(o.Dir, "jupyterhub.log"), Dir: o.Dir, opts: o}
	h.launch(t)
	return h
}

// Restart runs the hub again, with the same options and state, after
// Terminate or a crash, and waits until it answers.
func (h *Hub) Restart(t testing.TB) {
	t.Helper()
	h.launch(t)
}

func (h *Hub) launch(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(h.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	venv := venvPath(h.opts.Venv)
	cmd := exec.Command(filepath.Join(venv, "bin", "jupyterhub"), "-f", h.opts.Config)
	cmd.Dir = h.Dir
	cmd.Env = append(os.Environ(),
		"PATH="+strings.Join([]string{filepath.Join(venv, "bin"), proxyBin(), os.Getenv("PATH")}, string(os.PathListSeparator)),
		// This checkout's shim, whichever checkout the venv's editable
		// install points at (git worktrees share .cache).
		"PYTHONPATH="+filepath.Join(RepoRoot(), "spawner", "python", "src"),
	)
	cmd.Env = append(cmd.Env, h.opts.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a hub that will not stop is killed
	// with whatever it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("jupyterhub: %v", err)
	}
	h.cmd = cmd
	exited := make(chan struct{})
	h.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { h.end(t, cmd, exited) })
	if err := h.waitReady(exited); err != nil {
		t.Fatalf("jupyterhub: %v\n%s", err, h.tail())
	}
}

// end stops one launch of the hub when the test ends.
func (h *Hub) end(t testing.TB, cmd *exec.Cmd, exited chan struct{}) {
	select {
	case <-exited: // Terminate, or it crashed
	default:
		if !h.opts.KillAtEnd {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(DefaultStopTimeout):
				t.Errorf("jupyterhub did not stop within %s of SIGTERM; killing it", DefaultStopTimeout)
			}
		}
	}
	h.killGroup(cmd, exited)
	if t.Failed() {
		t.Logf("jupyterhub log (last %d bytes):\n%s", logTail, h.tail())
	}
}

// killGroup kills the hub's process group and its proxy. The hub starts the
// proxy in a session of its own, so the proxy is killed by its pid.
func (h *Hub) killGroup(cmd *exec.Cmd, exited chan struct{}) {
	proxy := h.ProxyPid()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	if proxy <= 0 || !isProxy(proxy) {
		return
	}
	_ = syscall.Kill(proxy, syscall.SIGKILL)
	// SIGKILL is delivered, not awaited: wait until it has ended, so that
	// its ports are free for the next hub.
	for deadline := time.Now().Add(10 * time.Second); isProxy(proxy) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the hub and its proxy at once, as a node failure would.
func (h *Hub) Kill() { h.killGroup(h.cmd, h.exited) }

// Terminate stops the hub with SIGTERM, as a rolling update of its pod does,
// and waits for it; the proxy is left running (Zero to JupyterHub runs it in
// a pod of its own). A hub that does not exit within timeout is killed.
func (h *Hub) Terminate(timeout time.Duration) error {
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

// Exited is closed when the running hub's process has ended.
func (h *Hub) Exited() <-chan struct{} { return h.exited }

// Pid is the hub's process id.
func (h *Hub) Pid() int { return h.cmd.Process.Pid }

// ProxyPid reads the proxy's pid from the file the hub writes, 0 if none.
func (h *Hub) ProxyPid() int {
	data, err := os.ReadFile(filepath.Join(h.Dir, "jupyterhub-proxy.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// isProxy reports whether pid still runs configurable-http-proxy (the pid
// file may outlive it).
func isProxy(pid int) bool {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmd), "configurable-http-proxy")
}

func (h *Hub) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(h.opts.StartTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited during start (%s)", h.cmd.ProcessState)
		default:
		}
		if h.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer at %s within %s", h.opts.Ready, h.opts.StartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *Hub) answers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.opts.Ready, nil)
	if err != nil {
		return false
	}
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func (h *Hub) tail() string {
	b, _ := os.ReadFile(h.Log)
	return string(b[max(0, len(b)-logTail):])
}
