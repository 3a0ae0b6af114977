package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"kubedesk.dev/kubedesk/spawner/internal/metrics"
)

// The Lease's timings. The aim is a standby acting within 5 s of the
// leader's SIGKILL: a standby looks every RetryPeriod (client-go adds up to
// 20 % jitter) and takes the Lease LeaseDuration after it last saw it
// renewed, so it holds it at most LeaseDuration + 1.2 RetryPeriod = 4.6 s
// after the leader's last renewal. The leader renews every RetryPeriod and
// gives up after RenewDeadline without success; that must be shorter than
// LeaseDuration by more than a RetryPeriod, so that a leader cut off from
// the API server has stopped acting (ErrLost) before anyone else may take
// over. LeaseDuration must be whole seconds: the Lease records it so, and
// standbys judge expiry by the recorded value. A renewal every 500 ms is two small writes a second: nothing to an
// API server.
const (
	DefaultLeaseDuration = 4 * time.Second
	DefaultRenewDeadline = 3 * time.Second
	DefaultRetryPeriod   = 500 * time.Millisecond
)

// ErrLost is Run's error when the leader could not renew its Lease: the
// process must stop, so that it comes back as a standby (Kubernetes
// restarts it) rather than act next to the new leader.
var ErrLost = errors.New("lost the leader Lease (not renewed within its renew deadline); stopping, so that this replica comes back as a standby and never acts beside the new leader")

// Config configures an Elector.
type Config struct {
	// Election on: compete for the Lease. Off: act from the start (a
	// single replica).
	Election  bool
	Client    kubernetes.Interface
	Namespace string
	Lease     string
	Identity  string
	// Timings; zero takes the defaults above (tests shorten them).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Metrics                                   *metrics.Spawner
	Logger                                    *slog.Logger
}

// Elector runs the service's managers while this replica leads.
type Elector struct {
	cfg     Config
	leading atomic.Bool
}

// New returns an Elector; it competes only once Run is called.
func New(cfg Config) *Elector {
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	return &Elector{cfg: cfg}
}

// Leading reports whether this replica acts: it holds the Lease (or runs
// without election) and its managers run. Until it does, the API and
// /readyz stand by.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Standby reports whether this replica stands by: with election on and
// not leading. A single replica (election off) is never a standby, so it
// answers, as ever, from its start (its managers say when it is ready).
func (e *Elector) Standby() bool { return e.cfg.Election && !e.leading.Load() }

// Run calls lead with a context that ends when this replica stops leading,
// once it leads, and returns when ctx ends (nil, after lead returned and
// the Lease was released), when lead fails (its error; the Lease is
// released for a standby), or when the Lease is lost (ErrLost).
func (e *Elector) Run(ctx context.Context, lead func(context.Context) error) error {
	if !e.cfg.Election {
		e.started()
		defer e.stopped()
		return lead(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Lease},
		Client:     e.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}
	// The elector's context is not ctx: it releases the Lease as soon as
	// its context ends (ReleaseOnCancel), and that must wait until lead
	// has returned, or a standby could act while our managers still finish.
	electCtx, stopElection := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElection()

	// What lead did; mu guards it against the elector's goroutines.
	var (
		mu       sync.Mutex
		began    bool // lead was called
		over     bool // Run is returning: lead must not begin any more
		leadDone = make(chan struct{})
		leadErr  error
		failed   bool // lead returned while the Lease was held and ctx alive
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   e.cfg.LeaseDuration,
		RenewDeadline:   e.cfg.RenewDeadline,
		RetryPeriod:     e.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            e.cfg.Lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leaseCtx context.Context) {
				mu.Lock()
				if over || ctx.Err() != nil || leaseCtx.Err() != nil {
					mu.Unlock()
					return
				}
				began = true
				mu.Unlock()
				// lead ends with the Lease (leaseCtx) or with the service
				// (ctx); the API stands by from that moment, not only once
				// the managers have finished.
				leadCtx, cancel := context.WithCancel(leaseCtx)
				stopAfter := context.AfterFunc(ctx, cancel)
				stopStanding := context.AfterFunc(leadCtx, e.stopped)
				e.started()
				err := lead(leadCtx)
				stopAfter()
				stopStanding()
				e.stopped()
				mu.Lock()
				leadErr, failed = err, leaseCtx.Err() == nil && ctx.Err() == nil
				mu.Unlock()
				cancel()
				close(leadDone)
				if failed {
					stopElection() // release the Lease for a standby
				}
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				if identity != e.cfg.Identity {
					e.cfg.Logger.Info("Standing by", "identity", e.cfg.Identity, "leader", identity, "lease", e.cfg.Lease)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	waitLead := func() {
		mu.Lock()
		b := began
		mu.Unlock()
		if b {
			<-leadDone
		}
	}
	// When the service stops, the managers stop first and only then the
	// election, which releases the Lease.
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			waitLead()
			stopElection()
		case <-electCtx.Done():
		}
	}()
	e.cfg.Logger.Info("Standing by", "identity", e.cfg.Identity, "lease", e.cfg.Lease, "namespace", e.cfg.Namespace)
	le.Run(electCtx)
	mu.Lock()
	over = true
	mu.Unlock()
	waitLead() // its context ended with le.Run's
	stopElection()
	<-watcherDone

	mu.Lock()
	defer mu.Unlock()
	switch {
	case failed:
		if leadErr == nil {
			leadErr = errors.New("the session managers stopped while leading")
		}
		return leadErr
	case ctx.Err() != nil:
		if leadErr != nil && !errors.Is(leadErr, context.Canceled) {
			return leadErr
		}
		return nil
	default:
		return ErrLost
	}
}

func (e *Elector) started() {
	e.leading.Store(true)
	e.cfg.Metrics.Leader.Set(1)
	if e.cfg.Election {
		e.cfg.Metrics.LeaderAcquisitions.Inc()
		e.cfg.Logger.Info("Became leader", "identity", e.cfg.Identity, "lease", e.cfg.Lease, "namespace", e.cfg.Namespace)
	}
}

func (e *Elector) stopped() {
	if e.leading.Swap(false) {
		e.cfg.Metrics.Leader.Set(0)
	}
}
