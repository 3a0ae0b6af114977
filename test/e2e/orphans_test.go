package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
	"kubedesk.dev/kubedesk/test/jupyterhub"
)

// Named bounds of the cleanup tests.
const (
	// serverTimeout bounds a start or stop through the hub (kwok's pods
	// are ready in a second; the hub's proxy and checks add a few).
	serverTimeout = 90 * time.Second
	// orphanGrace is the service's orphan_grace_period here, short so a
	// test sees it pass; orphanInterval its orphan_collection_interval.
	orphanGrace    = 4 * time.Second
	orphanInterval = time.Second
	// collectTimeout bounds the wait for an orphan to be collected: the
	// grace, a round, the stop.
	collectTimeout = 60 * time.Second
)

// kubedeskHubConfig is a JupyterHub with KubedeskSpawner and two API
// services: the test's admin, and the spawner service's orphan collector
// with the role the chart's Zero to JupyterHub example gives it.
const kubedeskHubConfig = `
import json
config = json.loads(%q)
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = config["proxy_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = config["hub_port"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%%d" %% config["proxy_api_port"]
c.ConfigurableHTTPProxy.pid_file = config["tmp"] + "/jupyterhub-proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + config["tmp"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = config["tmp"] + "/cookie_secret"
c.JupyterHub.pid_file = config["tmp"] + "/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.allow_named_servers = True

c.JupyterHub.spawner_class = "kubedesk"
c.KubedeskSpawner.service_url = config["service_url"]
c.KubedeskSpawner.service_token = config["service_token"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60

c.JupyterHub.services = [
    {"name": "e2e-admin", "api_token": config["admin_token"]},
    {"name": "kubedesk-spawner", "api_token": config["orphans_token"]},
]
c.JupyterHub.load_roles = [
    {"name": "e2e-admin", "scopes": ["admin:users", "admin:servers"], "services": ["e2e-admin"]},
    {"name": "kubedesk-orphans", "scopes": ["list:users", "read:servers"], "services": ["kubedesk-spawner"]},
]
`

// cleanupHub is a JupyterHub driving one spawner service.
type cleanupHub struct {
	// API is the hub's API root; Admin a client with the admin service's
	// token.
	API   string
	Admin *hubAdmin
}

// hubPorts are the hub's ports, chosen before the service starts (which
// needs the hub's API URL) and the hub (which needs the service's URL).
type hubPorts struct{ proxy, proxyAPI, hub int }

func newHubPorts(t *testing.T) hubPorts {
	return hubPorts{proxy: freePort(t), proxyAPI: freePort(t), hub: freePort(t)}
}

func (p hubPorts) api() string { return fmt.Sprintf("http://127.0.0.1:%d/hub/api", p.hub) }

// startKubedeskHub runs the JupyterHub of venv (under .cache/) with this
// checkout's shim against svc, and stops it when the test ends.
func startKubedeskHub(t *testing.T, venv string, svc *spawnertest.Service, ports hubPorts, orphansToken string) *cleanupHub {
	t.Helper()
	tmp := t.TempDir()
	adminToken := randomHex(t, 16)
	cfg, err := json.Marshal(map[string]any{
		"proxy_port": ports.proxy, "proxy_api_port": ports.proxyAPI, "hub_port": ports.hub, "tmp": tmp,
		"service_url": svc.URL, "service_token": svc.Token, "admin_token": adminToken, "orphans_token": orphansToken,
	})
	require.NoError(t, err)
	configFile := filepath.Join(tmp, "jupyterhub_config.py")
	require.NoError(t, os.WriteFile(configFile, fmt.Appendf(nil, kubedeskHubConfig, cfg), 0o600))
	h := &cleanupHub{API: ports.api()}
	jupyterhub.Start(t, jupyterhub.Options{Venv: filepath.Join(".cache", venv), Config: configFile, Dir: tmp, Ready: h.API + "/"})
	h.Admin = &hubAdmin{&hubapi.Client{BaseURL: h.API, Token: adminToken}}
	return h
}

// waitForNamed waits until user's server name is ready (up) or gone (!up)
// in the hub's view.
func (a *hubAdmin) waitForNamed(t *testing.T, user, name string, up bool) {
	t.Helper()
	deadline := time.Now().Add(serverTimeout)
	for {
		u, err := a.User(t.Context(), user)
		require.NoError(t, err)
		s, ok := u.Servers[name]
		if (up && ok && s.Ready) || (!up && !ok) {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s's server %q not %s after %s: %+v", user, name,
			map[bool]string{true: "ready", false: "gone"}[up], serverTimeout, u.Servers)
		time.Sleep(200 * time.Millisecond)
	}
}

// waitUntil checks cond every 200 ms until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "after %s still waiting for %s", timeout, what)
		time.Sleep(200 * time.Millisecond)
	}
}

func claimGone(t *testing.T, c *devcluster.Cluster, ns, name string) bool {
	t.Helper()
	_, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	require.NoError(t, err)
	return false
}

func podGone(t *testing.T, c *devcluster.Cluster, ns, name string) bool {
	t.Helper()
	_, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	require.NoError(t, err)
	return false
}

// spawnBehindTheHub starts user's default server through the service's
// API directly, as the hub would, without the hub knowing: a session whose
// server the hub does not have.
func spawnBehindTheHub(t *testing.T, svc *spawnertest.Service, user string) {
	t.Helper()
	path := "/api/v1/users/" + url.PathEscape(user) + "/server"
	status, body := svc.Do(t, "POST", path, map[string]any{
		"user_options": map[string]any{},
		"env":          map[string]any{"JUPYTERHUB_SERVICE_PREFIX": "/user/" + url.PathEscape(user) + "/", "JUPYTERHUB_API_TOKEN": "not-the-hubs"},
	})
	require.Equal(t, http.StatusAccepted, status, string(body))
	events := svc.Progress(t, path, serverTimeout)
	require.Equal(t, "ready", events[len(events)-1].Kind, "events: %+v", events)
}

// metricValue is the value of one series of the service's metrics ("" for
// none), e.g. metricValue(text, `kubedesk_spawner_orphans_total{action="collected",kind="pod"}`).
func metricValue(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestHubDeletingServersDeletesTheirHomes is delete_forever through a real
// JupyterHub, each supported major version: removing a named server
// deletes its home and no other; deleting the user deletes the rest.
// Stopping deletes none.
func TestHubDeletingServersDeletesTheirHomes(t *testing.T) {
	c := devcluster.Start(t)
	devcluster.StartResponder(t)
	for _, venv := range []string{"venv-jh4", "venv", "venv-jh6"} {
		t.Run(venv, func(t *testing.T) {
			t.Parallel()
			testHubDeletingServers(t, c, venv)
		})
	}
}

func testHubDeletingServers(t *testing.T, c *devcluster.Cluster, venv string) {
	ns := c.Namespace(t)
	svc := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: ns, Profiles: profiles})
	hub := startKubedeskHub(t, venv, svc, newHubPorts(t), randomHex(t, 16))
	admin, ctx := hub.Admin, t.Context()

	admin.createUser(t, "alice")
	_, err := admin.StartServer(ctx, "alice", "", nil)
	require.NoError(t, err)
	admin.waitForNamed(t, "alice", "", true)
	_, err = admin.StartServer(ctx, "alice", "desk", nil)
	require.NoError(t, err)
	admin.waitForNamed(t, "alice", "desk", true)
	require.False(t, claimGone(t, c, ns, "claim-alice"))
	require.False(t, claimGone(t, c, ns, "claim-alice--desk"))

	// A stop keeps the home.
	_, err = admin.StopServer(ctx, "alice", "desk")
	require.NoError(t, err)
	admin.waitForNamed(t, "alice", "desk", false)
	assert.False(t, claimGone(t, c, ns, "claim-alice--desk"), "a stop keeps the home")

	// Removing the named server (the home page's delete) deletes its home,
	// not the default server's.
	status, body := admin.raw(t, http.MethodDelete, "/users/alice/servers/desk", map[string]any{"remove": true})
	require.Contains(t, []int{http.StatusNoContent, http.StatusAccepted}, status, string(body))
	waitUntil(t, serverTimeout, "claim-alice--desk to be deleted", func() bool { return claimGone(t, c, ns, "claim-alice--desk") })
	assert.False(t, claimGone(t, c, ns, "claim-alice"), "the default server's home stays")

	// Deleting the user (the admin page) deletes the default server's home.
	_, err = admin.StopServer(ctx, "alice", "")
	require.NoError(t, err)
	admin.waitForNamed(t, "alice", "", false)
	status, body = admin.raw(t, http.MethodDelete, "/users/alice", nil)
	require.Equal(t, http.StatusNoContent, status, string(body))
	waitUntil(t, serverTimeout, "claim-alice to be deleted", func() bool { return claimGone(t, c, ns, "claim-alice") })
	assert.Equal(t, 2.0, metricValue(svc.Metrics(t), "kubedesk_spawner_volumes_deleted_total"))
}

// TestOrphansAreCollected runs the service's orphan collection against a
// real JupyterHub, each supported major version: a session the hub has is
// kept, one whose server the hub does not have (its user unknown to the
// hub, or a user without that server) is stopped once older than the grace
// period, its Secret with it, its home kept; in dry-run mode, another
// service keeps its orphan and counts it.
func TestOrphansAreCollected(t *testing.T) {
	c := devcluster.Start(t)
	devcluster.StartResponder(t)
	for _, venv := range []string{"venv-jh4", "venv", "venv-jh6"} {
		t.Run(venv, func(t *testing.T) {
			t.Parallel()
			testOrphansAreCollected(t, c, venv)
		})
	}
}

func testOrphansAreCollected(t *testing.T, c *devcluster.Cluster, venv string) {
	ns := c.Namespace(t)
	ports, orphansToken := newHubPorts(t), randomHex(t, 16)
	orphanEnv := []string{
		"KUBEDESK_HUB_API_URL=" + ports.api(),
		"KUBEDESK_HUB_API_TOKEN=" + orphansToken,
		"KUBEDESK_ORPHAN_COLLECTION_INTERVAL=" + orphanInterval.String(),
		"KUBEDESK_ORPHAN_GRACE_PERIOD=" + orphanGrace.String(),
	}
	svc := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: ns, Profiles: profiles, Env: orphanEnv})
	hub := startKubedeskHub(t, venv, svc, ports, orphansToken)
	admin, ctx := hub.Admin, t.Context()

	// alice's server is the hub's; bob is a user of the hub without a
	// server; ghost is no user of the hub at all.
	admin.createUser(t, "alice")
	admin.createUser(t, "bob")
	_, err := admin.StartServer(ctx, "alice", "", nil)
	require.NoError(t, err)
	admin.waitForNamed(t, "alice", "", true)
	spawnBehindTheHub(t, svc, "bob")
	spawnBehindTheHub(t, svc, "ghost")
	ghost := svc.Session(t, "/api/v1/users/ghost/server")
	require.NotNil(t, ghost.StartedAt)

	waitUntil(t, collectTimeout, "ghost's and bob's pods to be collected", func() bool {
		return podGone(t, c, ns, "jupyter-ghost") && podGone(t, c, ns, "jupyter-bob")
	})
	assert.GreaterOrEqual(t, time.Since(*ghost.StartedAt), orphanGrace, "not collected before the grace period")
	waitUntil(t, collectTimeout, "the garbage collector to delete ghost's Secret", func() bool {
		_, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "jupyter-ghost", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	assert.False(t, claimGone(t, c, ns, "claim-ghost"), "a collected session's home stays")

	// alice's is kept, rounds after the grace period.
	assert.False(t, podGone(t, c, ns, "jupyter-alice"), "the hub's server is kept")
	assert.Equal(t, "running", string(svc.Session(t, "/api/v1/users/alice/server").Status))
	u, err := admin.User(ctx, "alice")
	require.NoError(t, err)
	assert.True(t, u.Servers[""].Ready, "the hub still has alice's server")

	metrics := svc.Metrics(t)
	assert.Equal(t, 2.0, metricValue(metrics, `kubedesk_spawner_orphans_total{action="collected",kind="pod"}`))
	assert.Equal(t, 2.0, metricValue(metrics, `kubedesk_spawner_orphans_total{action="collected",kind="secret"}`))
	log := svc.Log()
	for _, obj := range []string{"kind=pod name=jupyter-ghost", "kind=secret name=jupyter-ghost", "kind=pod name=jupyter-bob"} {
		assert.Contains(t, log, obj, "one log line per object")
	}
	assert.NotContains(t, log, "name=jupyter-alice")

	// Dry run: a second service, its sessions in a namespace of their own,
	// asks the same hub and keeps its orphan.
	dryNS := c.Namespace(t)
	dry := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: dryNS, Profiles: profiles,
		Env: append(orphanEnv, "KUBEDESK_ORPHAN_DRY_RUN=true")})
	spawnBehindTheHub(t, dry, "ghost")
	const wouldCollect = `kubedesk_spawner_orphans_total{action="would_collect",kind="pod"}`
	waitUntil(t, collectTimeout, "the dry run to count ghost's pod", func() bool { return metricValue(dry.Metrics(t), wouldCollect) == 1 })
	time.Sleep(3 * orphanInterval) // more rounds, which neither stop it nor count it again
	assert.False(t, podGone(t, c, dryNS, "jupyter-ghost"), "a dry run stops nothing")
	assert.Equal(t, "running", string(dry.Session(t, "/api/v1/users/ghost/server").Status))
	metrics = dry.Metrics(t)
	assert.Equal(t, 1.0, metricValue(metrics, wouldCollect), "counted once")
	assert.Zero(t, metricValue(metrics, `kubedesk_spawner_orphans_total{action="collected",kind="pod"}`))
	assert.Equal(t, 1, strings.Count(dry.Log(), "kind=pod name=jupyter-ghost"))
}
