package apps

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

const launchesTotal = "kubedesk_spawner_app_launches_total"

var podsGR = schema.GroupResource{Resource: "pods"}

func TestLaunchRefusals(t *testing.T) {
	f := start(t, options{})
	gone := f.sessions.add("carol", "", "")
	f.sessions.remove("carol", "")
	ctx := context.Background()
	xterm := sessionapi.LaunchRequest{App: "xterm"}
	withFiles := func(files ...string) sessionapi.LaunchRequest {
		return sessionapi.LaunchRequest{App: "xterm", Files: files}
	}
	for _, tc := range []struct {
		name   string
		caller Caller
		req    sessionapi.LaunchRequest
		code   string
	}{
		{"a token of the session's previous pod", Caller{User: "alice", SessionUID: "old-uid"}, xterm, CodeStaleToken},
		{"a user without a session", Caller{User: "mallory", SessionUID: "session-uid"}, xterm, CodeStaleToken},
		{"a session that stopped", gone, xterm, CodeStaleToken},
		{"another server's token", Caller{User: "alice", Server: "gpu", SessionUID: "session-uid"}, xterm, CodeStaleToken},
		{"an app not in the catalog", f.alice, sessionapi.LaunchRequest{App: "nope"}, CodeUnknownApp},
		{"a version not in the catalog", f.alice, sessionapi.LaunchRequest{App: "xterm", Version: "9"}, CodeUnknownApp},
		{"an app of another profile", f.alice, sessionapi.LaunchRequest{App: "viewer"}, CodeNotAllowed},
		{"a relative file", f.alice, withFiles("notes.txt"), CodeBadFile},
		{"a file outside the home", f.alice, withFiles("/etc/passwd"), CodeBadFile},
		{"a path that climbs out of the home", f.alice, withFiles("/home/jovyan/../../etc/shadow"), CodeBadFile},
		{"an empty file name", f.alice, withFiles("/home/jovyan/a", ""), CodeBadFile},
	} {
		_, err := f.mgr.Launch(ctx, tc.caller, tc.req)
		var e *Error
		require.ErrorAs(t, err, &e, tc.name)
		assert.Equal(t, tc.code, e.Code, tc.name)
		assert.NotEmpty(t, e.Message, tc.name)
		assert.Equal(t, e.Message, e.Error(), tc.name)
	}
	assert.Zero(t, appPods(t, f.client), "no refused launch created a pod")
	secrets, err := f.client.CoreV1().Secrets(testNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, secrets.Items)
	for outcome, n := range map[string]float64{CodeStaleToken: 4, CodeUnknownApp: 2, CodeNotAllowed: 1, CodeBadFile: 4, "created": 0} {
		assert.Equal(t, n, metric(t, f.reg, launchesTotal, map[string]string{"outcome": outcome}), outcome)
	}

	// The profile that may launch the viewer does.
	gpu := f.sessions.add("alice", "gpu", "gpu")
	a, err := f.mgr.Launch(ctx, gpu, sessionapi.LaunchRequest{App: "viewer"})
	require.NoError(t, err)
	assert.Equal(t, "viewer", a.App)
	assert.Equal(t, float64(1), metric(t, f.reg, launchesTotal, map[string]string{"outcome": "created"}))
}

func TestLaunchMakesPodSecretAndPolicy(t *testing.T) {
	f := start(t, options{cfg: Config{Display: ":42", XpraPort: 14600}})
	ctx := context.Background()
	a, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm", Files: []string{"/home/jovyan/a/../b.txt", "/home/jovyan/c d"}})
	require.NoError(t, err)
	assert.Equal(t, sessionapi.StatusStarting, a.Status)
	assert.NotEmpty(t, a.Message)
	assert.Equal(t, a.ID, a.Pod)
	assert.Equal(t, "xterm", a.App)
	assert.Equal(t, "1", a.Version)
	assert.Nil(t, a.Xpra, "no route before the app runs")
	assert.Nil(t, a.ExitCode)
	assert.False(t, a.StartedAt.IsZero())
	assert.True(t, strings.HasPrefix(a.ID, "jupyter-alice-xterm-"), a.ID)

	pod, err := f.client.CoreV1().Pods(testNS).Get(ctx, a.ID, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "jupyter-alice", pod.Labels[podspec.LabelSession])
	require.Len(t, pod.OwnerReferences, 1)
	assert.Equal(t, f.sessions.pod("alice", "").UID, pod.OwnerReferences[0].UID, "owned by the session pod")
	require.Len(t, pod.Spec.Containers, 1)
	app := pod.Spec.Containers[0]
	assert.Equal(t, []string{"xterm", "/home/jovyan/b.txt", "/home/jovyan/c d"}, app.Command, "the cleaned files, one argument each")
	assert.Contains(t, app.Env, corev1.EnvVar{Name: "DISPLAY", Value: ":42"})
	assert.Nil(t, pod.Spec.Affinity, "not pinned: the home volume is not ReadWriteOnce")
	require.Len(t, pod.Spec.InitContainers, 1)
	assert.Equal(t, int32(14600), pod.Spec.InitContainers[0].Ports[0].ContainerPort)

	secret, err := f.client.CoreV1().Secrets(testNS).Get(ctx, a.ID, metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, secret.OwnerReferences, 1)
	assert.Equal(t, pod.UID, secret.OwnerReferences[0].UID, "the Secret goes with its pod")
	np, err := f.client.NetworkingV1().NetworkPolicies(testNS).Get(ctx, a.ID, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, pod.UID, np.OwnerReferences[0].UID, "the policy goes with its pod")
	assert.Equal(t, int32(14600), np.Spec.Ingress[0].Ports[0].Port.IntVal)
}

// An app pod gets a display of its own where none is configured, and is
// pinned to the session's node where the home volume must be.
func TestLaunchDisplayHomeAndNode(t *testing.T) {
	f := start(t, options{})
	f.sessions.rwo = true
	session := f.sessions.pod("alice", "").DeepCopy()
	session.Spec.Volumes = []corev1.Volume{{Name: podspec.HomeVolumeName, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim-alice"}}}}
	session.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: podspec.HomeVolumeName, MountPath: "/home/alice"}}
	f.sessions.put("alice", "", "", session)
	ctx := context.Background()

	_, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm", Files: []string{"/home/jovyan/a"}})
	var e *Error
	require.ErrorAs(t, err, &e, "files lie in the session's own home")
	assert.Equal(t, CodeBadFile, e.Code)

	a, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm", Files: []string{"/home/alice/a"}})
	require.NoError(t, err)
	pod, err := f.client.CoreV1().Pods(testNS).Get(ctx, a.ID, metav1.GetOptions{})
	require.NoError(t, err)
	app := pod.Spec.Containers[0]
	assert.Equal(t, []string{"xterm", "/home/alice/a"}, app.Command)
	assert.Equal(t, "/home/alice", app.WorkingDir)
	var display string
	for _, e := range app.Env {
		if e.Name == "DISPLAY" {
			display = e.Value
		}
	}
	n, err := strconv.Atoi(strings.TrimPrefix(display, ":"))
	require.NoError(t, err, "display %q", display)
	assert.True(t, n >= 100 && n < 30000, "display %d", n)
	require.NotNil(t, pod.Spec.Affinity, "pinned to the session's node")
	terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	assert.Equal(t, []string{"node-1"}, terms[0].MatchFields[0].Values)
}

func TestCatalogFollowsTheProfile(t *testing.T) {
	f := start(t, options{})
	gpu := f.sessions.add("alice", "gpu", "gpu")
	ids := func(c Caller) []string {
		apps, err := f.mgr.Catalog(c)
		require.NoError(t, err)
		var out []string
		for _, a := range apps {
			out = append(out, a.ID)
		}
		return out
	}
	assert.Equal(t, []string{"xterm"}, ids(f.alice))
	assert.ElementsMatch(t, []string{"xterm", "viewer"}, ids(gpu))
	_, err := f.mgr.Catalog(Caller{User: "alice", SessionUID: "old-uid"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeStaleToken, e.Code)
}

// A launch whose Secret or NetworkPolicy cannot be made deletes its pod:
// nothing is left that the garbage collector would not remove with it,
// and the session's quota slot comes back.
func TestLaunchCleansUpAfterAFailedCreate(t *testing.T) {
	for _, tc := range []struct {
		resource, msg string
	}{
		{"secrets", "create app secret"},
		{"networkpolicies", "create app network policy"},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			f := start(t, options{cfg: Config{MaxAppsPerSession: 1}})
			failOnce(f.client, "create", tc.resource, apierrors.NewInternalError(errors.New("etcdserver: request timed out")))
			ctx := context.Background()
			_, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.True(t, apierrors.IsInternalError(err), "the API's error is kept: %v", err)
			var e *Error
			assert.False(t, errors.As(err, &e), "not a refusal of the caller's")
			assert.Equal(t, float64(1), metric(t, f.reg, launchesTotal, map[string]string{"outcome": "error"}))

			assert.Zero(t, appPods(t, f.client), "the pod is deleted")
			created := map[string]bool{}
			for name, grace := range deletes(f.client) {
				created[name] = true
				require.NotNil(t, grace)
				assert.Zero(t, *grace, "deleted at once")
			}
			require.Len(t, created, 1)
			nps, err := f.client.NetworkingV1().NetworkPolicies(testNS).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Empty(t, nps.Items)
			secrets, err := f.client.CoreV1().Secrets(testNS).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, s := range secrets.Items {
				require.Len(t, s.OwnerReferences, 1, "what is left is the garbage collector's")
				assert.True(t, created[s.OwnerReferences[0].Name], "owned by the deleted pod")
			}

			// Once the cache has seen the pod go, its slot is free.
			require.Eventually(t, func() bool { return f.mgr.admission.idle() && len(f.mgr.ofSession("jupyter-alice")) == 0 },
				eventually, tick)
			_, err = f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
			require.NoError(t, err)
		})
	}
}

// The cleanup of a failed launch is not cut short by the request's ctx: a
// client that hung up while the Secret was made leaves no pod behind.
func TestLaunchCleanupOutlivesTheRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := start(t, options{wrap: func(c kubernetes.Interface) kubernetes.Interface {
		return hooked{Interface: c,
			createSecret: func(ctx context.Context) error { cancel(); return ctx.Err() },
			deletePod:    func(ctx context.Context, _ string) error { return ctx.Err() },
		}
	}})
	_, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, appPods(t, f.client))
}

// A cleanup delete that fails is logged, and the launch answers the error
// that made it fail.
func TestLaunchCleanupThatFails(t *testing.T) {
	f := start(t, options{})
	failOnce(f.client, "create", "secrets", apierrors.NewServiceUnavailable("no etcd"))
	failOnce(f.client, "delete", "pods", apierrors.NewServiceUnavailable("no etcd"))
	_, err := f.mgr.Launch(context.Background(), f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "create app secret")
	assert.Contains(t, f.logs.String(), "Delete app pod")
	assert.Equal(t, 1, appPods(t, f.client))
}

// A pod create the API server refuses (5xx, a name conflict, throttling)
// is an error, not a refusal; it creates nothing and gives the quota
// slot back at once.
func TestLaunchPodCreateFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		is   func(error) bool
	}{
		{"internal error", apierrors.NewInternalError(errors.New("boom")), apierrors.IsInternalError},
		{"name taken", apierrors.NewAlreadyExists(podsGR, "jupyter-alice-xterm-aaaaa"), apierrors.IsAlreadyExists},
		{"conflict", apierrors.NewConflict(podsGR, "jupyter-alice-xterm-aaaaa", errors.New("changed")), apierrors.IsConflict},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), apierrors.IsTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, options{cfg: Config{MaxAppsPerSession: 1}})
			failOnce(f.client, "create", "pods", tc.err)
			ctx := context.Background()
			_, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
			require.Error(t, err)
			assert.True(t, tc.is(err), "%v", err)
			assert.Contains(t, err.Error(), "create app pod")
			assert.Equal(t, float64(1), metric(t, f.reg, launchesTotal, map[string]string{"outcome": "error"}))
			secrets, err := f.client.CoreV1().Secrets(testNS).List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			assert.Empty(t, secrets.Items)
			assert.True(t, f.mgr.admission.idle(), "the slot is given back")
			_, err = f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
			require.NoError(t, err, "the next launch takes the slot")
		})
	}
}

// An app whose sidecar cannot start has failed: it leaves the quota, so
// the session can launch again, and the user is told why.
func TestAFailedSidecarFreesItsSlot(t *testing.T) {
	f := start(t, options{cfg: Config{MaxAppsPerSession: 1}})
	ctx := context.Background()
	a := launched(t, f, f.alice, "xterm")
	setStatus(t, f.client, a.ID, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{waiting(podspec.XpraContainerName, "ImagePullBackOff")}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{waiting(podspec.AppContainerName, "PodInitializing")}
	})
	var got sessionapi.App
	require.Eventually(t, func() bool {
		var err error
		got, err = f.mgr.Get(ctx, f.alice, a.ID)
		return err == nil && got.Status == sessionapi.StatusFailed
	}, eventually, tick)
	assert.Contains(t, got.Message, "ImagePullBackOff of the image")
	_, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
}

func TestQuotaRefusal(t *testing.T) {
	f := start(t, options{cfg: Config{MaxAppsPerSession: 1}})
	ctx := context.Background()
	a, err := f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
	_, err = f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeQuota, e.Code)
	assert.Contains(t, e.Message, "1 app,", "one app, not one apps")
	assert.Equal(t, float64(1), metric(t, f.reg, launchesTotal, map[string]string{"outcome": CodeQuota}))

	bob := f.sessions.add("bob", "", "")
	_, err = f.mgr.Launch(ctx, bob, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err, "the quota is each session's")

	// An app that ended frees its slot.
	ended(t, f.client, a.ID, 0)
	require.Eventually(t, func() bool {
		got, err := f.mgr.Get(ctx, f.alice, a.ID)
		return errors.As(err, &e) || got.Status == sessionapi.StatusEnded
	}, eventually, tick)
	_, err = f.mgr.Launch(ctx, f.alice, sessionapi.LaunchRequest{App: "xterm"})
	require.NoError(t, err)
}
