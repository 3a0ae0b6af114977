package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// Config tunes the Manager. Zero durations take the defaults of Defaults().
type Config struct {
	Namespace string
	// SpawnTimeout bounds a spawn. Keep it below JupyterHub's start_timeout
	// so the hub hears the real reason instead of its own timeout.
	SpawnTimeout time.Duration
	// StopTimeout bounds the wait for a deleted pod to disappear.
	StopTimeout time.Duration
	// DeleteGracePeriod is given to a session pod's processes on stop
	// (KubeSpawner's delete_grace_period).
	DeleteGracePeriod time.Duration
	// UnschedulableGrace is how long a pod may stay unschedulable before the
	// spawn fails, unless a cluster autoscaler announced a scale-up.
	UnschedulableGrace time.Duration
	// SlowSpawnNotice is when a "still starting" message is added.
	SlowSpawnNotice time.Duration
	// ServiceURL is given to session pods so their launcher agent can
	// reach the service; ServiceCA (PEM), to check its certificate.
	ServiceURL string
	ServiceCA  string
	// Tokens mints the session token stored in each session's Secret;
	// nil mints none.
	Tokens TokenMinter
	// ResyncPeriod re-delivers every cached pod to the handlers, a safety
	// net against a missed transition (no API request is made).
	ResyncPeriod time.Duration
}

// Defaults returns the configuration used for zero fields.
func Defaults() Config {
	return Config{
		Namespace:          "default",
		SpawnTimeout:       4 * time.Minute,
		StopTimeout:        time.Minute,
		DeleteGracePeriod:  time.Second,
		UnschedulableGrace: 30 * time.Second,
		SlowSpawnNotice:    60 * time.Second,
		ResyncPeriod:       5 * time.Minute,
	}
}

// TokenMinter signs a session token for the launcher agent of one session.
type TokenMinter interface {
	Mint(user, server, sessionUID string) (string, error)
}

// Spec is a validated spawn request.
type Spec struct {
	Profile  string
	Settings podspec.Settings
	// Env is the hub's environment for the server; it goes into a Secret.
	Env map[string]string
	// Deadline, when set and shorter than Config.SpawnTimeout, bounds this
	// spawn instead: the hub's own timeout minus a margin.
	Deadline time.Duration
	// Request is a digest of the spawn request as the hub sent it. The
	// hub's environment holds a token minted for each start, so the same
	// digest is the same start asked again (a retry after a lost answer),
	// which is answered as the first time.
	Request string
}

// Manager owns all sessions of one namespace.
type Manager struct {
	client  kubernetes.Interface
	cfg     Config
	metrics *metrics.Spawner
	log     *slog.Logger

	pods      corelisters.PodLister
	pvcs      corelisters.PersistentVolumeClaimLister
	informers []cache.SharedIndexInformer

	mu sync.Mutex
	// base is Start's context: operations derive from it, so a shutting
	// down service abandons them as they are, for the next run to resume.
	base       context.Context
	sessions   map[Key]*session
	byPod      map[string]*session
	reconciled bool
	// wg tracks operation goroutines so Start can wait for them on shutdown.
	wg sync.WaitGroup
}

// New builds a Manager. Nothing talks to the API server until Start.
func New(client kubernetes.Interface, cfg Config, m *metrics.Spawner, log *slog.Logger) *Manager {
	def := Defaults()
	if cfg.Namespace == "" {
		cfg.Namespace = def.Namespace
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.SpawnTimeout, def.SpawnTimeout}, {&cfg.StopTimeout, def.StopTimeout},
		{&cfg.DeleteGracePeriod, def.DeleteGracePeriod}, {&cfg.UnschedulableGrace, def.UnschedulableGrace},
		{&cfg.SlowSpawnNotice, def.SlowSpawnNotice}, {&cfg.ResyncPeriod, def.ResyncPeriod},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	mgr := &Manager{
		client:   client,
		cfg:      cfg,
		metrics:  m,
		log:      log,
		sessions: map[Key]*session{},
		byPod:    map[string]*session{},
	}

	// One informer per kind, each filtered on the server side: session pods
	// and home PVCs by label, Events by involved kind. Nothing else of the
	// namespace is cached.
	byLabel := func(selector string) informers.SharedInformerFactory {
		return informers.NewSharedInformerFactoryWithOptions(client, cfg.ResyncPeriod,
			informers.WithNamespace(cfg.Namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	}
	podFactory := byLabel(podspec.SessionSelector())
	pvcFactory := byLabel(labels.SelectorFromSet(labels.Set{
		podspec.LabelManagedBy: podspec.ManagedBy,
		podspec.LabelComponent: podspec.ComponentStorage,
	}).String())
	podInformer := podFactory.Core().V1().Pods().Informer()
	pvcInformer := pvcFactory.Core().V1().PersistentVolumeClaims().Informer()
	mgr.pods = podFactory.Core().V1().Pods().Lister()
	mgr.pvcs = pvcFactory.Core().V1().PersistentVolumeClaims().Lister()

	events := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("involvedObject.kind", "Pod").String()
		}))
	eventInformer := events.Core().V1().Events().Informer()
	// Events pile up (KubeSpawner's hub ran out of memory at 35,000 of
	// them); keep only what a progress message needs.
	_ = eventInformer.SetTransform(trimEvent)
	_ = podInformer.SetTransform(cache.TransformFunc(func(obj any) (any, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			pod.ManagedFields = nil
		}
		return obj, nil
	}))

	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { mgr.onPod(obj, false) },
		UpdateFunc: func(_, obj any) { mgr.onPod(obj, false) },
		DeleteFunc: func(obj any) { mgr.onPod(obj, true) },
	})
	_, _ = eventInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { mgr.onEvent(obj) },
		UpdateFunc: func(_, obj any) { mgr.onEvent(obj) },
	})
	mgr.informers = []cache.SharedIndexInformer{podInformer, pvcInformer, eventInformer}
	return mgr
}

// Start runs the informers, rebuilds the sessions from the cluster and then
// serves until ctx ends. Ready reports true from the end of the rebuild.
func (m *Manager) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, inf := range m.informers {
		wg.Add(1)
		go func() { defer wg.Done(); inf.Run(ctx.Done()) }()
	}
	defer wg.Wait()

	syncs := make([]cache.InformerSynced, len(m.informers))
	for i, inf := range m.informers {
		syncs[i] = inf.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return fmt.Errorf("sync informers: %w", context.Cause(ctx))
	}
	m.mu.Lock()
	m.base = ctx
	m.mu.Unlock()
	if err := m.reconcile(ctx); err != nil {
		return err
	}

	<-ctx.Done()
	m.wg.Wait()
	return nil
}

// Ready reports whether the Manager has rebuilt its view of the cluster and
// may answer requests.
func (m *Manager) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reconciled
}

// Get returns the session of a server.
func (m *Manager) Get(key Key) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok {
		return Session{}, false
	}
	return s.snapshot(), true
}

// List returns every session, ordered by user and server.
func (m *Manager) List() []Session {
	m.mu.Lock()
	out := make([]Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s.snapshot())
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Server < out[j].Server
	})
	return out
}

// Counts returns the number of sessions per status, for the sessions gauge.
func (m *Manager) Counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := map[string]int{}
	for _, st := range []Status{StatusPending, StatusRunning, StatusStopping, StatusFailed} {
		counts[string(st)] = 0
	}
	for _, s := range m.sessions {
		counts[string(s.status)]++
	}
	return counts
}

// Progress returns the progress log of the server's current or last
// operation. A session with no operation on record (one rebuilt as running
// after a restart) gets a log that states where it stands.
func (m *Manager) Progress(key Key) (*progress.Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok {
		return nil, false
	}
	if s.log == nil {
		s.log = progress.New()
		switch s.status {
		case StatusRunning:
			s.log.Append(progress.Event{Kind: progress.KindReady, Progress: 100, Message: "Your desktop is ready.", URL: s.url})
		case StatusFailed, StatusStopped:
			s.log.Append(progress.Event{Kind: progress.KindFailed, Message: s.message, Reason: s.reason})
		default:
			s.log.Append(progress.Event{Kind: progress.KindProgress, Message: s.message})
		}
	}
	return s.log, true
}

// Spawn starts a session and returns once its intent is recorded in the
// cluster, so that a restarted service resumes it; the spawn goes on in the
// background and reports through Progress. A repeated request (the same
// Spec.Request) gets the answer of the first.
func (m *Manager) Spawn(ctx context.Context, key Key, spec Spec) (Session, error) {
	s, op, err := m.reserve(key, spec)
	if err != nil {
		return Session{}, err
	}
	if op != nil && op.saved != nil {
		select {
		case <-op.saved:
		case <-ctx.Done():
			return Session{}, &Error{Code: CodeUnavailable, Message: "The spawn is still being recorded in the cluster; ask again in a moment."}
		}
		if op.saveErr != nil {
			return Session{}, op.saveErr
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return s.snapshot(), nil
}

// reserve claims the server for a new spawn and starts it, or finds the
// spawn of the same request. op is the operation to wait on before
// answering (nil: nothing to wait for).
func (m *Manager) reserve(key Key, spec Spec) (*session, *operation, error) {
	names := podspec.NewNames(key.User, key.Server)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reconciled {
		return nil, nil, ErrNotReady
	}
	if s, ok := m.sessions[key]; ok {
		switch {
		case spec.Request != "" && s.request == spec.Request:
			return s, s.op, nil
		case s.op != nil:
			return nil, nil, &Error{Code: CodeBusy, Message: fmt.Sprintf("The server is %s; try again when that is done.", opVerb(s.op.kind))}
		case s.status == StatusPending || s.status == StatusRunning:
			return nil, nil, &Error{Code: CodeExists, Message: "The server is already running; stop it first."}
		}
		// A failed or stopped session is only a record: a new spawn replaces it.
		m.forget(s)
	}
	if err := m.namesFree(key, names, spec); err != nil {
		return nil, nil, err
	}

	if spec.Request == "" {
		// A caller that sends no digest gets one no retry matches; the
		// intent needs a name of its own all the same.
		spec.Request = rand.Text()
	}
	s := &session{key: key, names: names, profile: spec.Profile, request: spec.Request, status: StatusPending, started: time.Now()}
	s.message = "Starting your desktop."
	timeout := m.cfg.SpawnTimeout
	if spec.Deadline > 0 && spec.Deadline < timeout {
		timeout = spec.Deadline
	}
	op := m.newOp(s, opSpawn, timeout)
	op.timeout = timeout
	op.saved = make(chan struct{})
	m.sessions[key] = s
	m.byPod[names.Pod] = s
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runSpawn(op, spec)
	}()
	return s, op, nil
}

// namesFree refuses a spawn whose names the informer caches show taken.
// Names are not proof of ownership (podspec.OwnerOf): every object found
// under this server's names must be its own before it is used. Callers
// hold m.mu.
func (m *Manager) namesFree(key Key, names podspec.Names, spec Spec) error {
	if other := m.byPod[names.Pod]; other != nil && other.key != key {
		if other.op != nil || other.status == StatusPending || other.status == StatusRunning || other.status == StatusStopping {
			return m.conflict(names, "session", names.Pod, nil, &other.key)
		}
		// Another server's failed record keeps answering its polls, but
		// no longer holds the name.
		delete(m.byPod, names.Pod)
	}
	if pod, err := m.pods.Pods(m.cfg.Namespace).Get(names.Pod); err == nil {
		if podspec.OwnerOf(pod, names) != podspec.Owned {
			return m.conflict(names, "pod", pod.Name, pod.Annotations, nil)
		}
		// A pod of the same name that the Manager does not track is still
		// being deleted (the records go when the pod is gone).
		return &Error{Code: CodeBusy, Message: fmt.Sprintf("The previous session's pod %s is still shutting down; try again in a few seconds.", pod.Name)}
	}
	if spec.Settings.StorageEnsured() {
		// Claims the informer does not cache (KubeSpawner's have other
		// labels) are checked when the create finds them (createObjects).
		if pvc, err := m.pvcs.PersistentVolumeClaims(m.cfg.Namespace).Get(names.PVC); err == nil && !podspec.MayUseHome(pvc, names) {
			return m.conflict(names, "pvc", pvc.Name, pvc.Annotations, nil)
		}
	}
	return nil
}

// Stop stops a server and returns when its pod is gone or ctx ends. It is
// idempotent: stopping an unknown server succeeds. A spawn in progress is
// cancelled first; a stop in progress is joined.
func (m *Manager) Stop(ctx context.Context, key Key) error {
	m.mu.Lock()
	if !m.reconciled {
		m.mu.Unlock()
		return ErrNotReady
	}
	s, ok := m.sessions[key]
	if !ok {
		m.mu.Unlock()
		return nil
	}
	op := s.op
	if op == nil || op.kind != opStop {
		spawn := op
		op = m.newOp(s, opStop, m.cfg.StopTimeout)
		s.status = StatusStopping
		s.message = "Stopping your desktop."
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.runStop(op, spawn)
		}()
	}
	m.mu.Unlock()

	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		return fmt.Errorf("wait for the server to stop: %w", ctx.Err())
	}
}

// forget drops a session's record. Callers hold m.mu.
func (m *Manager) forget(s *session) {
	if m.sessions[s.key] == s {
		delete(m.sessions, s.key)
	}
	if m.byPod[s.names.Pod] == s {
		delete(m.byPod, s.names.Pod)
	}
}

// newOp attaches a new operation to s. Callers hold m.mu.
func (m *Manager) newOp(s *session, kind opKind, timeout time.Duration) *operation {
	deadline, stopTimer := context.WithTimeoutCause(m.base, timeout, errDeadline)
	ctx, cancel := context.WithCancelCause(deadline)
	op := &operation{
		kind:      kind,
		session:   s,
		ctx:       ctx,
		cancel:    func(cause error) { cancel(cause); stopTimer() },
		started:   time.Now(),
		done:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
		log:       progress.New(),
		seenEvent: map[types.UID]int32{},
	}
	s.op = op
	s.log = op.log
	return op
}

// finish ends op: it detaches it from its session (unless a newer
// operation took over), applies update under the lock and releases waiters.
func (m *Manager) finish(op *operation, err error, update func(s *session)) {
	m.mu.Lock()
	s := op.session
	if s.op == op {
		s.op = nil
		update(s)
	}
	op.err = err
	m.mu.Unlock()
	op.cancel(nil)
	close(op.done)
}

func (m *Manager) cachedPod(name string) (*corev1.Pod, bool) {
	pod, err := m.pods.Pods(m.cfg.Namespace).Get(name)
	if err != nil {
		return nil, false
	}
	return pod, true
}

// deletePod deletes a session pod. The hub env Secret goes with it through
// its ownerReference; the home PVC stays.
func (m *Manager) deletePod(ctx context.Context, name string, grace time.Duration) error {
	secs := int64(grace / time.Second)
	err := m.client.CoreV1().Pods(m.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &secs})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", m.cfg.Namespace, name, err)
	}
	return nil
}

var errDeadline = errors.New("deadline")

// shuttingDown reports whether op ended because the service is stopping; the
// operation then leaves everything as it is.
func (m *Manager) shuttingDown(op *operation) bool {
	cause := context.Cause(op.ctx)
	return op.ctx.Err() != nil && !errors.Is(cause, errDeadline) && !errors.Is(cause, errStopRequested)
}

func opVerb(k opKind) string {
	if k == opStop {
		return "stopping"
	}
	return "starting"
}

func trimEvent(obj any) (any, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return obj, nil
	}
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion},
		InvolvedObject: corev1.ObjectReference{Kind: e.InvolvedObject.Kind, Name: e.InvolvedObject.Name, UID: e.InvolvedObject.UID},
		Reason:         e.Reason,
		Message:        firstSentence(e.Message),
		Type:           e.Type,
		Count:          e.Count,
	}, nil
}

// SessionPod returns the running pod of a session and its profile, from the
// informer cache. It is how app launches find the session they belong to.
func (m *Manager) SessionPod(key Key) (*corev1.Pod, string, bool) {
	m.mu.Lock()
	s, ok := m.sessions[key]
	if !ok || s.status != StatusRunning {
		m.mu.Unlock()
		return nil, "", false
	}
	name, profile := s.names.Pod, s.profile
	m.mu.Unlock()
	pod, ok := m.cachedPod(name)
	if !ok || pod.DeletionTimestamp != nil {
		return nil, "", false
	}
	return pod, profile, true
}

// ReadWriteOnce reports whether the pod's home volume can be mounted on one
// node only (ReadWriteOnce or ReadWriteOncePod), from the PVC cache. A claim
// the cache does not know counts as ReadWriteOnce: pinning an app to the
// session's node is always safe, only less flexible.
func (m *Manager) ReadWriteOnce(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name != podspec.HomeVolumeName || v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := m.pvcs.PersistentVolumeClaims(pod.Namespace).Get(v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return true
		}
		for _, mode := range pvc.Spec.AccessModes {
			if mode == corev1.ReadWriteOnce || mode == corev1.ReadWriteOncePod {
				return true
			}
		}
		return false
	}
	return false
}
