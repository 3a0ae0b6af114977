package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	// closing is set once Start's context has ended: from then on nothing
	// starts, so that no goroutine outlives Start and wg.Add never races
	// with wg.Wait. Every wg.Add happens under mu, before it or not at all.
	closing bool
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
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
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
		gone:      map[types.UID]bool{},
	}
	s.op = op
	s.log = op.log
	return op
}

// finish ends op: it detaches it from its session (unless a newer
// operation took over), applies update under the lock, ends the
// operation's log with end and releases waiters.
//
// The log ends even when a newer operation took the session over (a stop
// that cancelled this spawn): whoever follows this operation's progress
// hears how it ended instead of waiting on a log that never closes. A nil
// end leaves the log open (an operation abandoned for the next run).
func (m *Manager) finish(op *operation, err error, end *progress.Event, update func(s *session)) {
	m.mu.Lock()
	s := op.session
	if s.op == op {
		s.op = nil
		update(s)
	}
	if end != nil {
		op.log.Append(*end)
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

var errDeadline = errors.New("deadline")

// shuttingDown reports whether op ended because the service is stopping; the
// operation then leaves everything as it is.
func (m *Manager) shuttingDown(op *operation) bool {
	cause := context.Cause(op.ctx)
	return op.ctx.Err() != nil && !errors.Is(cause, errDeadline) && !errors.Is(cause, errStopRequested)
}

// abandon ends an operation at shutdown without touching the session or the
// cluster: the next run of the service finds the pod and resumes.
func (m *Manager) abandon(op *operation, log *slog.Logger) {
	log.Info("Operation left for the next run of the service")
	m.finish(op, errShuttingDown, nil, func(*session) {})
}

func opVerb(k opKind) string {
	if k == opStop {
		return "stopping"
	}
	return "starting"
}
