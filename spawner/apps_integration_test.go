package spawner_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

const appCatalog = `
- id: xterm
  name: XTerm
  version: "1"
  categories: [system]
  image: kubedesk/example-xterm:1
  command: [xterm]
  args: ["-e", "less", "{file}"]
- id: gpuview
  name: GPU viewer
  version: "2"
  image: example/gpuview:2
  command: [gpuview]
  profiles: [pinned]
- id: broken
  version: "1"
  image: example/broken:1
  command: []
`

// appSetup runs a service with the catalog, starts alice's session and
// returns the session token the service put in her Secret.
func appSetup(t *testing.T, env ...string) (*devcluster.Cluster, string, *spawnertest.Service, string, *corev1.Pod) {
	t.Helper()
	catalogFile := filepath.Join(t.TempDir(), "catalog.yaml")
	require.NoError(t, os.WriteFile(catalogFile, []byte(appCatalog), 0o600))
	c, ns, svc, _ := setup(t, append(env, "KUBEDESK_CATALOG_FILE="+catalogFile)...)
	path := "/api/v1/users/alice/server"
	status, body := svc.Do(t, "POST", path, spawnBody("alice", ""))
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, path, waitReady)))
	pod, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), svc.Session(t, path).Pod, metav1.GetOptions{})
	require.NoError(t, err)
	secret, err := c.Client.CoreV1().Secrets(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	return c, ns, svc, string(secret.Data["KUBEDESK_SESSION_TOKEN"]), pod
}

type appView struct {
	ID, App, Version, Status, Pod string
	Xpra                          *struct {
		Host     string
		Port     int
		Password string
	}
}

func TestLaunchCreatesAppPod(t *testing.T) {
	t.Parallel()
	c, ns, svc, token, session := appSetup(t)
	ctx := context.Background()

	status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm", "files": []string{"/home/jovyan/notes.txt"}})
	require.Equal(t, http.StatusAccepted, status, string(body))
	var launched appView
	require.NoError(t, json.Unmarshal(body, &launched))

	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, launched.Pod, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"xterm", "-e", "less", "/home/jovyan/notes.txt"}, pod.Spec.Containers[0].Command)
	assert.Equal(t, "kubedesk/example-xterm:1", pod.Spec.Containers[0].Image)
	assert.Equal(t, session.UID, pod.OwnerReferences[0].UID, "owned by the session pod")
	assert.False(t, *pod.Spec.AutomountServiceAccountToken)
	require.NotNil(t, pod.Spec.Affinity, "the home PVC is ReadWriteOnce: the app goes to the session's node")
	assert.Equal(t, []string{session.Spec.NodeName}, pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values)
	secret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Len(t, secret.Data["password"], 24)
	np, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pod.Labels["kubedesk.dev/app-instance"], np.Spec.PodSelector.MatchLabels["kubedesk.dev/app-instance"])

	// The app's own view, with the route to attach to once it runs (kwok
	// reports the sidecar ready at once).
	waitFor(t, waitReady, "the app to run", func(context.Context) (bool, error) {
		status, body := svc.DoAs(t, token, "GET", "/api/v1/session/apps/"+pod.Name, nil)
		var a appView
		_ = json.Unmarshal(body, &a)
		return status == 200 && a.Status == "running" && a.Xpra != nil && a.Xpra.Password == string(secret.Data["password"]), nil
	})

	assert.Contains(t, svc.Metrics(t), "kubedesk_spawner_app_start_duration_seconds_count 1", "the start of the app is measured")
	assert.Contains(t, svc.Metrics(t), `kubedesk_spawner_apps{status="running"} 1`)

	// The app exits: its pod is deleted, and with it the Secret and policy.
	// (kwok plays the kubelet here and writes the status too: retry on
	// conflicts with its writes.)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Status.Phase = corev1.PodSucceeded
		current.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
		_, err = c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, current, metav1.UpdateOptions{})
		return err
	})
	require.NoError(t, err)
	waitFor(t, waitGone, "the ended app's pod to be deleted", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// Stopping the session garbage-collects its apps.
	status, body = svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm"})
	require.Equal(t, http.StatusAccepted, status, string(body))
	require.NoError(t, json.Unmarshal(body, &launched))
	status, _ = svc.Do(t, "DELETE", "/api/v1/users/alice/server", nil)
	require.Equal(t, http.StatusNoContent, status)
	waitFor(t, waitGone, "the app pod and its Secret to be collected with the session", func(ctx context.Context) (bool, error) {
		_, errPod := c.Client.CoreV1().Pods(ns).Get(ctx, launched.Pod, metav1.GetOptions{})
		_, errSecret := c.Client.CoreV1().Secrets(ns).Get(ctx, launched.Pod, metav1.GetOptions{})
		return apierrors.IsNotFound(errPod) && apierrors.IsNotFound(errSecret), nil
	})
	status, body = svc.DoAs(t, token, "GET", "/api/v1/session/apps", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the token died with its session")
	assert.Contains(t, string(body), "stale_token")
}

func TestLaunchAbuseIsRefused(t *testing.T) {
	t.Parallel()
	c, ns, svc, token, session := appSetup(t, "KUBEDESK_MAX_APPS_PER_SESSION=1")
	ctx := context.Background()

	// bob's session, to try his token on alice's apps and the other way round.
	status, _ := svc.Do(t, "POST", "/api/v1/users/bob/server", spawnBody("bob", ""))
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, "ready", lastKind(svc.Progress(t, "/api/v1/users/bob/server", waitReady)))
	bobSecret, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "jupyter-bob", metav1.GetOptions{})
	require.NoError(t, err)
	bobToken := string(bobSecret.Data["KUBEDESK_SESSION_TOKEN"])

	sign := func(claims jwt.MapClaims, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		require.NoError(t, err)
		return s
	}
	base := func(exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"usr": "alice", "srv": "", "sid": string(session.UID), "iss": "kubedesk-spawner",
			"aud": "kubedesk-session", "exp": exp.Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}
	}
	expired := sign(base(time.Now().Add(-time.Hour)), svc.SessionKey)
	forged := sign(base(time.Now().Add(time.Hour)), []byte("not-the-service-key-not-the-key!"))
	otherPod := base(time.Now().Add(time.Hour))
	otherPod["sid"] = "uid-of-an-earlier-session-pod"
	stale := sign(otherPod, svc.SessionKey)

	cases := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		want   string
	}{
		{"expired token", expired, map[string]any{"app": "xterm"}, 401, "token_expired"},
		{"forged token", forged, map[string]any{"app": "xterm"}, 401, "invalid_token"},
		{"token of an earlier pod of the session", stale, map[string]any{"app": "xterm"}, 401, "stale_token"},
		{"app not in the catalog", token, map[string]any{"app": "xtrem"}, 404, `did you mean`},
		{"app not allowed by the profile", token, map[string]any{"app": "gpuview"}, 403, "not_allowed"},
		{"malformed catalog entry was skipped", token, map[string]any{"app": "broken"}, 404, "unknown_app"},
		{"file outside the home directory", token, map[string]any{"app": "xterm", "files": []string{"/etc/shadow"}}, 400, "bad_file"},
		{"relative escape from home", token, map[string]any{"app": "xterm", "files": []string{"/home/jovyan/../../etc/passwd"}}, 400, "bad_file"},
	}
	for _, tc := range cases {
		status, body := svc.DoAs(t, tc.token, "POST", "/api/v1/session/apps", tc.body)
		assert.Equal(t, tc.status, status, "%s: %s", tc.name, body)
		assert.Contains(t, strings.ToLower(string(body)), strings.ToLower(tc.want), tc.name)
	}
	appPods := func() []corev1.Pod {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "component=app"})
		require.NoError(t, err)
		return pods.Items
	}
	assert.Empty(t, appPods(), "no refused launch created anything")

	// Quota: one app per session here.
	status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm"})
	require.Equal(t, http.StatusAccepted, status, string(body))
	var a appView
	require.NoError(t, json.Unmarshal(body, &a))
	status, body = svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm"})
	assert.Equal(t, http.StatusTooManyRequests, status, string(body))
	assert.Contains(t, string(body), "quota")

	// bob can neither see nor stop alice's app.
	status, _ = svc.DoAs(t, bobToken, "GET", "/api/v1/session/apps/"+a.Pod, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = svc.DoAs(t, bobToken, "DELETE", "/api/v1/session/apps/"+a.Pod, nil)
	assert.Equal(t, http.StatusNoContent, status, "idempotent, and says nothing about alice's app")
	status, body = svc.DoAs(t, bobToken, "GET", "/api/v1/session/apps", nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "[]", strings.TrimSpace(string(body)))
	assert.Len(t, appPods(), 1, "alice's app is untouched")

	metrics := svc.Metrics(t)
	for _, want := range []string{
		`kubedesk_spawner_app_launches_total{outcome="created"} 1`,
		`kubedesk_spawner_app_launches_total{outcome="quota"} 1`,
		`kubedesk_spawner_app_launches_total{outcome="bad_file"} 2`,
		`kubedesk_spawner_app_launches_total{outcome="not_allowed"} 1`,
		`kubedesk_spawner_app_launches_total{outcome="unknown_app"} 2`,
	} {
		assert.Contains(t, metrics, want, "refusals are counted by reason")
	}

	// alice stops her own app.
	status, _ = svc.DoAs(t, token, "DELETE", "/api/v1/session/apps/"+a.Pod, nil)
	assert.Equal(t, http.StatusNoContent, status)
	waitFor(t, waitGone, "alice's app to go", func(context.Context) (bool, error) { return len(appPods()) == 0, nil })
}

func TestAppPodsGetTheirOwnDisplay(t *testing.T) {
	t.Parallel()
	c, ns, svc, token, _ := appSetup(t)
	displays := map[string]bool{}
	for range 2 {
		status, body := svc.DoAs(t, token, "POST", "/api/v1/session/apps", map[string]any{"app": "xterm"})
		require.Equal(t, http.StatusAccepted, status, string(body))
		var a appView
		require.NoError(t, json.Unmarshal(body, &a))
		pod, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), a.Pod, metav1.GetOptions{})
		require.NoError(t, err)
		var app, sidecar string
		for _, e := range pod.Spec.Containers[0].Env {
			if e.Name == "DISPLAY" {
				app = e.Value
			}
		}
		for _, e := range pod.Spec.InitContainers[0].Env {
			if e.Name == "XPRA_DISPLAY" {
				sidecar = e.Value
			}
		}
		assert.Regexp(t, `^:\d+$`, app)
		assert.Equal(t, app, sidecar, "the app draws on its own sidecar's display")
		displays[app] = true
	}
	assert.Len(t, displays, 2, "two apps, two displays (a 1 in 29900 chance of a false failure)")
}
