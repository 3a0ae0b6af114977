package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// browserEventTimeout bounds the wait for the browser's next step: a spawn
// through the hub (10-25 s for a desktop on a busy machine; the hub's own
// start_timeout is 300 s), opening the desktop, or a stop.
const browserEventTimeout = 4 * time.Minute

// browser runs test/browser/hub-session.mjs (headless Chromium through
// Playwright) and reads its JSON lines.
type browser struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan browserEvent
	stderr *spawnertest.SyncBuffer
	exited chan struct{}
}

// browserEvent is one line of hub-session.mjs. Times are epoch ms.
type browserEvent struct {
	Event    string `json:"event"`
	At       int64  `json:"at"`
	Run      int    `json:"run"`
	Error    string `json:"error"`
	URL      string `json:"url"`
	Profiles []struct {
		Value   string `json:"value"`
		Label   string `json:"label"`
		Checked bool   `json:"checked"`
	} `json:"profiles"`
	// started
	Profile        string `json:"profile"`
	ClickedAt      int64  `json:"clickedAt"`
	ProgressPageAt int64  `json:"progressPageAt"`
	ServerURLAt    int64  `json:"serverURLAt"`
	LabLoadedAt    int64  `json:"labLoadedAt"`
	Messages       []struct {
		At   int64  `json:"at"`
		Text string `json:"text"`
	} `json:"messages"`
	// desktop
	Status string `json:"status"`
	Canvas struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"canvas"`
	Colors     int    `json:"colors"`
	Screenshot string `json:"screenshot"`
	MS         int64  `json:"ms"`
	// file
	Name       string `json:"name"`
	HTTPStatus int    `json:"http_status"`
	raw        string
}

// startBrowser starts hub-session.mjs against h as user; env adds its
// KUBEDESK_* settings (KUBEDESK_PROFILE, KUBEDESK_RUNS, ...).
func startBrowser(t *testing.T, h *hub, user string, env ...string) *browser {
	t.Helper()
	root := repoRoot(t)
	script := filepath.Join(root, "test", "browser", "hub-session.mjs")
	for _, need := range []string{"/usr/bin/chromium", filepath.Join(root, "test", "browser", "node_modules", "playwright-core")} {
		_, err := os.Stat(need)
		require.NoError(t, err, "run hack/desktop-env.sh browser first (make deps does)")
	}
	cmd := exec.Command("node", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"KUBEDESK_HUB_URL="+h.URL,
		"KUBEDESK_HUB_USER="+user,
		"KUBEDESK_HUB_PASSWORD="+h.Password,
		"KUBEDESK_ARTIFACTS="+artifactsDir(t),
	)
	cmd.Env = append(cmd.Env, env...)
	b := &browser{t: t, cmd: cmd, events: make(chan browserEvent, 64), stderr: &spawnertest.SyncBuffer{}, exited: make(chan struct{})}
	var err error
	b.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = b.stderr
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var ev browserEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				ev = browserEvent{Event: "output", Error: line}
			}
			ev.raw = line
			b.events <- ev
		}
		_ = cmd.Wait()
		close(b.exited)
		close(b.events)
	}()
	t.Cleanup(func() {
		_ = b.stdin.Close()
		select {
		case <-b.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("browser stderr:\n%s", b.stderr.String())
		}
	})
	return b
}

// next waits for the event named want, skipping none: any other event (an
// error above all) fails the test.
func (b *browser) next(want string) browserEvent {
	b.t.Helper()
	timer := time.NewTimer(browserEventTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-b.events:
			if !ok {
				b.t.Fatalf("browser exited (%v) while waiting for %q; stderr:\n%s", b.cmd.ProcessState, want, b.stderr.String())
			}
			switch ev.Event {
			case want:
				return ev
			case "output":
				b.t.Logf("browser: %s", ev.Error)
				continue
			case "error":
				b.t.Fatalf("browser failed while waiting for %q at %s: %s\n(screenshot: %s)", want, ev.URL, ev.Error,
					filepath.Join(artifactsDir(b.t), "hub-session-failed.png"))
			default:
				b.t.Fatalf("browser: got %q while waiting for %q: %s", ev.Event, want, ev.raw)
			}
		case <-timer.C:
			b.t.Fatalf("browser: no %q within %s", want, browserEventTimeout)
		}
	}
}

// resume lets a paused browser (KUBEDESK_PAUSE=1) go on.
func (b *browser) resume() {
	b.t.Helper()
	_, err := fmt.Fprintln(b.stdin, "go on")
	require.NoError(b.t, err)
}

// artifactsDir is test/artifacts (git-ignored), where screenshots are kept.
func artifactsDir(t *testing.T) string {
	dir := filepath.Join(repoRoot(t), "test", "artifacts")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func (ev browserEvent) messageTexts() []string {
	out := make([]string, len(ev.Messages))
	for i, m := range ev.Messages {
		out[i] = m.Text
	}
	return out
}

func (ev browserEvent) String() string { return strings.TrimSpace(ev.raw) }
