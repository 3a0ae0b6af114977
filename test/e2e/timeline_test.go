package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// podTimes is when this test first saw each step of one pod, through a
// watch (millisecond precision; the API's own timestamps have seconds).
type podTimes struct {
	Name      string
	UID       types.UID
	Created   time.Time // the ADDED event
	Scheduled time.Time // PodScheduled=True (bound to a node)
	Running   time.Time // the container's process started (state.running)
	Ready     time.Time // Ready=True (the readiness probe on <prefix>api passed)
	// StartedAt is the dev node's own container start time (seconds).
	StartedAt time.Time
	// Spec is the pod's spec as last seen (bound to a node once scheduled).
	Spec corev1.PodSpec
}

// podTimeline watches the pods of a namespace for the test's duration.
type podTimeline struct {
	mu   sync.Mutex
	pods map[types.UID]*podTimes
}

func watchPods(t *testing.T, client kubernetes.Interface, ns string) *podTimeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatalf("watch pods: %v", err)
	}
	tl := &podTimeline{pods: map[types.UID]*podTimes{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			tl.observe(pod, time.Now())
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return tl
}

func (tl *podTimeline) observe(pod *corev1.Pod, now time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	p := tl.pods[pod.UID]
	if p == nil {
		p = &podTimes{Name: pod.Name, UID: pod.UID, Created: now}
		tl.pods[pod.UID] = p
	}
	p.Spec = *pod.Spec.DeepCopy()
	for _, c := range pod.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case corev1.PodScheduled:
			setOnce(&p.Scheduled, now)
		case corev1.PodReady:
			setOnce(&p.Ready, now)
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			setOnce(&p.Running, now)
			if p.StartedAt.IsZero() {
				p.StartedAt = cs.State.Running.StartedAt.Time
			}
		}
	}
}

// firstAfter is the first pod created at or after t (a spawn's pod).
func (tl *podTimeline) firstAfter(t time.Time) (podTimes, bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var all []podTimes
	for _, p := range tl.pods {
		if !p.Created.Before(t) {
			all = append(all, *p)
		}
	}
	if len(all) == 0 {
		return podTimes{}, false
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	return all[0], true
}

func setOnce(t *time.Time, now time.Time) {
	if t.IsZero() {
		*t = now
	}
}

// startup is one spawn's way from the Start button to JupyterLab, split at
// the points this test can see.
type startup struct {
	Total      time.Duration // click → JupyterLab loaded (its launcher's tiles shown)
	Spawner    time.Duration // click → pod created (hub form POST, shim → service, home PVC, Secret, pod)
	Schedule   time.Duration // pod created → bound to devnode-0
	Process    time.Duration // bound → the container's process runs
	Server     time.Duration // process → Ready (X, XFCE and jupyterhub-singleuser start; <prefix>api answers)
	Hub        time.Duration // Ready → the browser is sent to /user/<name>/ (service → shim → hub's check → proxy route → redirect)
	JupyterLab time.Duration // /user/<name>/ → Lab UI loaded (OAuth with the hub, Lab's assets and start)
	// Server, split by the session's own log (zero where it was not read):
	DesktopUp time.Duration // process → X server up, DISPLAY published (XFCE goes on starting beside the server)
	ServerUp  time.Duration // → jupyterhub-singleuser listening
	Probe     time.Duration // → Ready (the readiness probe's period: 2 s)
}

func newStartup(ev browserEvent, p podTimes) startup {
	ms := func(v int64) time.Time { return time.UnixMilli(v) }
	return startup{
		Total:      ms(ev.LabLoadedAt).Sub(ms(ev.ClickedAt)),
		Spawner:    p.Created.Sub(ms(ev.ClickedAt)),
		Schedule:   p.Scheduled.Sub(p.Created),
		Process:    p.Running.Sub(p.Scheduled),
		Server:     p.Ready.Sub(p.Running),
		Hub:        ms(ev.ServerURLAt).Sub(p.Ready),
		JupyterLab: ms(ev.LabLoadedAt).Sub(ms(ev.ServerURLAt)),
	}
}

// PodStart is pod created → Ready, the "pod start".
func (s startup) PodStart() time.Duration { return s.Schedule + s.Process + s.Server }

// JupyterLabStart is Ready → Lab UI loaded, the "JupyterLab start"
// (the hub's hand-over included).
func (s startup) JupyterLabStart() time.Duration { return s.Hub + s.JupyterLab }

// sessionLogTimes reads, from the session container's log on the dev node
// (.cache/devnode/devnode-0/logs/<ns>_<pod>_<uid>/notebook.log), when the
// entrypoint had the X desktop up and when jupyterhub-singleuser said it was
// listening; zero times when the log does not say.
func sessionLogTimes(root, ns string, p podTimes) (desktopUp, serverUp time.Time) {
	path := filepath.Join(root, ".cache", "devnode", "devnode-0", "logs",
		fmt.Sprintf("%s_%s_%s", ns, p.Name, p.UID), "notebook.log")
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	day := p.Running.UTC().Format("2006-01-02")
	for _, line := range strings.Split(string(data), "\n") {
		// 04:56:52.357 kubedesk-entrypoint: X desktop on DISPLAY=:0 (...)
		if i := strings.Index(line, " kubedesk-entrypoint: X desktop on"); i > 0 && desktopUp.IsZero() {
			desktopUp, _ = time.Parse("2006-01-02 15:04:05.000", day+" "+line[:i])
		}
		// [I 2026-11-24 04:56:55.611 ServerApp] Jupyter Server 2.21.1 is running at:
		if strings.Contains(line, "ServerApp] Jupyter Server") && strings.Contains(line, "is running at") && serverUp.IsZero() {
			if f := strings.Fields(line); len(f) > 3 {
				serverUp, _ = time.Parse("2006-01-02 15:04:05.000", f[1]+" "+f[2])
			}
		}
	}
	return
}
