package apps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Config tunes the Manager.
type Config struct {
	Namespace string
	// XpraImage is the sidecar image; XpraPort the port it serves.
	XpraImage string
	XpraPort  int32
	// Display is the X display inside app pods; "" gives each app pod a
	// random one (:100 to :29999). In a real cluster any number is private
	// to the pod, but where pods share a network namespace (the dev node)
	// X clients reach abstract sockets of other pods' displays first, and
	// the sidecar refuses a display whose abstract name is taken: distinct
	// numbers keep apps apart.
	Display string
	// MaxAppsPerSession bounds the apps a session runs at once.
	MaxAppsPerSession int
	// MaxLaunchFiles bounds the file arguments of one launch, and
	// MaxLaunchArgBytes their total length: the arguments go into the app
	// pod's spec, which is no place for a megabyte of them.
	MaxLaunchFiles    int
	MaxLaunchArgBytes int
}

// Defaults of the launch caps: far above what a click in a menu or a
// launch() from a notebook passes, far below what strains a pod spec.
const (
	DefaultMaxLaunchFiles    = 64
	DefaultMaxLaunchArgBytes = 32 << 10
)

// Sessions finds the running session a launch belongs to.
type Sessions interface {
	// SessionPod returns the session's pod and profile while it runs.
	SessionPod(user, server string) (*corev1.Pod, string, bool)
	// ReadWriteOnce reports whether the session pod's home volume can be
	// mounted on one node only.
	ReadWriteOnce(pod *corev1.Pod) bool
}

// Caller is the session a request comes from: the claims of its token.
type Caller struct {
	User, Server, SessionUID string
}

// Error codes of refused launches, stable for clients.
const (
	CodeStaleToken = "stale_token"
	CodeUnknownApp = "unknown_app"
	CodeNotAllowed = "not_allowed"
	CodeBadFile    = "bad_file"
	CodeQuota      = "quota"
	CodeNotFound   = "not_found"
	// CodeTooManyFiles and CodeArgsTooLong refuse launches over the caps
	// of Config.MaxLaunchFiles and Config.MaxLaunchArgBytes.
	CodeTooManyFiles = "too_many_files"
	CodeArgsTooLong  = "args_too_long"
)

// Error is a refusal with a message for a person.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Manager owns the app pods of one namespace.
type Manager struct {
	client   kubernetes.Interface
	cfg      Config
	catalog  *catalog.Catalog
	sessions Sessions
	metrics  *metrics.Spawner
	log      *slog.Logger
	informer cache.SharedIndexInformer
	pods     corelisters.PodLister

	// admission counts each session's launches in flight for the quota.
	admission admission

	// deleteTimeout bounds each delete the Manager makes of its own accord
	// (see cleanupContext).
	deleteTimeout time.Duration

	mu      sync.Mutex
	creds   map[string]podspec.XpraCredentials // app pod name → its Xpra secrets
	started map[string]bool                    // app pods whose start time is recorded
	// life is Start's ctx (nil before Start); stopped is set once Start
	// returns or is returning, after which no goroutine is started.
	life     context.Context
	stopped  bool
	deleting map[string]bool // ended app pods whose delete is under way
	// wg counts every goroutine the Manager starts: the informer, and the
	// deletes of ended apps. Start waits for it before it returns.
	wg sync.WaitGroup
}

// deleteTimeout bounds a delete the Manager makes of its own accord. It is
// well inside the 30 s the chart's Deployment gives the service to stop, so
// a delete under way at shutdown ends before the kubelet kills the process.
const deleteTimeout = 10 * time.Second

// New builds a Manager; Start runs its informer.
func New(client kubernetes.Interface, cfg Config, cat *catalog.Catalog, sessions Sessions, m *metrics.Spawner, log *slog.Logger) *Manager {
	if cfg.XpraPort == 0 {
		cfg.XpraPort = podspec.DefaultXpraPort
	}
	if cfg.MaxAppsPerSession == 0 {
		cfg.MaxAppsPerSession = 8
	}
	if cfg.MaxLaunchFiles == 0 {
		cfg.MaxLaunchFiles = DefaultMaxLaunchFiles
	}
	if cfg.MaxLaunchArgBytes == 0 {
		cfg.MaxLaunchArgBytes = DefaultMaxLaunchArgBytes
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 5*time.Minute,
		informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = podspec.AppSelector() }))
	mgr := &Manager{
		client: client, cfg: cfg, catalog: cat, sessions: sessions, metrics: m, log: log,
		informer: factory.Core().V1().Pods().Informer(),
		pods:     factory.Core().V1().Pods().Lister(),
		creds:    map[string]podspec.XpraCredentials{},
		started:  map[string]bool{},
		deleting: map[string]bool{},

		deleteTimeout: deleteTimeout,
	}
	_, _ = mgr.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    mgr.onPod,
		UpdateFunc: func(_, obj any) { mgr.onPod(obj) },
		DeleteFunc: mgr.onDelete,
	})
	return mgr
}

// Counts returns the number of app pods per status, for the apps gauge.
func (m *Manager) Counts() map[string]int {
	counts := map[string]int{}
	for _, st := range []sessionapi.Status{sessionapi.StatusStarting, sessionapi.StatusRunning, sessionapi.StatusStopping, sessionapi.StatusEnded, sessionapi.StatusFailed} {
		counts[string(st)] = 0
	}
	pods, _ := m.pods.Pods(m.cfg.Namespace).List(labels.Everything())
	for _, p := range pods {
		st, _, _ := status(p)
		counts[string(st)]++
	}
	return counts
}

// Start runs the informer until ctx ends. Every goroutine the Manager
// starts ends with ctx, and Start returns only once all of them have: the
// informer, and the deletes of ended apps it started (each bounded by
// deleteTimeout, see cleanupContext). Start is called once.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	m.life = ctx
	m.mu.Unlock()
	defer m.stop()
	m.wg.Go(func() { m.informer.RunWithContext(ctx) })
	// WaitForCacheSync looks every 100 ms: a ctx that ends after the cache
	// synced but before it looked is a shutdown, not a failure to sync.
	if !cache.WaitForCacheSync(ctx.Done(), m.informer.HasSynced) && !m.informer.HasSynced() {
		return fmt.Errorf("sync app pods: %w", ctx.Err())
	}
	<-ctx.Done()
	return nil
}

// stop refuses new goroutines and waits for those that run. The informer
// stops with ctx, its event handlers with it; once stopped is set nothing
// calls wg.Go, so Wait cannot race an Add.
func (m *Manager) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.wg.Wait()
}

// cleanupContext bounds a delete the Manager makes of its own accord: the
// pod of a launch whose Secret or NetworkPolicy could not be made, the pod
// of an ended app. It carries the values of the Manager's lifetime (Start's
// ctx) but not its cancellation, and is bounded by deleteTimeout: a delete
// under way when the service stops is finished, not cut off. A launch's
// pod without its Secret never starts (its Secret volume never mounts) and
// so never ends, and one without its NetworkPolicy runs unseen by the user
// who was told the launch failed: no later run of the service would delete
// either, and each holds a slot of the session's quota. Nor does a request
// whose client has gone (the launch's ctx) cut a cleanup short. Deletes of
// ended apps are not started once Start's ctx has ended (startDelete):
// a restarted service's first list shows those pods again.
func (m *Manager) cleanupContext() (context.Context, context.CancelFunc) {
	m.mu.Lock()
	life := m.life
	m.mu.Unlock()
	if life == nil {
		life = context.Background() // a launch before Start
	}
	return context.WithTimeout(context.WithoutCancel(life), m.deleteTimeout)
}

// Ready reports whether the app pods are loaded.
func (m *Manager) Ready() bool { return m.informer.HasSynced() }

// Catalog is the apps the caller's session may launch.
func (m *Manager) Catalog(c Caller) ([]catalog.App, error) {
	_, profile, err := m.session(c)
	if err != nil {
		return nil, err
	}
	return m.catalog.ForProfile(profile), nil
}

// session checks that the caller's token names the session's current pod.
func (m *Manager) session(c Caller) (*corev1.Pod, string, error) {
	pod, profile, ok := m.sessions.SessionPod(c.User, c.Server)
	if !ok || string(pod.UID) != c.SessionUID {
		return nil, "", &Error{Code: CodeStaleToken, Message: "This session token belongs to a session that no longer runs."}
	}
	return pod, profile, nil
}

// Launch checks a request and creates the app pod, its password Secret and
// its NetworkPolicy. It returns as soon as the pod exists.
func (m *Manager) Launch(ctx context.Context, c Caller, req sessionapi.LaunchRequest) (sessionapi.App, error) {
	a, err := m.launch(ctx, c, req)
	outcome := "created"
	var e *Error
	switch {
	case errors.As(err, &e):
		outcome = e.Code
	case err != nil:
		outcome = "error"
	}
	m.metrics.AppLaunches.WithLabelValues(outcome).Inc()
	return a, err
}

func (m *Manager) launch(ctx context.Context, c Caller, req sessionapi.LaunchRequest) (sessionapi.App, error) {
	session, profile, err := m.session(c)
	if err != nil {
		return sessionapi.App{}, err
	}
	if err := m.checkArgs(req); err != nil {
		return sessionapi.App{}, err
	}
	app, err := m.catalog.Lookup(req.App, req.Version)
	if err != nil {
		return sessionapi.App{}, &Error{Code: CodeUnknownApp, Message: err.Error()}
	}
	if !app.AllowedFor(profile) {
		return sessionapi.App{}, &Error{Code: CodeNotAllowed, Message: fmt.Sprintf("%s is not available in the %q profile of this session.", app.Name, profile)}
	}
	home := "/home/jovyan"
	if env := homeOf(session); env != "" {
		home = env
	}
	command, err := app.CommandLine(req.Files, home)
	if err != nil {
		return sessionapi.App{}, &Error{Code: CodeBadFile, Message: err.Error()}
	}
	display := m.cfg.Display
	if display == "" {
		display = randomDisplay()
	}
	in := podspec.AppPodInput{
		Session: session, App: app, Instance: randomString(5), Command: command,
		Display: display, XpraImage: m.cfg.XpraImage, XpraPort: m.cfg.XpraPort,
	}
	if m.sessions.ReadWriteOnce(session) {
		in.PinToNode = session.Spec.NodeName
	}
	spec := podspec.AppPod(in)
	// The quota counts the running apps and the launches in flight, under
	// one lock per session, so concurrent launches cannot all pass it.
	if n, ok := m.admission.admit(session.Name, spec.Name, m.cfg.MaxAppsPerSession, m.ofSession(session.Name), time.Now()); !ok {
		apps := "apps"
		if n == 1 {
			apps = "app"
		}
		return sessionapi.App{}, &Error{Code: CodeQuota, Message: fmt.Sprintf("This session already runs or starts %d %s, the most it may; close one first.", n, apps)}
	}
	core := m.client.CoreV1()
	pod, err := core.Pods(m.cfg.Namespace).Create(ctx, spec, metav1.CreateOptions{})
	if err != nil {
		m.admission.released(session.Name, spec.Name)
		return sessionapi.App{}, fmt.Errorf("create app pod: %w", err)
	}
	m.admission.created(session.Name, pod.Name, time.Now())
	creds := podspec.XpraCredentials{Password: randomString(24), EncryptionKey: randomString(32)}
	if _, err := core.Secrets(m.cfg.Namespace).Create(ctx, podspec.AppSecret(pod, creds), metav1.CreateOptions{}); err != nil {
		m.deletePod(pod.Name)
		return sessionapi.App{}, fmt.Errorf("create app secret: %w", err)
	}
	np := podspec.AppNetworkPolicy(pod, session, m.cfg.XpraPort)
	if _, err := m.client.NetworkingV1().NetworkPolicies(m.cfg.Namespace).Create(ctx, np, metav1.CreateOptions{}); err != nil {
		// The Secret is owned by the pod: the garbage collector removes
		// it with the pod.
		m.deletePod(pod.Name)
		return sessionapi.App{}, fmt.Errorf("create app network policy: %w", err)
	}
	m.mu.Lock()
	m.creds[pod.Name] = creds
	m.mu.Unlock()
	m.log.Info("App launched", "user", c.User, "server", c.Server, "app", app.ID, "version", app.Version, "pod", pod.Name)
	return m.view(ctx, pod)
}

// checkArgs refuses launches over the caps on file arguments, before
// anything looks at the files.
func (m *Manager) checkArgs(req sessionapi.LaunchRequest) error {
	if len(req.Files) > m.cfg.MaxLaunchFiles {
		return &Error{Code: CodeTooManyFiles, Message: fmt.Sprintf("A launch may pass at most %d files; this one passes %d.", m.cfg.MaxLaunchFiles, len(req.Files))}
	}
	total := 0
	for _, f := range req.Files {
		total += len(f)
	}
	if total > m.cfg.MaxLaunchArgBytes {
		return &Error{Code: CodeArgsTooLong, Message: fmt.Sprintf("The file arguments of a launch may be %d bytes in all; these are %d.", m.cfg.MaxLaunchArgBytes, total)}
	}
	return nil
}

// List returns the caller's apps, newest first.
func (m *Manager) List(ctx context.Context, c Caller) ([]sessionapi.App, error) {
	session, _, err := m.session(c)
	if err != nil {
		return nil, err
	}
	pods := m.ofSession(session.Name)
	out := make([]sessionapi.App, 0, len(pods))
	for _, p := range pods {
		a, err := m.view(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.After(out[j].StartedAt) })
	return out, nil
}

// Get returns one of the caller's apps by id (its pod's name).
func (m *Manager) Get(ctx context.Context, c Caller, id string) (sessionapi.App, error) {
	pod, err := m.find(c, id)
	if err != nil {
		return sessionapi.App{}, err
	}
	return m.view(ctx, pod)
}

// Stop deletes one of the caller's apps. Stopping an app that is gone
// succeeds.
func (m *Manager) Stop(ctx context.Context, c Caller, id string) error {
	pod, err := m.find(c, id)
	var e *Error
	if errors.As(err, &e) && e.Code == CodeNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	grace := int64(5)
	err = m.client.CoreV1().Pods(m.cfg.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete app pod %s: %w", pod.Name, err)
	}
	return nil
}

func (m *Manager) find(c Caller, id string) (*corev1.Pod, error) {
	session, _, err := m.session(c)
	if err != nil {
		return nil, err
	}
	pod, err := m.pods.Pods(m.cfg.Namespace).Get(id)
	// Another session's app is reported as missing: its existence is not
	// the caller's business.
	if err != nil || pod.Labels[podspec.LabelSession] != session.Name {
		return nil, &Error{Code: CodeNotFound, Message: "No such app in this session."}
	}
	return pod, nil
}

func (m *Manager) ofSession(session string) []*corev1.Pod {
	pods, _ := m.pods.Pods(m.cfg.Namespace).List(labels.SelectorFromSet(labels.Set{podspec.LabelSession: session}))
	return pods
}

// view is an app as the API shows it. A running app's route carries its
// credentials or is left out: a route with an empty password is one the
// agent would take for new and attach to in vain. Credentials that cannot
// be read for now are an error, so the agent keeps the route it has and
// asks again; an app whose Secret is gone has no route, as no one can
// attach to it any more.
func (m *Manager) view(ctx context.Context, pod *corev1.Pod) (sessionapi.App, error) {
	st, msg, code := status(pod)
	a := sessionapi.App{
		ID: pod.Name, App: pod.Labels[podspec.LabelApp], Version: pod.Labels[podspec.LabelAppVersion],
		Status: st, Message: msg, Pod: pod.Name, ExitCode: code, StartedAt: pod.CreationTimestamp.Time,
	}
	if st != sessionapi.StatusRunning {
		return a, nil
	}
	creds, err := m.credentials(ctx, pod.Name)
	switch {
	case apierrors.IsNotFound(err):
		m.log.Warn("App runs without its credentials Secret", "pod", pod.Name)
		a.Message = "The app's credentials are gone, so it cannot be shown; close it and launch it again."
	case err != nil:
		return sessionapi.App{}, err
	default:
		a.Xpra = &sessionapi.Xpra{Host: pod.Status.PodIP, Port: m.cfg.XpraPort, Password: creds.Password, EncryptionKey: creds.EncryptionKey}
	}
	return a, nil
}

// credentials are the app's Xpra secrets: from memory, or after a restart
// of the service from the app's Secret.
func (m *Manager) credentials(ctx context.Context, pod string) (podspec.XpraCredentials, error) {
	m.mu.Lock()
	c, ok := m.creds[pod]
	m.mu.Unlock()
	if ok {
		return c, nil
	}
	secret, err := m.client.CoreV1().Secrets(m.cfg.Namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return podspec.XpraCredentials{}, fmt.Errorf("read the credentials of app %s: %w", pod, err)
	}
	c = podspec.XpraCredentials{
		Password:      string(secret.Data[podspec.XpraPasswordKey]),
		EncryptionKey: string(secret.Data[podspec.XpraEncryptionKey]),
	}
	m.mu.Lock()
	m.creds[pod] = c
	m.mu.Unlock()
	return c, nil
}

// status reads an app pod: running once the app container runs and the
// sidecar is ready, ended with the app's exit code when it stops.
func status(pod *corev1.Pod) (sessionapi.Status, string, *int) {
	if pod.DeletionTimestamp != nil {
		return sessionapi.StatusStopping, "The app is closing.", nil
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != podspec.AppContainerName {
			continue
		}
		if t := cs.State.Terminated; t != nil {
			code := int(t.ExitCode)
			return sessionapi.StatusEnded, fmt.Sprintf("The app exited with code %d.", code), &code
		}
		if msg, ok := cannotStart(cs); ok {
			return sessionapi.StatusFailed, "The app could not start: " + msg, nil
		}
	}
	// The sidecar is an init container: while it cannot start, the app
	// waits in PodInitializing and the pod would read as starting for ever.
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.Name != podspec.XpraContainerName {
			continue
		}
		if msg, ok := cannotStart(cs); ok {
			return sessionapi.StatusFailed, "The app's display (its Xpra sidecar) could not start: " + msg, nil
		}
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return sessionapi.StatusEnded, "The app has ended.", nil
	case corev1.PodRunning:
		if sidecarReady(pod) && pod.Status.PodIP != "" {
			return sessionapi.StatusRunning, "", nil
		}
	}
	return sessionapi.StatusStarting, "Starting the app.", nil
}

// cannotStart reports a container the kubelet cannot start, and why: its
// image cannot be pulled, or its container made or run.
func cannotStart(cs corev1.ContainerStatus) (string, bool) {
	w := cs.State.Waiting
	if w == nil {
		return "", false
	}
	switch w.Reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError", "CreateContainerConfigError", "RunContainerError":
		return w.Message, true
	}
	return "", false
}

func sidecarReady(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.Name == podspec.XpraContainerName {
			return cs.Ready
		}
	}
	return false
}

// onPod deletes app pods whose app has ended: their sidecar is gone with
// them, and the agent drops the attachment when the app disappears.
func (m *Manager) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	m.admission.observed(pod.Labels[podspec.LabelSession], pod.Name)
	if pod.DeletionTimestamp != nil {
		return
	}
	st, _, _ := status(pod)
	if st == sessionapi.StatusRunning {
		m.mu.Lock()
		first := !m.started[pod.Name]
		m.started[pod.Name] = true
		m.mu.Unlock()
		if first && time.Since(pod.CreationTimestamp.Time) < time.Hour {
			// An hour bounds what a restarted service re-observes from
			// its first list: old apps are not starts.
			m.metrics.AppStart.Observe(time.Since(pod.CreationTimestamp.Time).Seconds())
		}
	}
	if st == sessionapi.StatusEnded {
		m.startDelete(pod)
	}
}

func (m *Manager) onDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		m.admission.observed(pod.Labels[podspec.LabelSession], pod.Name)
		m.mu.Lock()
		delete(m.started, pod.Name)
		delete(m.creds, pod.Name)
		m.mu.Unlock()
	}
}

// startDelete deletes an ended app's pod in a goroutine Start waits for;
// one at a time per pod, however many updates the informer delivers, and
// none once Start's ctx has ended. A delete that fails is tried again on
// the informer's next resync of the pod, or by the next run of the service.
func (m *Manager) startDelete(pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || m.life == nil || m.life.Err() != nil || m.deleting[pod.Name] {
		return
	}
	m.deleting[pod.Name] = true
	m.log.Info("App ended", "pod", pod.Name, "app", pod.Labels[podspec.LabelApp])
	m.wg.Go(func() {
		m.deletePod(pod.Name)
		m.mu.Lock()
		delete(m.deleting, pod.Name)
		m.mu.Unlock()
	})
}

// deletePod deletes an app pod at once, bounded by cleanupContext; a
// failure is logged.
func (m *Manager) deletePod(name string) {
	ctx, cancel := m.cleanupContext()
	defer cancel()
	grace := int64(0)
	err := m.client.CoreV1().Pods(m.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		m.log.Error("Delete app pod", "pod", name, "err", err)
	}
	m.mu.Lock()
	delete(m.creds, name)
	m.mu.Unlock()
}

func homeOf(session *corev1.Pod) string {
	for _, c := range session.Spec.Containers {
		if c.Name != podspec.NotebookContainerName {
			continue
		}
		for _, vm := range c.VolumeMounts {
			if vm.Name == podspec.HomeVolumeName {
				return vm.MountPath
			}
		}
	}
	return ""
}

// randomDisplay is an X display between :100 and :29999.
func randomDisplay() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(29900))
	return ":" + strconv.FormatInt(100+n.Int64(), 10)
}

// randomString is n characters of lower-case base32: safe in names and
// labels; 24 of them make a 120-bit password. 256 is a multiple of 32, so
// masking a random byte picks each character with equal chance.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b)
}
