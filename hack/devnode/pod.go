package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// hostIP is the node's address; pods get their own from the pod CIDR.
const hostIP = "127.0.0.1"

// Retry delays for a container that cannot start yet (a Secret not created
// yet, an unbound claim, an image not in the table): short at first, since
// the spawner creates the pod's Secret right after the pod.
const (
	retryInitial = 250 * time.Millisecond
	retryMax     = 5 * time.Second
)

// podWorker owns one pod bound to the dev node: its directory, IP, volumes,
// containers and status, from the first sight of the pod until its API
// object is removed.
type podWorker struct {
	k      *kubelet
	log    *slog.Logger
	uid    types.UID
	ns     string
	name   string
	spec   corev1.PodSpec // a pod's spec is immutable where it matters here
	ip     string
	dir    string // host directory: tmp/ and volumes/
	logDir string // containers' output, one file per container

	volMu   sync.Mutex
	volumes map[string]*hostVolume

	mu           sync.Mutex
	meta         metav1.ObjectMeta     // labels and annotations for the downward API
	podConds     []corev1.PodCondition // the API's, for readiness gates
	conds        []corev1.PodCondition // ours, with transition times
	startTime    metav1.Time
	sandboxReady bool
	init, ctrs   []*container
	teardown     bool // being deleted or shut down: nothing restarts
	shutdown     bool // the dev node stops: Failed, not deleted
	deadline     time.Time

	ctx      context.Context // API calls; cancelled when the pod is gone
	cancel   context.CancelFunc
	changed  chan struct{}
	stop     chan struct{} // closed by terminate
	stopOnce sync.Once
	done     chan struct{} // closed when run returns

	patchMu  sync.Mutex
	lastSent *corev1.PodStatus
}

func newPodWorker(k *kubelet, pod *corev1.Pod, ip string) *podWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWorker{
		k:         k,
		log:       k.log.With("pod", pod.Namespace+"/"+pod.Name),
		uid:       pod.UID,
		ns:        pod.Namespace,
		name:      pod.Name,
		spec:      *pod.Spec.DeepCopy(),
		ip:        ip,
		dir:       filepath.Join(k.stateDir, "pods", string(pod.UID)),
		logDir:    filepath.Join(k.stateDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		meta:      *pod.ObjectMeta.DeepCopy(),
		podConds:  pod.Status.Conditions,
		startTime: metav1.Now(),
		ctx:       ctx,
		cancel:    cancel,
		changed:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if pod.Status.StartTime != nil {
		w.startTime = *pod.Status.StartTime
	}
	waiting := "ContainerCreating"
	if len(pod.Spec.InitContainers) > 0 {
		waiting = "PodInitializing"
	}
	for _, c := range pod.Spec.InitContainers {
		w.init = append(w.init, newContainer(w, c, true, "PodInitializing"))
	}
	for _, c := range pod.Spec.Containers {
		w.ctrs = append(w.ctrs, newContainer(w, c, false, waiting))
	}
	return w
}

// update takes what may change on a running pod from the informer.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.meta.Labels, w.meta.Annotations = pod.Labels, pod.Annotations
	w.podConds = pod.Status.Conditions
	w.mu.Unlock()
	if len(w.spec.ReadinessGates) > 0 {
		w.notify()
	}
}

// terminate stops the pod: its containers get SIGTERM and grace to exit. A
// later call with a shorter grace shortens the deadline (a force delete).
func (w *podWorker) terminate(grace time.Duration, shutdown bool) {
	w.mu.Lock()
	deadline := time.Now().Add(grace)
	if !w.teardown || deadline.Before(w.deadline) {
		w.deadline = deadline
	}
	if !w.teardown {
		w.teardown, w.shutdown = true, shutdown
	}
	w.mu.Unlock()
	w.stopOnce.Do(func() { close(w.stop) })
	w.notify()
}

func (w *podWorker) graceLeft() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(time.Until(w.deadline), 0)
}

func (w *podWorker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// run is the pod's life: sandbox (directory, /tmp, volumes), init containers
// in order, then the containers side by side, then, once they are all done or
// the pod is deleted, the sidecars; then finish.
func (w *podWorker) run() {
	defer close(w.done)
	statusDone := make(chan struct{})
	go w.statusLoop(statusDone)
	w.notify()
	w.log.Info("Starting pod", "uid", w.uid, "ip", w.ip)

	sideStop := make(chan struct{})
	var sidecars sync.WaitGroup
	refreshStop, refreshDone := make(chan struct{}), make(chan struct{})
	if w.prepareSandbox() {
		go func() { defer close(refreshDone); w.refreshVolumes(refreshStop) }()
		ok := true
		for _, c := range w.init {
			if w.stopped() {
				ok = false
				break
			}
			if c.sidecar {
				sidecars.Add(1)
				go func() { defer sidecars.Done(); c.run(sideStop) }()
				select {
				case <-c.startedCh:
				case <-w.stop:
				}
				continue
			}
			if code, ran := c.run(w.stop); !ran || code != 0 {
				ok = false // stopped, or failed under restartPolicy Never
				break
			}
		}
		if ok && !w.stopped() {
			var wg sync.WaitGroup
			for _, c := range w.ctrs {
				wg.Add(1)
				go func() { defer wg.Done(); c.run(w.stop) }()
			}
			wg.Wait()
		}
	} else {
		close(refreshDone) // no sandbox, no refresh
	}
	// Sidecars stop after the containers they serve, within what is left
	// of the grace period (or their own when the pod simply ended).
	w.mu.Lock()
	if !w.teardown {
		w.deadline = time.Now().Add(w.terminationGrace())
	}
	w.mu.Unlock()
	close(sideStop)
	sidecars.Wait()
	// No container runs any more: the volumes need no refresh, and the
	// pod's directory may go.
	close(refreshStop)
	<-refreshDone
	w.finish(statusDone)
}

// finish reports the final status. A pod that ended by itself keeps its
// directory until it is deleted, as the kubelet keeps a terminal pod's
// volumes; then the pod object is removed (or, on shutdown, left Failed).
func (w *podWorker) finish(statusDone chan struct{}) {
	w.syncStatus()
	w.k.ips.release(w.ip)
	if !w.stopped() {
		w.log.Info("Pod ended", "phase", w.lastPhase())
	}
	<-w.stop
	w.syncStatus()
	close(statusDone)
	w.mu.Lock()
	shutdown := w.shutdown
	w.mu.Unlock()
	if err := os.RemoveAll(w.dir); err != nil {
		w.log.Warn("Remove pod directory", "dir", w.dir, "err", err)
	}
	if shutdown {
		w.log.Info("Pod stopped by the dev node's shutdown")
		w.cancel()
		return
	}
	w.k.deletePod(w.ctx, w.ns, w.name, w.uid)
	w.cancel()
	w.log.Info("Pod removed")
}

func (w *podWorker) lastPhase() corev1.PodPhase {
	w.patchMu.Lock()
	defer w.patchMu.Unlock()
	if w.lastSent == nil {
		return ""
	}
	return w.lastSent.Phase
}

// terminationGrace is the pod's terminationGracePeriodSeconds (default 30).
func (w *podWorker) terminationGrace() time.Duration {
	if g := w.spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// prepareSandbox makes the pod's directory, its /tmp and its volumes,
// retrying while a volume cannot be set up (a claim not bound yet). It
// returns false if the pod was stopped first.
func (w *podWorker) prepareSandbox() bool {
	for _, d := range []string{w.dir, w.logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			w.log.Error("Create pod directory", "err", err)
		}
	}
	// The pod's /tmp: shared by its containers (an X socket directory in
	// /tmp/.X11-unix works between them), private to the pod.
	tmp := filepath.Join(w.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o777); err == nil {
		_ = os.Chmod(tmp, 0o777|os.ModeSticky)
	}
	delay := retryInitial
	for {
		vols, err := w.setupVolumes(w.ctx)
		if err == nil {
			w.volMu.Lock()
			w.volumes = vols
			w.volMu.Unlock()
			w.mu.Lock()
			w.sandboxReady = true
			w.mu.Unlock()
			w.notify()
			return true
		}
		w.log.Warn("Volumes not ready", "err", err)
		reason := "ContainerCreating"
		var we *waitError
		if errors.As(err, &we) {
			reason = we.reason
		}
		w.mu.Lock()
		for _, c := range slices.Concat(w.init, w.ctrs) {
			c.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
		}
		w.mu.Unlock()
		w.notify()
		if !sleepStop(w.stop, delay) {
			return false
		}
		delay = min(delay*2, retryMax)
	}
}

func sleepStop(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

func (w *podWorker) containerSpec(name string) (corev1.Container, bool) {
	for _, c := range slices.Concat(w.spec.InitContainers, w.spec.Containers) {
		if c.Name == name || name == "" {
			return c, true
		}
	}
	return corev1.Container{}, false
}

func (w *podWorker) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *podWorker) statusLoop(done <-chan struct{}) {
	for {
		select {
		case <-w.changed:
			w.syncStatus()
		case <-done:
			return
		}
	}
}

// computeStatus is the pod's status from the worker's state; see status.go
// for the rules.
func (w *podWorker) computeStatus() corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	policy := w.spec.RestartPolicy
	if w.teardown {
		policy = corev1.RestartPolicyNever
	}
	var initSt, ctrSt []corev1.ContainerStatus
	for _, c := range w.init {
		initSt = append(initSt, *c.status.DeepCopy())
	}
	for _, c := range w.ctrs {
		ctrSt = append(ctrSt, *c.status.DeepCopy())
	}
	phase := podPhase(policy, w.spec.InitContainers, initSt, ctrSt)
	st := corev1.PodStatus{}
	if w.shutdown && phase != corev1.PodSucceeded && phase != corev1.PodFailed {
		phase = corev1.PodFailed
		st.Reason, st.Message = "Terminated", "Pod was terminated in response to imminent node shutdown."
	}
	conds := podConditions(phase, w.sandboxReady, w.spec.InitContainers, initSt, ctrSt, w.spec.ReadinessGates, w.podConds)
	w.conds = withTransitionTimes(conds, w.conds, metav1.Now())
	st.Phase = phase
	st.Conditions = slices.Clone(w.conds)
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	st.PodIP, st.PodIPs = w.ip, []corev1.PodIP{{IP: w.ip}}
	st.StartTime = &w.startTime
	st.InitContainerStatuses, st.ContainerStatuses = initSt, ctrSt
	return st
}

// syncStatus patches the status if it changed. The patch carries the pod's
// UID, so it never lands on a new pod of the same name (as the kubelet's).
// Conditions merge by type, so the scheduler's PodScheduled stays;
// container status lists are replaced whole.
func (w *podWorker) syncStatus() {
	w.patchMu.Lock()
	defer w.patchMu.Unlock()
	st := w.computeStatus()
	if w.lastSent != nil && apiequality.Semantic.DeepEqual(*w.lastSent, st) {
		return
	}
	data, err := statusPatch(w.uid, st)
	if err != nil {
		w.log.Error("Encode status", "err", err)
		return
	}
	delay := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err = w.k.client.CoreV1().Pods(w.ns).Patch(w.ctx, w.name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
		if err == nil {
			w.lastSent = &st
			return
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || w.ctx.Err() != nil || attempt == 5 {
			w.log.Warn("Patch pod status", "err", err)
			return
		}
		time.Sleep(delay)
		delay *= 2
	}
}

// statusPatch is a strategic merge patch of the pod's status. Conditions
// merge by type, so a condition's reason and message that became empty must
// be sent as null to be removed.
func statusPatch(uid types.UID, st corev1.PodStatus) ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var status map[string]any
	if err := json.Unmarshal(raw, &status); err != nil {
		return nil, err
	}
	for _, c := range status["conditions"].([]any) {
		cond := c.(map[string]any)
		for _, k := range []string{"reason", "message"} {
			if _, ok := cond[k]; !ok {
				cond[k] = nil
			}
		}
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid}, "status": status})
}

// container is one container of the pod and its runs.
type container struct {
	w       *podWorker
	spec    corev1.Container
	initC   bool
	sidecar bool

	// guarded by w.mu
	status      corev1.ContainerStatus
	startedOnce sync.Once
	startedCh   chan struct{} // closed the first time it counts as started
}

func newContainer(w *podWorker, spec corev1.Container, initC bool, waiting string) *container {
	return &container{
		w: w, spec: spec, initC: initC, sidecar: initC && isSidecar(spec),
		startedCh: make(chan struct{}),
		status: corev1.ContainerStatus{
			Name: spec.Name, Image: spec.Image,
			State:   corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}},
			Started: new(false),
		},
	}
}

// run runs the container until it is not to be restarted or stop closes,
// and returns its last exit code (ran is false if it never got to exit).
func (c *container) run(stop <-chan struct{}) (code int32, ran bool) {
	w := c.w
	retry := retryInitial
	var crashDelay time.Duration
	lastWait := ""
	for {
		if isClosed(stop) {
			return code, ran
		}
		proc, env, cred, err := c.start()
		var ranFor time.Duration
		if err != nil {
			var se *startError
			if !errors.As(err, &se) {
				reason := "CreateContainerError"
				var we *waitError
				if errors.As(err, &we) {
					reason = we.reason
				}
				c.setWaiting(reason, err.Error())
				if lastWait != reason+err.Error() { // once, not at every retry
					lastWait = reason + err.Error()
					w.log.Warn("Container cannot start yet", "container", c.spec.Name, "reason", reason, "err", err)
				}
				if !sleepStop(stop, retry) {
					return code, ran
				}
				retry = min(retry*2, retryMax)
				continue
			}
			code, ran = 128, true
			c.setTerminated(code, "StartError", se.msg, time.Time{})
			w.log.Warn("Container failed to start", "container", c.spec.Name, "err", se.msg)
		} else {
			probeCtx, cancelProbes := context.WithCancel(w.ctx)
			c.setRunning(proc)
			w.log.Info("Container started", "container", c.spec.Name, "pid", proc.pid, "restarts", c.restartCount())
			go c.probe(probeCtx, proc, env, cred)
			select {
			case <-proc.exited:
			case <-stop:
				proc.stop(w.graceLeft())
			}
			cancelProbes()
			code, ran = exitCode(proc.status), true
			ranFor = time.Since(proc.started)
			msg := ""
			if c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && code != 0 {
				msg = logTail(c.logPath(), proc.logOffset)
			}
			reason := "Completed"
			if code != 0 {
				reason = "Error"
			}
			c.setTerminated(code, reason, msg, proc.started)
			w.log.Info("Container exited", "container", c.spec.Name, "exitCode", code, "log", c.logPath())
		}
		retry, lastWait = retryInitial, ""
		if isClosed(stop) || !shouldRestart(w.spec.RestartPolicy, c.sidecar, c.initC, code) {
			return code, ran
		}
		// The kubelet's crash loop back-off: the first restart is at once,
		// then the delay doubles up to a cap, and resets after a long run.
		if ranFor > w.k.backoffReset {
			crashDelay = 0
		}
		if crashDelay > 0 {
			c.setWaiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				crashDelay, c.spec.Name, w.name, w.ns, w.uid))
			if !sleepStop(stop, crashDelay) {
				return code, ran
			}
			crashDelay = min(crashDelay*2, w.k.backoffMax)
		} else {
			crashDelay = w.k.backoffInitial
		}
		w.mu.Lock()
		c.status.RestartCount++
		w.mu.Unlock()
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (c *container) restartCount() int32 {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	return c.status.RestartCount
}

func (c *container) logPath() string { return filepath.Join(c.w.logDir, c.spec.Name+".log") }

// start resolves the image, environment, volumes and user, and starts the
// container's process. Errors are *waitError (try again later), *startError
// (the process could not run: exit code 128) or API errors.
func (c *container) start() (*process, *envList, *initSpec, error) {
	w := c.w
	rows, tableErr := w.k.images.get()
	row, ok := lookupImage(rows, c.spec.Image)
	if !ok {
		msg := fmt.Sprintf("image %q is not in the dev node's image table %s: add a row that maps it to a host command", c.spec.Image, w.k.images.path)
		if tableErr != nil {
			msg += " (" + tableErr.Error() + ")"
		}
		return nil, nil, nil, &waitError{reason: "ErrImagePull", msg: msg}
	}
	uid, gid := w.podUser()
	nonRoot := false
	if sc := w.spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		nonRoot = *sc.RunAsNonRoot
	}
	if sc := c.spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
	}
	if nonRoot && (uid == nil || *uid == 0) {
		return nil, nil, nil, configError("container has runAsNonRoot and image will run as root (pod: %q, container: %s)",
			w.ns+"/"+w.name, c.spec.Name)
	}
	env, err := w.containerEnv(w.ctx, c.spec, row, uid)
	if err != nil {
		return nil, nil, nil, err
	}
	expandAll := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expand(s, env.Get)
		}
		return out
	}
	argv := row.argv(expandAll(c.spec.Command), expandAll(c.spec.Args))
	if len(c.spec.Command) == 0 && len(argv) > 0 && strings.HasPrefix(argv[0], w.k.repo+string(filepath.Separator)) {
		if _, err := os.Stat(argv[0]); err != nil {
			rel, _ := filepath.Rel(w.k.repo, argv[0])
			return nil, nil, nil, &waitError{reason: "CreateContainerError", msg: fmt.Sprintf(
				"image %s runs %s, which is not in this checkout (yet); see %s", c.spec.Image, rel, w.k.images.path)}
		}
	}
	mounts, err := c.mounts()
	if err != nil {
		return nil, nil, nil, err
	}
	// The checkout holds the entrypoints and the environments they use; it
	// must stay visible even when it lives under /tmp, which the pod's own
	// /tmp covers.
	spec := initSpec{Mounts: mounts, Argv: argv, Dir: c.spec.WorkingDir, Keep: []string{w.k.repo}}
	if spec.Dir == "" {
		spec.Dir = row.WorkingDir
	}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	if uid != nil || gid != nil {
		spec.SetUser = true
		if uid != nil {
			spec.UID = uint32(*uid)
		}
		if gid != nil {
			spec.GID = uint32(*gid)
		}
		if sc := w.spec.SecurityContext; sc != nil {
			if sc.FSGroup != nil {
				spec.Groups = append(spec.Groups, uint32(*sc.FSGroup))
			}
			for _, g := range sc.SupplementalGroups {
				spec.Groups = append(spec.Groups, uint32(g))
			}
		}
	}
	logf, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, nil, err
	}
	defer logf.Close()
	offset, _ := logf.Seek(0, io.SeekEnd)
	proc, err := w.k.reaper.startContainer(spec, env.Environ(), logf)
	if err != nil {
		return nil, nil, nil, err
	}
	proc.logOffset = offset
	return proc, env, &spec, nil
}

// mounts are the container's bind mounts: the pod's /tmp first, then its
// volume mounts, parents before children. Secret-like volumes are rewritten
// first, so a container sees the Secret as it is when it starts.
func (c *container) mounts() ([]mountSpec, error) {
	w := c.w
	w.volMu.Lock()
	defer w.volMu.Unlock()
	mounts := []mountSpec{{Source: filepath.Join(w.dir, "tmp"), Target: "/tmp"}}
	for _, vm := range c.spec.VolumeMounts {
		v, ok := w.volumes[vm.Name]
		if !ok {
			return nil, configError("volume mount %q: no such volume in the pod", vm.Name)
		}
		if v.files != nil {
			files, err := v.files(w.ctx)
			if err != nil {
				return nil, err
			}
			if err := w.writeFiles(v.path, files); err != nil {
				return nil, err
			}
		}
		src := v.path
		if vm.SubPath != "" {
			clean := filepath.Clean(vm.SubPath)
			if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
				return nil, configError("subPath %q leaves volume %q", vm.SubPath, vm.Name)
			}
			src = filepath.Join(v.path, clean)
			if _, err := os.Stat(src); os.IsNotExist(err) && !v.readOnly {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
				_ = os.Chmod(src, 0o777)
			}
		}
		mounts = append(mounts, mountSpec{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly || v.readOnly})
	}
	slices.SortStableFunc(mounts, specMountOrder)
	return mounts, nil
}

// probe runs the container's startup, liveness and readiness probes for
// one run of it. Without a readiness probe it is ready once started.
func (c *container) probe(ctx context.Context, proc *process, env *envList, cred *initSpec) {
	w := c.w
	kill := func(kind, msg string, p *corev1.Probe) {
		grace := w.terminationGrace()
		if p.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
		w.log.Info("Probe failed; restarting container", "container", c.spec.Name, "probe", kind, "err", msg)
		go proc.stop(grace)
	}
	if sp := c.spec.StartupProbe; sp != nil {
		started := false
		probeLoop(ctx, sp, w.probeCheck(c, sp, proc, env, cred), func(ok bool, msg string) bool {
			if ok {
				started = true
			} else {
				kill("startup", msg, sp)
			}
			return true
		})
		if !started {
			return
		}
	}
	rp := c.spec.ReadinessProbe
	w.mu.Lock()
	if c.status.State.Running != nil {
		c.status.Started = new(true)
		c.status.Ready = rp == nil
	}
	w.mu.Unlock()
	c.startedOnce.Do(func() { close(c.startedCh) })
	w.notify()
	if lp := c.spec.LivenessProbe; lp != nil {
		go probeLoop(ctx, lp, w.probeCheck(c, lp, proc, env, cred), func(ok bool, msg string) bool {
			if !ok {
				kill("liveness", msg, lp)
			}
			return !ok
		})
	}
	if rp != nil && !(c.initC && !c.sidecar) {
		probeLoop(ctx, rp, w.probeCheck(c, rp, proc, env, cred), func(ok bool, msg string) bool {
			if ctx.Err() != nil {
				return true
			}
			w.mu.Lock()
			changed := c.status.Ready != ok && c.status.State.Running != nil
			if changed {
				c.status.Ready = ok
			}
			w.mu.Unlock()
			if changed {
				w.log.Info("Readiness changed", "container", c.spec.Name, "ready", ok, "detail", msg)
				w.notify()
			}
			return false
		})
	}
}

func (c *container) setWaiting(reason, msg string) {
	c.w.mu.Lock()
	s := &c.status
	if s.State.Terminated != nil {
		s.LastTerminationState = s.State
	}
	s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	s.Ready, s.Started = false, new(false)
	c.w.mu.Unlock()
	c.w.notify()
}

func (c *container) setRunning(p *process) {
	c.w.mu.Lock()
	s := &c.status
	if s.State.Terminated != nil {
		s.LastTerminationState = s.State
	}
	s.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(p.started)}}
	s.ContainerID = fmt.Sprintf("devnode://%d", p.pid)
	s.Ready = false
	// Without a startup probe a container counts as started when running.
	if c.spec.StartupProbe == nil {
		s.Started = new(true)
		s.Ready = c.spec.ReadinessProbe == nil && !(c.initC && !c.sidecar)
	}
	c.w.mu.Unlock()
	if c.spec.StartupProbe == nil {
		c.startedOnce.Do(func() { close(c.startedCh) })
	}
	c.w.notify()
}

func (c *container) setTerminated(code int32, reason, msg string, started time.Time) {
	c.w.mu.Lock()
	s := &c.status
	t := &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg, FinishedAt: metav1.Now()}
	if !started.IsZero() {
		t.StartedAt = metav1.NewTime(started)
	}
	if s.State.Terminated != nil {
		s.LastTerminationState = s.State
	}
	s.State = corev1.ContainerState{Terminated: t}
	s.Ready, s.Started = false, new(false)
	c.w.mu.Unlock()
	c.w.notify()
}

// logTail is the end of a run's output, for FallbackToLogsOnError (the
// kubelet's limit: 2048 bytes, 80 lines).
func logTail(path string, offset int64) string {
	data, err := os.ReadFile(path)
	if err != nil || int64(len(data)) < offset {
		return ""
	}
	data = data[offset:]
	if len(data) > 2048 {
		data = data[len(data)-2048:]
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	return strings.Join(lines, "\n")
}
