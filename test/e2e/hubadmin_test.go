package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// hubAdmin drives the demo hub's REST API as its admin user ("admin", the
// demo's admin_users), as an operator's script would.
type hubAdmin struct {
	*hubapi.Client
}

// admin mints an API token for the demo hub's admin user with
// `jupyterhub token admin` (the demo configures no service token) and
// returns a client that uses it.
func (h *hub) admin(t *testing.T, svc *spawnertest.Service) *hubAdmin {
	t.Helper()
	root := repoRoot(t)
	state := filepath.Dir(h.Log)
	cmd := exec.Command(filepath.Join(root, ".cache", "venv", "bin", "jupyterhub"), "token",
		"-f", filepath.Join(root, "examples", "demo", "jupyterhub_config.py"), "admin")
	cmd.Dir = state
	cmd.Env = append(os.Environ(),
		"KUBEDESK_SERVICE_URL="+svc.URL,
		"KUBEDESK_SERVICE_TOKEN="+svc.Token,
		"KUBEDESK_DEMO_PASSWORD="+h.Password,
		"KUBEDESK_DEMO_STATE="+state,
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "jupyterhub token admin: %s", stderr.String())
	lines := strings.Fields(string(out))
	require.NotEmpty(t, lines, "jupyterhub token admin printed nothing: %s", stderr.String())
	return &hubAdmin{&hubapi.Client{BaseURL: h.URL + "/hub/api", Token: lines[len(lines)-1]}}
}

// raw sends one request to the hub's API and returns its status and body.
func (a *hubAdmin) raw(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var in bytes.Buffer
	if body != nil {
		require.NoError(t, json.NewEncoder(&in).Encode(body))
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.BaseURL+path, &in)
	require.NoError(t, err)
	req.Header.Set("Authorization", "token "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

func (a *hubAdmin) createUser(t *testing.T, name string) {
	t.Helper()
	status, body := a.raw(t, http.MethodPost, "/users/"+url.PathEscape(name), nil)
	require.Equal(t, http.StatusCreated, status, "create user %s: %s", name, body)
}

// newToken mints an API token of user's (an hour), as the user would on
// the hub's token page.
func (a *hubAdmin) newToken(t *testing.T, user string) string {
	t.Helper()
	status, body := a.raw(t, http.MethodPost, "/users/"+url.PathEscape(user)+"/tokens",
		map[string]any{"note": "kubedesk e2e", "expires_in": 3600})
	require.Equal(t, http.StatusCreated, status, "token for %s: %s", user, body)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal(body, &tok))
	require.NotEmpty(t, tok.Token)
	return tok.Token
}

// waitForServer waits until user's default server is ready (up) or gone
// (!up) in the hub's view.
func (a *hubAdmin) waitForServer(t *testing.T, user string, up bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		u, err := a.User(t.Context(), user)
		require.NoError(t, err)
		s, ok := u.Servers[""]
		if (up && ok && s.Ready) || (!up && !ok) {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s's server not %s after %s: %+v", user, map[bool]string{true: "ready", false: "gone"}[up], timeout, u.Servers)
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForActivity waits until the hub's last_activity of user (and of
// its default server) is later than the moment it was called: someone
// reported activity since. Neither the hub (its proxy poll, every 5
// minutes) nor the single-user server (every 5 minutes, when used) does
// within activityTimeout here, so it is the launcher agent, which reports
// while an app has a client.
func (a *hubAdmin) waitForActivity(t *testing.T, user string) {
	t.Helper()
	since := time.Now()
	deadline := since.Add(activityTimeout)
	for {
		u, err := a.User(t.Context(), user)
		require.NoError(t, err)
		if u.LastActivity.After(since) && u.Servers[""].LastActivity.After(since) {
			t.Logf("the hub's last_activity of %s and its server moved to %s, %v after the test began to watch, with an app attached",
				user, u.LastActivity.Format(time.RFC3339Nano), u.LastActivity.Sub(since).Round(time.Millisecond))
			return
		}
		require.True(t, time.Now().Before(deadline), "the hub's last_activity of %s stayed %s (server: %s) for %s with an app attached",
			user, u.LastActivity, u.Servers[""].LastActivity, activityTimeout)
		time.Sleep(250 * time.Millisecond)
	}
}

// spawnDesktop has the hub spawn user's server with the demo's Desktop
// profile (its REST API, as an admin), waits until it runs on the dev node
// and its launcher agent listens, and returns the admin, the session pod
// and a shell in the session.
func spawnDesktop(t *testing.T, c *devcluster.Cluster, ns string, h *hub, svc *spawnertest.Service, user string) (*hubAdmin, *corev1.Pod, *sessionShell) {
	t.Helper()
	admin := h.admin(t, svc)
	admin.createUser(t, user)
	_, err := admin.StartServer(t.Context(), user, "", map[string]any{"profile": "desktop"})
	require.NoError(t, err)
	admin.waitForServer(t, user, true, sessionReadyTimeout)
	session, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), "jupyter-"+user, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, devcluster.DevnodeName, session.Spec.NodeName)
	pid, err := devcluster.ContainerPID(session, "notebook")
	require.NoError(t, err)
	s := &sessionShell{t: t, pid: pid}
	s.waitForAgent()
	return admin, session, s
}
