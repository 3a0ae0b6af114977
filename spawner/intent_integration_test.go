package spawner_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKillAfterAcknowledgeResumesSpawnWithoutPod kills the service with
// SIGKILL right after it answered 202 to a wave of spawns, while some of
// them have no pod yet (the service creates pods after it answers), and
// checks that the next run carries out every acknowledged spawn under its
// pod name, without a duplicate, and that stops leave no intent behind.
//
// Which spawns lack a pod at the kill is up to timing, so the wave is sent
// again (new users) until a kill catches at least one; the checks hold for
// every spawn either way.
func TestKillAfterAcknowledgeResumesSpawnWithoutPod(t *testing.T) {
	t.Parallel()
	c, ns, svc, _ := setup(t)
	ctx := context.Background()
	const wave, rounds = 30, 3

	var acknowledged []string // users
	caught := 0
	for round := 0; round < rounds && caught == 0; round++ {
		users := make([]string, wave)
		var wg sync.WaitGroup
		codes := make([]int, wave)
		for i := range users {
			users[i] = fmt.Sprintf("kill%d-%02d", round, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = svc.Do(t, "POST", "/api/v1/users/"+users[i]+"/server", spawnBody(users[i], ""))
			}()
		}
		wg.Wait()
		svc.Kill(t) // at once: no chance to create what is left
		for i, code := range codes {
			require.Equal(t, http.StatusAccepted, code, users[i])
		}
		acknowledged = append(acknowledged, users...)
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		caught = len(acknowledged) - len(pods.Items)
		t.Logf("round %d: %d spawns acknowledged, %d without a pod at the kill", round, len(acknowledged), caught)
		svc.Restart(t)
	}
	require.Positive(t, caught, "no kill in %d rounds caught a spawn before its pod; nothing was shown", rounds)

	for _, user := range acknowledged {
		path := "/api/v1/users/" + user + "/server"
		events := svc.Progress(t, path, waitReady)
		require.Equal(t, "ready", lastKind(events), "%s: %+v", user, events)
		assert.Equal(t, "jupyter-"+user, svc.Session(t, path).Pod, "the pod name the spawn was acknowledged with")
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, pods.Items, len(acknowledged), "one pod per spawn: no duplicate, no orphan")
	resumed := regexp.MustCompile(`kubedesk_spawner_spawns_resumed_total\{from="intent"\} (\d+)`).FindStringSubmatch(svc.Metrics(t))
	require.NotNil(t, resumed, "the resumed spawns are counted")
	n, _ := strconv.Atoi(resumed[1])
	assert.Positive(t, n, "spawns resumed from their intent in the last run")

	for _, user := range acknowledged {
		status, body := svc.Do(t, "DELETE", "/api/v1/users/"+user+"/server", nil)
		require.Equal(t, http.StatusNoContent, status, string(body))
	}
	leases, err := c.Client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=singleuser-spawn-intent"})
	require.NoError(t, err)
	assert.Empty(t, leases.Items, "no intent's Lease after the stops")
	secrets, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=singleuser-spawn-intent"})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items, "no intent's Secret after the stops")
}
