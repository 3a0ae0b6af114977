package spawner_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/test/devcluster"
)

// agentBinaries builds kubedesk-launcher and launch into a temporary folder.
func agentBinaries(t *testing.T) (agent, launch string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/kubedesk-launcher", "./cmd/launch")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return filepath.Join(dir, "kubedesk-launcher"), filepath.Join(dir, "launch")
}

// agentProcess is a real launcher agent (the kubedesk-launcher binary) for
// alice's session, outside any pod: its session token in a file as the
// Secret volume has it, its launch socket in a temporary folder, no hub
// (no activity reports, no HTML5 proxy) and no desktop display.
type agentProcess struct {
	tokenFile, socket string
	log               *syncLog
}

func startAgent(t *testing.T, binary, serviceURL, token string, env ...string) *agentProcess {
	t.Helper()
	dir := t.TempDir()
	a := &agentProcess{tokenFile: filepath.Join(dir, "token"), socket: filepath.Join(dir, "run", "launcher.sock"), log: &syncLog{}}
	require.NoError(t, os.WriteFile(a.tokenFile, []byte(token), 0o600))
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"KUBEDESK_SERVICE_URL=" + serviceURL,
		"KUBEDESK_SESSION_TOKEN_FILE=" + a.tokenFile,
		"KUBEDESK_LAUNCHER_SOCKET=" + a.socket,
		"KUBEDESK_DESKTOP_ENV=" + filepath.Join(dir, "no-desktop.env"),
		"XPRA_COMMAND=/usr/bin/python3 /usr/bin/xpra",
	}, env...)
	cmd.Stdout, cmd.Stderr = a.log, a.log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
		}
	})
	waitFor(t, waitReady, "the agent's launch socket", func(context.Context) (bool, error) {
		fi, err := os.Stat(a.socket)
		return err == nil && fi.Mode()&os.ModeSocket != 0, nil
	})
	return a
}

// launch runs the launch CLI against the agent and returns the app's id.
func (a *agentProcess) launch(t *testing.T, binary string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KUBEDESK_LAUNCHER_SOCKET=" + a.socket}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "launch %s: %s", strings.Join(args, " "), out)
	m := regexp.MustCompile(`\(id ([a-z0-9.-]+)\)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "launch said: %s", out)
	return m[1]
}

// TestIdleAppIsStoppedByTheAgent runs a real agent with
// KUBEDESK_APP_IDLE_TIMEOUT=2s against the real service: an app launched
// through it (the launch CLI → the agent → the service) that no client
// ever attaches to is stopped through the service, and its pod goes.
//
// How the app comes to have no client: the agent has no desktop display
// (its KUBEDESK_DESKTOP_ENV names no file), so each `xpra attach` fails
// before it connects, and the agent retries it with a growing backoff. An
// attach counts as a client only once it has connected, so the app is idle
// from the start. (On kwok the app pod runs nothing either: an attach with
// a display would fail to connect in the same way.) Not tried: the same on
// the dev node, where the session's desktop attaches every app it runs;
// an app nobody sees there needs a desktop that cannot attach, which is
// what this test has without the rest of a session.
func TestIdleAppIsStoppedByTheAgent(t *testing.T) {
	t.Parallel()
	c, ns, svc, token, _ := appSetup(t)
	agentBin, launchBin := agentBinaries(t)
	a := startAgent(t, agentBin, svc.URL, token, "KUBEDESK_APP_IDLE_TIMEOUT=2s")
	ctx := context.Background()

	id := a.launch(t, launchBin, "xterm")
	launched := time.Now()
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, id, metav1.GetOptions{})
	require.NoError(t, err, "the app pod exists")
	waitFor(t, waitGone, "the idle app's pod to be deleted", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	assert.Regexp(t, `msg="Stopping an app with no client attached" .*id=`+regexp.QuoteMeta(id)+` `, a.log.String(), "the agent stopped it")
	t.Logf("the idle app %s was stopped %v after its launch", id, time.Since(launched).Round(time.Millisecond))

	status, body := svc.DoAs(t, token, http.MethodGet, "/api/v1/session/apps", nil)
	require.Equal(t, http.StatusOK, status, string(body))
	var apps []appView
	require.NoError(t, json.Unmarshal(body, &apps))
	assert.Empty(t, apps, "the session has no app left")
}

// syncLog collects a process's output for the test to read while it runs.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jwtExpiry is the exp claim of a session token, read without checking it
// (the service checks it; the test only needs to know when it runs out).
func jwtExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct{ Exp int64 }
	require.NoError(t, json.Unmarshal(payload, &claims))
	return time.Unix(claims.Exp, 0)
}

// secretToken is the session token in the session's Secret now.
func secretToken(t *testing.T, c *devcluster.Cluster, ns, name string) string {
	t.Helper()
	s, err := c.Client.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return string(s.Data["KUBEDESK_SESSION_TOKEN"])
}

// TestSessionTokenIsRenewed runs a session whose token lives 4 s
// (KUBEDESK_SESSION_TOKEN_TTL) well past that, with a real agent: the
// service renews the token in the session's Secret whenever less than half
// of its lifetime is left, on its timer and right after a restart; each
// new token works, and once the first one is refused (past its expiry and
// the service's 30 s clock-skew leeway) the agent still launches apps,
// because it reads its token file on every call. kwok runs no kubelet, so
// the test copies the Secret's token into the agent's file whenever it
// changes, as the kubelet does with a Secret volume (the dev node does the
// same for real pods: hack/devnode's volume refresh).
func TestSessionTokenIsRenewed(t *testing.T) {
	t.Parallel()
	const ttl = 4 * time.Second
	c, ns, svc, first, session := appSetup(t, "KUBEDESK_SESSION_TOKEN_TTL="+ttl.String())
	agentBin, launchBin := agentBinaries(t)
	a := startAgent(t, agentBin, svc.URL, first)

	// The kubelet's part: the Secret's token into the agent's file, by a
	// rename, as the kubelet's atomic writer swaps a volume's files.
	seen := make(chan string, 64)
	ctx, cancel := context.WithCancel(context.Background())
	kubeletDone := make(chan struct{})
	go func() {
		defer close(kubeletDone)
		last := first
		for ctx.Err() == nil {
			s, err := c.Client.CoreV1().Secrets(ns).Get(ctx, session.Name, metav1.GetOptions{})
			if tok := string(s.Data["KUBEDESK_SESSION_TOKEN"]); err == nil && tok != last {
				tmp := a.tokenFile + ".new"
				if os.WriteFile(tmp, []byte(tok), 0o600) == nil && os.Rename(tmp, a.tokenFile) == nil {
					last = tok
					seen <- tok
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-kubeletDone })

	// Renewed on the timer, more than once, each token later than the last
	// and accepted by the service.
	prev := first
	for range 2 {
		var tok string
		select {
		case tok = <-seen:
		case <-time.After(waitReady):
			t.Fatalf("the session token was not renewed within %s", waitReady)
		}
		assert.True(t, jwtExpiry(t, tok).After(jwtExpiry(t, prev)), "a renewed token expires later")
		status, body := svc.DoAs(t, tok, http.MethodGet, "/api/v1/session/apps", nil)
		assert.Equal(t, http.StatusOK, status, "a renewed token works: %s", body)
		prev = tok
	}

	// The session outlives its first token: the service refuses that one
	// now, and the agent, with the renewed token in its file, launches.
	waitFor(t, 2*time.Minute, "the first token to be refused", func(context.Context) (bool, error) {
		status, _ := svc.DoAs(t, first, http.MethodGet, "/api/v1/session/apps", nil)
		return status == http.StatusUnauthorized, nil
	})
	status, body := svc.DoAs(t, first, http.MethodGet, "/api/v1/session/apps", nil)
	assert.Contains(t, string(body), "expired", "the first token is refused as expired (%d)", status)
	id := a.launch(t, launchBin, "xterm")
	t.Logf("launched %s through the agent %v after its first token expired", id, time.Since(jwtExpiry(t, first)).Round(time.Second))

	// The service is down until the token it left has run out; restarted,
	// it renews it before anything else.
	svc.Kill(t)
	left := secretToken(t, c, ns, session.Name)
	waitFor(t, waitReady, "the last token to run out while the service is down", func(context.Context) (bool, error) {
		return time.Now().After(jwtExpiry(t, left)), nil
	})
	svc.Restart(t)
	waitFor(t, waitReady, "the token to be renewed after the restart", func(context.Context) (bool, error) {
		return secretToken(t, c, ns, session.Name) != left, nil
	})
	renewed := secretToken(t, c, ns, session.Name)
	assert.True(t, jwtExpiry(t, renewed).After(time.Now()), "the renewed token is current")
	waitFor(t, waitReady, "the agent's file to have the renewed token", func(context.Context) (bool, error) {
		b, err := os.ReadFile(a.tokenFile)
		return err == nil && string(b) != left, nil
	})
	out := a.launch(t, launchBin, "xterm")
	t.Logf("launched %s through the agent after the service's restart", out)
}
