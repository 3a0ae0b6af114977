package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"kubedesk.dev/kubedesk/test/devcluster"
)

// These tests run pods on the dev cluster's devnode-0, which
// hack/dev-cluster.sh up (through devcluster.Start) builds and starts.
const (
	// podTimeout bounds create → a state (Running, Ready, Failed, ...). On
	// an idle machine that is well under a second; the margin is for a
	// 2-core machine busy with other tests.
	podTimeout = 60 * time.Second
	// goneTimeout bounds delete → object removed, including the grace
	// periods of the test pods (at most a few seconds).
	goneTimeout = 60 * time.Second
	httpTimeout = 5 * time.Second
	nodeName    = "devnode-0"
)

// onDevnode makes a pod that lands on the dev node: it tolerates the dev
// node's taint and selects its label (what profiles add for the demo).
func onDevnode(name string, policy corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{devnodeLabel: "true"},
			Tolerations: []corev1.Toleration{{
				Key: devnodeLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
			}},
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: new(int64(2)),
			AutomountServiceAccountToken:  new(false),
			Containers:                    containers,
		},
	}
}

func shell(name, script string) corev1.Container {
	return corev1.Container{
		Name: name, Image: "kubedesk/test-shell:latest", Args: []string{"-c", script},
		Env: []corev1.EnvVar{
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// nonRoot runs the pod as the session pods do: uid 1000, fsGroup 100.
func nonRoot(p *corev1.Pod) *corev1.Pod {
	p.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsUser: new(int64(1000)), RunAsGroup: new(int64(1000)), FSGroup: new(int64(100)), RunAsNonRoot: new(true),
	}
	return p
}

type env struct {
	t  *testing.T
	c  *devcluster.Cluster
	ns string
}

func setup(t *testing.T) *env {
	t.Parallel()
	c := devcluster.Start(t)
	return &env{t: t, c: c, ns: c.Namespace(t)}
}

func (e *env) create(p *corev1.Pod) (*corev1.Pod, time.Time) {
	e.t.Helper()
	p, err := e.c.Client.CoreV1().Pods(e.ns).Create(e.t.Context(), p, metav1.CreateOptions{})
	require.NoError(e.t, err)
	return p, time.Now()
}

// wait watches the pod until cond holds (or the watch sees it deleted) and
// returns it; on timeout it fails with the last status seen.
func (e *env) wait(name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), timeout)
	defer cancel()
	var last *corev1.Pod
	lw := cache.NewListWatchFromClient(e.c.Client.CoreV1().RESTClient(), "pods", e.ns, fields.OneTermEqualSelector("metadata.name", name))
	ev, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("pod %s deleted while waiting for it to be %s", name, what)
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		status := "never seen"
		if last != nil {
			status = fmt.Sprintf("node %q, %+v", last.Spec.NodeName, last.Status)
		}
		e.t.Fatalf("pod %s not %s within %v: %v; last seen: %s", name, what, timeout, err, status)
	}
	return ev.Object.(*corev1.Pod)
}

// waitGone deletes nothing; it waits until the pod object is removed.
func (e *env) waitGone(name string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), goneTimeout)
	defer cancel()
	lw := cache.NewListWatchFromClient(e.c.Client.CoreV1().RESTClient(), "pods", e.ns, fields.OneTermEqualSelector("metadata.name", name))
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{},
		func(store cache.Store) (bool, error) {
			_, exists, err := store.GetByKey(e.ns + "/" + name)
			return !exists, err
		},
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	require.NoError(e.t, err, "pod %s not removed within %v", name, goneTimeout)
}

func running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

func ready(p *corev1.Pod) bool { return conditionTrue(p.Status.Conditions, corev1.PodReady) }

func ended(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func requireOnDevnode(t *testing.T, p *corev1.Pod) {
	t.Helper()
	require.Equal(t, nodeName, p.Spec.NodeName)
	_, cidr, _ := net.ParseCIDR("127.43.0.0/16")
	require.True(t, cidr.Contains(net.ParseIP(p.Status.PodIP)), "pod IP %q is not the dev node's (kwok's are 127.42.x.y)", p.Status.PodIP)
}

// requireSucceeded waits for the pod to end and requires it Succeeded,
// failing with its main container's exit code and message otherwise.
func (e *env) requireSucceeded(name string) {
	e.t.Helper()
	got := e.wait(name, "ended", podTimeout, ended)
	term := terminated(got, "main")
	require.NotNil(e.t, term, "%+v", got.Status)
	require.Equal(e.t, corev1.PodSucceeded, got.Status.Phase, "exit %d: %s", term.ExitCode, term.Message)
}

func terminated(p *corev1.Pod, container string) *corev1.ContainerStateTerminated {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			return s.State.Terminated
		}
	}
	return nil
}

func pidOf(t *testing.T, p *corev1.Pod, container string) int {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			pid, err := strconv.Atoi(strings.TrimPrefix(s.ContainerID, "devnode://"))
			require.NoError(t, err, "container ID %q", s.ContainerID)
			return pid
		}
	}
	t.Fatalf("no container %s in %s", container, p.Name)
	return 0
}

func TestExitCodeEndsPodFailed(t *testing.T) {
	e := setup(t)
	p := onDevnode("exit3", corev1.RestartPolicyNever, shell("main", "echo failing on purpose; exit 3"))
	// Keep the ServiceAccount token volume that admission adds by default:
	// the dev node must handle the projected kube-api-access volume.
	p.Spec.AutomountServiceAccountToken = nil
	_, created := e.create(p)
	got := e.wait("exit3", "Failed", podTimeout, ended)
	t.Logf("create → %s in %v", got.Status.Phase, time.Since(created).Round(time.Millisecond))
	requireOnDevnode(t, got)
	require.Equal(t, corev1.PodFailed, got.Status.Phase)
	term := terminated(got, "main")
	require.NotNil(t, term, "%+v", got.Status.ContainerStatuses)
	require.EqualValues(t, 3, term.ExitCode)
	require.Equal(t, "Error", term.Reason)
	require.Contains(t, term.Message, "failing on purpose", "FallbackToLogsOnError")
	require.False(t, ready(got))
}

func TestCrashLoopBackOff(t *testing.T) {
	e := setup(t)
	e.create(onDevnode("crash", corev1.RestartPolicyOnFailure, shell("main", "exit 1")))
	// The first restart is at once, later ones back off (1 s, 2 s, ...).
	got := e.wait("crash", "in CrashLoopBackOff after 2 restarts", podTimeout, func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		s := p.Status.ContainerStatuses[0]
		w := s.State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" && s.RestartCount >= 2
	})
	requireOnDevnode(t, got)
	s := got.Status.ContainerStatuses[0]
	require.NotNil(t, s.LastTerminationState.Terminated, "%+v", s)
	require.EqualValues(t, 1, s.LastTerminationState.Terminated.ExitCode)
	require.Contains(t, s.State.Waiting.Message, "back-off")
	require.Equal(t, corev1.PodRunning, got.Status.Phase, "OnFailure keeps restarting: Running, as the kubelet says")
	require.False(t, ready(got))
}

func TestDeletionLeavesNoProcess(t *testing.T) {
	e := setup(t)
	// The shell ignores SIGTERM and leaves a daemon in a session of its own
	// (outside the process group), which ignores SIGTERM too: only the
	// SIGKILL after the grace period, and the sweep of the container's
	// mount namespace, end them.
	script := `trap '' TERM; setsid sh -c "trap '' TERM; sleep 1000" & sleep 1000 & wait`
	p := onDevnode("stubborn", corev1.RestartPolicyAlways, shell("main", script))
	e.create(p)
	got := e.wait("stubborn", "Running", podTimeout, running)
	requireOnDevnode(t, got)
	pid := pidOf(t, got, "main")
	ns, err := mountNamespace(pid)
	require.NoError(t, err)
	require.NotEqual(t, mustNS(t, os.Getpid()), ns, "the container has a mount namespace of its own")
	var pids []int
	require.Eventually(t, func() bool { // the shell forks its children right after it starts
		pids = pidsIn(ns)
		return len(pids) >= 4
	}, podTimeout, 20*time.Millisecond, "expected sh, setsid sh and two sleeps in the container")

	require.NoError(t, e.c.Client.CoreV1().Pods(e.ns).Delete(t.Context(), "stubborn", metav1.DeleteOptions{}))
	deleted := time.Now()
	e.waitGone("stubborn")
	took := time.Since(deleted)
	t.Logf("delete → gone in %v (grace 2 s, SIGTERM ignored)", took.Round(time.Millisecond))
	require.GreaterOrEqual(t, took, 2*time.Second, "SIGKILL came before the grace period ended")
	for _, p := range pids {
		_, err := os.Stat("/proc/" + strconv.Itoa(p))
		require.True(t, os.IsNotExist(err), "process %d of the deleted pod is still there (%v)", p, procState(p))
	}
	require.Empty(t, pidsIn(ns), "processes left in the container's mount namespace")
}

func mustNS(t *testing.T, pid int) string {
	ns, err := mountNamespace(pid)
	require.NoError(t, err)
	return ns
}

func pidsIn(ns string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if got, err := mountNamespace(pid); err == nil && got == ns {
			out = append(out, pid)
		}
	}
	return out
}

func procState(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return string(b)
}

func TestTwoPodsSamePort(t *testing.T) {
	e := setup(t)
	server := func(name string) *corev1.Pod {
		c := shell("web", `mkdir -p /tmp/www && echo "$POD_NAME" > /tmp/www/name && cd /tmp/www && exec python3 -m http.server 8888 --bind "$POD_IP"`)
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8888}}
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/name", Port: intstr.FromString("http")}},
			PeriodSeconds: 1,
		}
		return nonRoot(onDevnode(name, corev1.RestartPolicyAlways, c))
	}
	_, created := e.create(server("web-a"))
	e.create(server("web-b"))
	a := e.wait("web-a", "Ready", podTimeout, ready)
	t.Logf("create → Running+Ready (python http.server, probe period 1 s) in %v", time.Since(created).Round(time.Millisecond))
	b := e.wait("web-b", "Ready", podTimeout, ready)
	requireOnDevnode(t, a)
	requireOnDevnode(t, b)
	require.NotEqual(t, a.Status.PodIP, b.Status.PodIP)
	httpc := &http.Client{Timeout: httpTimeout}
	for _, p := range []*corev1.Pod{a, b} {
		res, err := httpc.Get("http://" + net.JoinHostPort(p.Status.PodIP, "8888") + "/name")
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, p.Name, strings.TrimSpace(string(body)), "answer at %s", p.Status.PodIP)
	}
}

func TestReadinessProbeGatesReady(t *testing.T) {
	e := setup(t)
	c := shell("main", `sleep 2; touch /tmp/ready; exec sleep 1000`)
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}},
		PeriodSeconds: 1,
	}
	_, created := e.create(nonRoot(onDevnode("probed", corev1.RestartPolicyAlways, c)))
	got := e.wait("probed", "Running", podTimeout, running)
	runningAt := time.Since(created)
	require.False(t, ready(got), "Ready before the probe passed")
	require.False(t, got.Status.ContainerStatuses[0].Ready)
	got = e.wait("probed", "Ready", podTimeout, ready)
	t.Logf("create → Running in %v, → Ready (probe passes after 2 s) in %v",
		runningAt.Round(time.Millisecond), time.Since(created).Round(time.Millisecond))
	require.True(t, got.Status.ContainerStatuses[0].Ready)
}

func TestSecretEnvAndVolume(t *testing.T) {
	e := setup(t)
	c := shell("main", `
		[ "$TOKEN" = s3cret ] || { echo "env TOKEN=$TOKEN"; exit 1; }
		[ "$(cat /etc/session/token)" = s3cret ] || { echo "file: $(ls -la /etc/session)"; exit 1; }
		[ ! -e /etc/session/OTHER ] || { echo "items: only the token should be a file"; exit 1; }
		touch /etc/session/x 2>/dev/null && { echo "secret volume is writable"; exit 1; }
		exit 0`)
	c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "hub-env"}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "session", MountPath: "/etc/session", ReadOnly: true}}
	p := nonRoot(onDevnode("secret", corev1.RestartPolicyNever, c))
	p.Spec.Volumes = []corev1.Volume{{Name: "session", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "hub-env", Items: []corev1.KeyToPath{{Key: "TOKEN", Path: "token"}},
		DefaultMode: new(int32(0o440)), Optional: new(true),
	}}}}
	// The spawner's order: pod first, Secret right after. Until it exists
	// the container waits, as with a kubelet.
	e.create(p)
	e.wait("secret", "waiting for its Secret", podTimeout, func(p *corev1.Pod) bool {
		for _, s := range p.Status.ContainerStatuses {
			if w := s.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
				return strings.Contains(w.Message, `secret "hub-env" not found`)
			}
		}
		return false
	})
	_, err := e.c.Client.CoreV1().Secrets(e.ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hub-env"},
		StringData: map[string]string{"TOKEN": "s3cret", "OTHER": "x"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.requireSucceeded("secret")
}

// TestSecretVolumeRefreshes changes a Secret under a running pod: its
// mounted file follows, as the kubelet's sync makes it (the spawner renews
// a session's token this way), and the environment, which a kubelet never
// refreshes, does not.
func TestSecretVolumeRefreshes(t *testing.T) {
	e := setup(t)
	_, err := e.c.Client.CoreV1().Secrets(e.ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "session"},
		StringData: map[string]string{"TOKEN": "first"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The container waits (at most a minute) for the new token in its file.
	c := shell("main", `
		[ "$(cat /etc/session/token)" = first ] || { echo "at start: $(cat /etc/session/token)"; exit 1; }
		i=0
		while [ "$(cat /etc/session/token)" != second ]; do
			i=$((i+1)); [ $i -lt 600 ] || { echo "still: $(cat /etc/session/token)"; exit 1; }
			sleep 0.1
		done
		[ "$TOKEN" = first ] || { echo "env TOKEN=$TOKEN"; exit 1; }`)
	c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "session"}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "session", MountPath: "/etc/session", ReadOnly: true}}
	p := nonRoot(onDevnode("refresh", corev1.RestartPolicyNever, c))
	p.Spec.Volumes = []corev1.Volume{{Name: "session", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: "session", Items: []corev1.KeyToPath{{Key: "TOKEN", Path: "token"}},
	}}}}
	e.create(p)
	e.wait("refresh", "running", podTimeout, running)
	_, err = e.c.Client.CoreV1().Secrets(e.ns).Update(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "session"},
		StringData: map[string]string{"TOKEN": "second"},
	}, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.requireSucceeded("refresh")
}

func TestPVCPersistsAcrossPods(t *testing.T) {
	e := setup(t)
	_, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Create(t.Context(), &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "home"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	withHome := func(name, script string) *corev1.Pod {
		c := shell("main", script)
		c.VolumeMounts = []corev1.VolumeMount{{Name: "home", MountPath: "/home/jovyan"}}
		c.WorkingDir = "/home/jovyan"
		p := nonRoot(onDevnode(name, corev1.RestartPolicyNever, c))
		p.Spec.Volumes = []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "home"}}}}
		return p
	}
	e.create(withHome("writer", `echo "$POD_NAME was here" > note && [ "$(pwd)" = /home/jovyan ]`))
	got := e.wait("writer", "ended", podTimeout, ended)
	require.Equal(t, corev1.PodSucceeded, got.Status.Phase, "%+v", terminated(got, "main"))
	require.NoError(t, e.c.Client.CoreV1().Pods(e.ns).Delete(t.Context(), "writer", metav1.DeleteOptions{}))
	e.waitGone("writer")

	e.create(withHome("reader", `[ "$(cat note)" = "writer was here" ] || { echo "note: $(cat note)"; exit 1; }`))
	e.requireSucceeded("reader")
	// The home directory is on the host, where the dev provisioner put it.
	pvc, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(t.Context(), "home", metav1.GetOptions{})
	require.NoError(t, err)
	pv, err := e.c.Client.CoreV1().PersistentVolumes().Get(t.Context(), pvc.Spec.VolumeName, metav1.GetOptions{})
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(pv.Spec.HostPath.Path, "note"))
	require.NoError(t, err)
	require.Equal(t, "writer was here\n", string(data))
}

func TestTmpPrivateToPodSharedByItsContainers(t *testing.T) {
	e := setup(t)
	mark := "devnode-test-" + utilrand.String(8)
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", path}}},
			PeriodSeconds: 1,
		}
	}
	// As an app pod: the app and its Xpra sidecar share an emptyDir at
	// /tmp/.X11-unix, and the rest of /tmp.
	x11 := corev1.VolumeMount{Name: "x11", MountPath: "/tmp/.X11-unix"}
	writer := shell("writer", `touch /tmp/`+mark+` /tmp/.X11-unix/X0 && exec sleep 1000`)
	writer.VolumeMounts = []corev1.VolumeMount{x11}
	reader := shell("reader", `exec sleep 1000`)
	reader.VolumeMounts = []corev1.VolumeMount{x11}
	reader.ReadinessProbe = probe("/tmp/" + mark)
	sidecar := shell("sidecar", `exec sleep 1000`)
	sidecar.VolumeMounts = []corev1.VolumeMount{x11}
	sidecar.ReadinessProbe = probe("/tmp/.X11-unix/X0")
	shared := nonRoot(onDevnode("shared", corev1.RestartPolicyAlways, writer, reader, sidecar))
	shared.Spec.Volumes = []corev1.Volume{{Name: "x11", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	e.create(shared)
	got := e.wait("shared", "Ready", podTimeout, ready)
	requireOnDevnode(t, got)

	e.create(nonRoot(onDevnode("other", corev1.RestartPolicyNever,
		shell("main", `[ ! -e /tmp/`+mark+` ] && [ ! -e /tmp/.X11-unix/X0 ]`))))
	other := e.wait("other", "ended", podTimeout, ended)
	require.Equal(t, corev1.PodSucceeded, other.Status.Phase, "another pod sees the first pod's /tmp")
	_, err := os.Stat("/tmp/" + mark)
	require.True(t, os.IsNotExist(err), "the pod's /tmp leaked to the host's")
}

func TestUnknownImageIsErrImagePull(t *testing.T) {
	e := setup(t)
	c := shell("main", "exit 0")
	c.Image = "registry.example/never-heard-of:1.0"
	e.create(onDevnode("unknown", corev1.RestartPolicyAlways, c))
	got := e.wait("unknown", "ErrImagePull", podTimeout, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImagePull"
	})
	requireOnDevnode(t, got) // kwok would have made it Running with a 127.42 IP
	require.Equal(t, corev1.PodPending, got.Status.Phase)
	require.Contains(t, got.Status.ContainerStatuses[0].State.Waiting.Message, "images.yaml")
}

func TestInitContainersRunFirst(t *testing.T) {
	e := setup(t)
	p := nonRoot(onDevnode("init", corev1.RestartPolicyNever,
		shell("main", `[ "$(cat /work/step)" = init-done ]`)))
	initC := shell("setup", `echo init-done > /work/step`)
	initC.VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	p.Spec.InitContainers = []corev1.Container{initC}
	p.Spec.Containers[0].VolumeMounts = initC.VolumeMounts
	p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	e.create(p)
	got := e.wait("init", "ended", podTimeout, ended)
	require.Equal(t, corev1.PodSucceeded, got.Status.Phase, "%+v", got.Status)
	require.Len(t, got.Status.InitContainerStatuses, 1)
	require.EqualValues(t, 0, got.Status.InitContainerStatuses[0].State.Terminated.ExitCode)
	require.True(t, conditionTrue(got.Status.Conditions, corev1.PodInitialized))
}
