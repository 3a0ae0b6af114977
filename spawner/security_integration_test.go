package spawner_test

// Integration tests of issue 13's findings (security hardening), against
// the dev cluster like the others. They skip under -short.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// Finding 1: two user names that map to the same Kubernetes names. The
// second user never gets the first one's home volume, pod or Secret: the
// spawn is refused with a sentence for the operator, whether the victim runs
// or has stopped, and the victim's claim is untouched.
func TestCollidingUserNeverGetsAnotherUsersHome(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t)
	ctx := context.Background()
	victim, attacker := spawnertest.CollidingUsers("dana")
	t.Logf("colliding pair: %q and %q", victim, attacker)
	victimPath := "/api/v1/users/" + url.PathEscape(victim) + "/server"
	attackerPath := "/api/v1/users/" + url.PathEscape(attacker) + "/server"

	status, body := svc.Do(t, "POST", victimPath, spawnBody(victim, ""))
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, victimPath, waitReady)))
	victimSession := svc.Session(t, victimPath)
	claims, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, claims.Items, 1)
	claim := claims.Items[0]
	require.Equal(t, victim, claim.Annotations["hub.jupyter.org/username"])

	refused := func(when string) {
		t.Helper()
		status, body := svc.Do(t, "POST", attackerPath, spawnBody(attacker, ""))
		require.Equal(t, http.StatusConflict, status, "%s: %s", when, body)
		var e struct{ Code, Message string }
		require.NoError(t, json.Unmarshal(body, &e))
		assert.Equal(t, "name_conflict", e.Code, when)
		assert.Contains(t, e.Message, "another user's", when)
		assert.Contains(t, e.Message, "operator", when)
		assert.NotContains(t, e.Message, victim, "%s: the other user is not named to the user", when)
		assert.NotContains(t, e.Message, "shutting down", when)
		known := false
		for _, s := range svc.Sessions(t) {
			known = known || s.User == attacker
		}
		assert.False(t, known, "%s: the refused spawn left no session", when)
	}

	// While the victim runs: not the misleading "still shutting down".
	refused("victim running")
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, victimSession.Pod, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, victim, pod.Annotations["hub.jupyter.org/username"], "the victim's pod still runs")

	// After the victim stopped: the claim is there, the pod is not.
	status, _ = svc.Do(t, "DELETE", victimPath, nil)
	require.Equal(t, http.StatusNoContent, status)
	refused("victim stopped")
	// The hub stops a server whose start failed; nothing of the victim's
	// goes with it.
	status, _ = svc.Do(t, "DELETE", attackerPath, nil)
	require.Equal(t, http.StatusNoContent, status)

	after, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, claim.UID, after.UID)
	assert.Equal(t, claim.ResourceVersion, after.ResourceVersion, "the victim's claim is untouched")
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		assert.NotEqual(t, attacker, p.Annotations["hub.jupyter.org/username"], "no pod of the second user")
	}
	metrics := svc.Metrics(t)
	assert.Contains(t, metrics, `kubedesk_spawner_name_conflicts_total{kind="session"} 1`)
	assert.Contains(t, metrics, `kubedesk_spawner_name_conflicts_total{kind="pvc"} 1`)

	// The victim is not locked out of their own home.
	status, body = svc.Do(t, "POST", victimPath, spawnBody(victim, ""))
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, victimPath, waitReady)))
}

// Finding 4: launch admission is serialized per session and counts the
// launches in flight, so 40 concurrent launches under a quota of 2 make
// exactly 2 app pods; the file arguments are capped.
func TestConcurrentLaunchesKeepTheQuota(t *testing.T) {
	t.Parallel()
	c, ns, svc, token, _ := appSetup(t, "KUBEDESK_MAX_APPS_PER_SESSION=2")
	ctx := context.Background()

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 40 {
		wg.Go(func() {
			status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm"})
			if status != http.StatusAccepted {
				assert.Contains(t, string(body), `"code":"quota"`)
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusAccepted: 2, http.StatusTooManyRequests: 38}, statuses)
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=app"})
	require.NoError(t, err)
	assert.Equal(t, 2, len(pods.Items), "exactly the quota's app pods")

	// The caps on arguments, with a code like the other refusals.
	many := make([]string, 65)
	for i := range many {
		many[i] = "/home/jovyan/f"
	}
	status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm", "files": many})
	assert.Equal(t, http.StatusBadRequest, status, string(body))
	assert.Contains(t, string(body), `"code":"too_many_files"`)
	long := "/home/jovyan/" + strings.Repeat("x", 40<<10)
	status, body = svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm", "files": []string{long}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, status, string(body))
	assert.Contains(t, string(body), `"code":"args_too_long"`)
}
