package spawner_test

// Integration tests of the spawner service as a process, against the dev
// cluster's real API server (kwok stands in for kubelets). They skip under
// -short.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"

	"kubedesk.dev/kubedesk/spawner/internal/sessiontoken"
	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

// Named bounds for waits on the cluster; kwok makes pods Ready in well under
// a second, so these only matter when something is wrong.
const (
	waitReady = 60 * time.Second
	waitGone  = 60 * time.Second
)

const profilesYAML = `
- display_name: Desktop
  slug: desktop
  description: A plain desktop.
  default: true
  kubespawner_override:
    image: kubedesk/desktop:test
    cpu_limit: "2"
    mem_limit: 4G
- display_name: Pinned
  slug: pinned
  description: Runs only on nodes labelled for this test.
  kubespawner_override:
    node_selector:
      POOL_LABEL: "yes"
`

func setup(t *testing.T, env ...string) (*devcluster.Cluster, string, *spawnertest.Service, string) {
	t.Helper()
	c := devcluster.Start(t)
	ns := c.Namespace(t)
	pool := "kubedesk.dev/pool-" + ns
	svc := spawnertest.Start(t, spawnertest.Options{
		Kubeconfig: c.Kubeconfig,
		Namespace:  ns,
		Profiles:   strings.ReplaceAll(profilesYAML, "POOL_LABEL", pool),
		Env:        env,
	})
	return c, ns, svc, pool
}

func env(user string) map[string]any {
	return map[string]any{
		"JUPYTERHUB_SERVICE_PREFIX": "/user/" + url.PathEscape(user) + "/",
		"JUPYTERHUB_API_TOKEN":      "hub-token-of-" + user,
		"JUPYTERHUB_USER":           user,
	}
}

func spawnBody(user, profile string) map[string]any {
	opts := map[string]any{}
	if profile != "" {
		opts["profile"] = profile
	}
	return map[string]any{"user_options": opts, "env": env(user)}
}

func TestSpawnPollStop(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t)
	ctx := context.Background()
	path := "/api/v1/users/alice/server"

	status, body := svc.Do(t, "POST", path, spawnBody("alice", ""))
	require.Equal(t, http.StatusAccepted, status, string(body))

	events := svc.Progress(t, path, waitReady)
	last := events[len(events)-1]
	require.Equal(t, "ready", last.Kind, "events: %+v", events)
	assert.Regexp(t, `^http://127\.42\.\d+\.\d+:8888$`, last.URL)
	assert.Greater(t, len(events), 1, "progress before ready")
	for _, e := range events[:len(events)-1] {
		assert.Equal(t, "progress", e.Kind)
		assert.NotEmpty(t, e.Message)
	}

	// A late subscriber gets the same story.
	again := svc.Progress(t, path, waitReady)
	assert.Equal(t, events, again)

	sess := svc.Session(t, path)
	assert.Equal(t, "running", string(sess.Status))
	assert.Equal(t, last.URL, sess.URL)
	assert.Equal(t, "desktop", sess.Profile)

	// The objects in the API server.
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, sess.Pod, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "kubedesk/desktop:test", pod.Spec.Containers[0].Image)
	assert.Equal(t, "2", pod.Spec.Containers[0].Resources.Limits.Cpu().String())
	assert.Equal(t, "alice", pod.Annotations["hub.jupyter.org/username"])
	assert.False(t, *pod.Spec.AutomountServiceAccountToken)
	podJSON, _ := json.Marshal(pod)
	assert.NotContains(t, string(podJSON), "hub-token-of-alice", "the hub's token lives in the Secret only")

	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "hub-token-of-alice", string(secret.Data["JUPYTERHUB_API_TOKEN"]))
	require.Len(t, secret.OwnerReferences, 1)
	assert.Equal(t, pod.UID, secret.OwnerReferences[0].UID)
	signer, err := sessiontoken.NewSigner(svc.SessionKey, time.Hour)
	require.NoError(t, err)
	claims, err := signer.Verify(string(secret.Data["KUBEDESK_SESSION_TOKEN"]))
	require.NoError(t, err, "the Secret holds a session token signed by the service")
	assert.Equal(t, "alice", claims.User)
	assert.Equal(t, string(pod.UID), claims.SessionUID, "the token is bound to this very pod")
	_, err = c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "claim-alice", metav1.GetOptions{})
	require.NoError(t, err, "home PVC")

	// The same request again (a retry after a lost answer) gets the same
	// session; a new start of a running server is a conflict. Neither
	// changes anything.
	status, body = svc.Do(t, "POST", path, spawnBody("alice", ""))
	assert.Equal(t, http.StatusAccepted, status, string(body))
	assert.Contains(t, string(body), `"pod":"`+sess.Pod+`"`)
	newStart := spawnBody("alice", "")
	newStart["env"].(map[string]any)["JUPYTERHUB_API_TOKEN"] = "a token of another start"
	status, body = svc.Do(t, "POST", path, newStart)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, string(body), `"code":"exists"`)

	list := svc.Sessions(t)
	require.Len(t, list, 1)

	status, _ = svc.Do(t, "DELETE", path, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = svc.Do(t, "GET", path, nil)
	assert.Equal(t, http.StatusNotFound, status, "a stopped server is gone: the hub's poll reads 0")
	_, err = c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "pod deleted when DELETE returns")
	waitFor(t, waitGone, "the garbage collector to delete the Secret", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Secrets(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	_, err = c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "claim-alice", metav1.GetOptions{})
	assert.NoError(t, err, "the home PVC survives a stop")

	// Stop is idempotent.
	status, _ = svc.Do(t, "DELETE", path, nil)
	assert.Equal(t, http.StatusNoContent, status)

	// And the server starts again, on the same home.
	status, body = svc.Do(t, "POST", path, spawnBody("alice", ""))
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, path, waitReady)))
}

func TestRestartDuringSpawnLosesNothing(t *testing.T) {
	t.Parallel()
	c, ns, svc, pool := setup(t, "KUBEDESK_UNSCHEDULABLE_GRACE=10m")
	ctx := context.Background()

	// bob runs; carol's spawn waits for a node that does not exist yet.
	bob, carol := "/api/v1/users/bob/server", "/api/v1/users/carol/server"
	status, _ := svc.Do(t, "POST", bob, spawnBody("bob", ""))
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, "ready", lastKind(svc.Progress(t, bob, waitReady)))
	bobBefore := svc.Session(t, bob)
	bobPod, err := c.Client.CoreV1().Pods(ns).Get(ctx, bobBefore.Pod, metav1.GetOptions{})
	require.NoError(t, err)

	status, body := svc.Do(t, "POST", carol, spawnBody("carol", "pinned"))
	require.Equal(t, http.StatusAccepted, status, string(body))
	// Her home volume is provisioned first, and the scheduler's verdict
	// comes after it: on a loaded machine (make test runs the end-to-end
	// tests beside this) that took over a minute once. The last message
	// seen is logged if it never comes.
	var said string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("carol's session last said: %q", said)
		}
	})
	waitFor(t, 2*waitReady, "carol's pod to be reported unschedulable", func(context.Context) (bool, error) {
		said = svc.Session(t, carol).Message
		return strings.Contains(said, "No node has room"), nil
	})
	newStart := spawnBody("carol", "pinned")
	newStart["env"].(map[string]any)["JUPYTERHUB_API_TOKEN"] = "a token of another start"
	status, body = svc.Do(t, "POST", carol, newStart)
	assert.Equal(t, http.StatusConflict, status, "one operation per server")
	assert.Contains(t, string(body), `"code":"busy"`)

	svc.Kill(t) // SIGKILL: no chance to clean up
	svc.Restart(t)

	after := svc.Session(t, bob)
	assert.Equal(t, "running", string(after.Status), "the running session is known after the restart")
	assert.Equal(t, bobBefore.URL, after.URL)
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, bobBefore.Pod, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, bobPod.UID, pod.UID, "the running pod was not touched")
	assert.Equal(t, "pending", string(svc.Session(t, carol).Status), "the spawn in progress is resumed")

	// Give carol's pod a node; the resumed spawn finishes through the new
	// process's progress stream.
	labelNode(t, c, "kwok-node-3", pool, "yes")
	events := svc.Progress(t, carol, waitReady)
	require.Equal(t, "ready", lastKind(events), "events: %+v", events)
	assert.Contains(t, events[0].Message, "restarted", "the stream says what happened")

	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, pods.Items, 2, "no orphan and no duplicate")
}

func TestStopCancelsSpawn(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t, "KUBEDESK_UNSCHEDULABLE_GRACE=10m")
	path := "/api/v1/users/dave/servers/big"
	status, _ := svc.Do(t, "POST", path, spawnBody("dave", "pinned"))
	require.Equal(t, http.StatusAccepted, status)

	status, _ = svc.Do(t, "DELETE", path, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = svc.Do(t, "GET", path, nil)
	assert.Equal(t, http.StatusNotFound, status)
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
}

func TestUnschedulableFailsFastAndCleansUp(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t, "KUBEDESK_UNSCHEDULABLE_GRACE=1s")
	path := "/api/v1/users/erin/server"
	status, _ := svc.Do(t, "POST", path, spawnBody("erin", "pinned"))
	require.Equal(t, http.StatusAccepted, status)

	events := svc.Progress(t, path, waitReady)
	last := events[len(events)-1]
	require.Equal(t, "failed", last.Kind)
	assert.Equal(t, "unschedulable", last.Reason)
	assert.Contains(t, last.Message, "No node in the cluster can run this session")

	sess := svc.Session(t, path)
	assert.Equal(t, "failed", string(sess.Status))
	waitFor(t, waitGone, "the failed pod to be deleted", func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})
	assert.Contains(t, svc.Metrics(t), `kubedesk_spawner_spawn_failures_total{reason="unschedulable"} 1`)

	// The hub then calls stop, which clears the record.
	status, _ = svc.Do(t, "DELETE", path, nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = svc.Do(t, "GET", path, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestOddUserNamesGetValidDistinctNames(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t)
	users := []string{
		"Jörg Müller", "日本語ユーザー", strings.Repeat("x", 100), "UPPER", "upper", "first.last",
		"first.last.", "-dash", "a/b", "o'neil@example.org",
	}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/api/v1/users/" + url.PathEscape(u) + "/server"
			status, body := svc.Do(t, "POST", path, spawnBody(u, ""))
			if assert.Equal(t, http.StatusAccepted, status, "%s: %s", u, body) {
				assert.Equal(t, "ready", lastKind(svc.Progress(t, path, waitReady)), u)
			}
		}()
	}
	wg.Wait()

	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, len(users))
	seen := map[string]string{}
	for _, p := range pods.Items {
		assert.Empty(t, validation.IsDNS1123Label(p.Name), p.Name)
		user := p.Annotations["hub.jupyter.org/username"]
		assert.Contains(t, users, user, "the raw name is kept in the annotation")
		seen[p.Name] = user
		for k, v := range p.Labels {
			assert.Empty(t, validation.IsValidLabelValue(v), "%s=%s", k, v)
		}
	}
	assert.Len(t, seen, len(users), "distinct pod names")
	for _, s := range svc.Sessions(t) {
		assert.Equal(t, "running", string(s.Status), s.User)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t)
	path := "/api/v1/users/mallory/server"
	cases := []struct {
		name   string
		token  string
		body   any
		status int
		want   string
	}{
		{"no token", "-", spawnBody("mallory", ""), 401, "for JupyterHub only"},
		{"wrong token", "not-the-hub-token-at-all", spawnBody("mallory", ""), 401, "for JupyterHub only"},
		{"unknown profile", "", spawnBody("mallory", "gpu-xl"), 400, `"field":"profile"`},
		{"oversized body", "", map[string]any{"env": map[string]any{"JUPYTERHUB_SERVICE_PREFIX": "/user/m/", "BIG": strings.Repeat("a", 2<<20)}}, 413, "too_large"},
		{"no service prefix", "", map[string]any{"env": map[string]any{}}, 400, "JUPYTERHUB_SERVICE_PREFIX"},
	}
	for _, tc := range cases {
		status, body := svc.DoAs(t, tc.token, "POST", path, tc.body)
		assert.Equal(t, tc.status, status, "%s: %s", tc.name, body)
		assert.Contains(t, string(body), tc.want, tc.name)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
	pvcs, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pvcs.Items)
}

func lastKind(events []spawnertest.Event) string {
	if len(events) == 0 {
		return ""
	}
	return events[len(events)-1].Kind
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond wait.ConditionWithContextFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond)
	require.NoError(t, err, "waiting for %s", what)
}

func labelNode(t *testing.T, c *devcluster.Cluster, node, key, value string) {
	t.Helper()
	patch := func(v any) {
		data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
		_, err := c.Client.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, data, metav1.PatchOptions{})
		require.NoError(t, err)
	}
	patch(value)
	t.Cleanup(func() { patch(nil) })
}

func TestHubStartTimeoutBoundsSpawn(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t, "KUBEDESK_UNSCHEDULABLE_GRACE=10m")
	path := "/api/v1/users/frank/server"
	body := spawnBody("frank", "pinned")
	body["start_timeout"] = 3 // the hub's Spawner.start_timeout, in seconds
	status, _ := svc.Do(t, "POST", path, body)
	require.Equal(t, http.StatusAccepted, status)

	events := svc.Progress(t, path, waitReady)
	last := events[len(events)-1]
	require.Equal(t, "failed", last.Kind)
	assert.Equal(t, "timeout", last.Reason)
	assert.Contains(t, last.Message, "not ready within 3s", "90% of the hub's 3 s, rounded")
	waitFor(t, waitGone, "the timed-out pod to be deleted", func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})

	body["start_timeout"] = -1
	status, resp := svc.Do(t, "POST", "/api/v1/users/frank/servers/other", body)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(resp), "start_timeout must be 0 (none) or at least 1 second")
}
