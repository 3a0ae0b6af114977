package agent

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// route is where an app's Xpra server listens, its password and the key
// that encrypts its stream (none from a service that predates encryption).
type route struct {
	AppID         string
	Host          string
	Port          int
	Password      string
	EncryptionKey string
}

// URI is the xpra connection string, tcp://host:port/ (the password is
// never part of it).
func (r route) URI() string {
	return "tcp://" + net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) + "/"
}

// attacher puts an app's windows on the desktop. Attach blocks while the
// client runs and returns when it ends (nil for a clean end such as the
// server shutting down) or when ctx ends; it calls connected (at most once,
// before it returns) when the client has connected to the app. xpraAttacher
// is the real one.
type attacher interface {
	Attach(ctx context.Context, r route, connected func()) error
}

// supervisor follows the session's apps (GET /api/v1/session/apps, every
// PollFast while one is starting, else every PollSlow, and at once after a
// launch, a stop, or an attach that ended) and keeps one attach running
// for every running app: it starts it when the app runs, starts it again
// with backoff when it ends while the app still runs, pauses it while an
// HTML5 viewer has the app, and stops it when the app is no longer
// running. The service answers with this session's apps only (the session
// token selects them), so the agent never attaches to another session's
// app.
type supervisor struct {
	svc  sessionAPI
	att  attacher
	pres *presence
	log  *slog.Logger
	now  func() time.Time

	fast, slow             time.Duration
	backoffMin, backoffMax time.Duration
	// idle stops apps that have had no client this long; 0 is off.
	idle time.Duration

	kickc chan struct{}

	mu      sync.Mutex
	routes  map[string]route
	workers map[string]*worker
	wg      sync.WaitGroup
}

type worker struct {
	route  route
	cancel context.CancelFunc
	done   chan struct{}
}

func newSupervisor(svc sessionAPI, att attacher, pres *presence, log *slog.Logger) *supervisor {
	return &supervisor{
		svc: svc, att: att, pres: pres, log: log, now: time.Now,
		fast: PollFast, slow: PollSlow,
		backoffMin: 500 * time.Millisecond, backoffMax: 30 * time.Second,
		kickc:   make(chan struct{}, 1),
		routes:  map[string]route{},
		workers: map[string]*worker{},
	}
}

// kick asks for a look at the apps now; it never blocks.
func (s *supervisor) kick() {
	select {
	case s.kickc <- struct{}{}:
	default:
	}
}

// Start follows the apps until ctx ends, then stops every attach and waits
// for them.
func (s *supervisor) Start(ctx context.Context) error {
	defer s.stopAll()
	for {
		wait := s.sync(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-s.kickc:
			t.Stop()
		}
	}
}

// sync brings the attachments in line with the service's list of apps and
// returns how long to wait before the next look.
func (s *supervisor) sync(ctx context.Context) time.Duration {
	list, err := s.svc.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			// Keep what runs: a service restart must not drop windows.
			s.log.Warn("Listing the session's apps failed", "err", err)
		}
		return s.slow
	}
	starting := false
	running := map[string]route{}
	for _, a := range list {
		if a.Status == sessionapi.StatusStarting {
			starting = true
		}
		if r, ok := routeOf(a); ok {
			running[a.ID] = r
		}
	}

	s.mu.Lock()
	s.routes = running
	var stale []*worker
	for id, w := range s.workers {
		if r, ok := running[id]; !ok || r != w.route {
			stale = append(stale, w)
			delete(s.workers, id)
			if !ok {
				s.log.Info("App no longer running; detaching", "id", id)
				s.pres.forget(id)
			}
		}
	}
	s.mu.Unlock()
	// Stop old attaches before new ones start, so an app whose route
	// changed never has two.
	for _, w := range stale {
		w.cancel()
		<-w.done
	}
	s.mu.Lock()
	for id, r := range running {
		if _, ok := s.workers[id]; !ok && ctx.Err() == nil {
			s.startLocked(ctx, r)
		}
	}
	s.mu.Unlock()

	if s.idle > 0 {
		for id := range running {
			s.pres.seen(id)
			if d := s.pres.idleFor(id); d >= s.idle {
				s.log.Info("Stopping an app with no client attached", "id", id, "idle", d.Round(time.Second))
				if err := s.svc.Stop(ctx, id); err != nil && ctx.Err() == nil {
					s.log.Warn("Stopping an idle app failed", "id", id, "err", err)
				}
			}
		}
	}
	if starting {
		return s.fast
	}
	return s.slow
}

// routeOf is the app's Xpra route when the app runs and has one.
func routeOf(a sessionapi.App) (route, bool) {
	if a.Status != sessionapi.StatusRunning || a.Xpra == nil || a.Xpra.Host == "" || a.Xpra.Port <= 0 {
		return route{}, false
	}
	return route{AppID: a.ID, Host: a.Xpra.Host, Port: int(a.Xpra.Port), Password: a.Xpra.Password, EncryptionKey: a.Xpra.EncryptionKey}, true
}

// route returns the last known route of a running app.
func (s *supervisor) route(id string) (route, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.routes[id]
	return r, ok
}

func (s *supervisor) startLocked(ctx context.Context, r route) {
	wctx, cancel := context.WithCancel(ctx)
	w := &worker{route: r, cancel: cancel, done: make(chan struct{})}
	s.workers[r.AppID] = w
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(w.done)
		s.attachLoop(wctx, r)
	}()
}

func (s *supervisor) stopAll() {
	s.mu.Lock()
	for id, w := range s.workers {
		w.cancel()
		delete(s.workers, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// attachLoop keeps the desktop attached to one app until ctx ends.
func (s *supervisor) attachLoop(ctx context.Context, r route) {
	log := s.log.With("id", r.AppID, "uri", r.URI())
	backoff := s.backoffMin
	for {
		// Xpra gives the session to the newest client: while a browser
		// views the app, the desktop waits instead of stealing it back.
		for {
			n, changed := s.pres.viewing(r.AppID)
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
		log.Info("Attaching app")
		s.pres.setNative(r.AppID, true)
		began := s.now()
		actx, stop := s.untilViewed(ctx, r.AppID)
		err := s.att.Attach(actx, r, func() { s.pres.setConnected(r.AppID) })
		stop()
		s.pres.setNative(r.AppID, false)
		if ctx.Err() != nil {
			return
		}
		if n, _ := s.pres.viewing(r.AppID); n > 0 {
			log.Info("A browser views the app; the desktop lets it go until the browser leaves")
			backoff = s.backoffMin
			continue
		}
		if s.now().Sub(began) > s.backoffMax {
			backoff = s.backoffMin
		}
		log.Warn("Attach ended while the app runs; reattaching", "err", err, "in", backoff)
		// The app may have ended: look now rather than at the next poll.
		s.kick()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.backoffMax)
	}
}

// untilViewed returns a context that ends with ctx, with stop, or when an
// HTML5 viewer opens app id. The desktop's attach runs under it: one still
// connecting when a browser connects would otherwise become the newest
// client and take the app from the browser.
func (s *supervisor) untilViewed(ctx context.Context, id string) (vctx context.Context, stop func()) {
	vctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		for {
			n, changed := s.pres.viewing(id)
			if n > 0 {
				return
			}
			select {
			case <-changed:
			case <-vctx.Done():
				return
			}
		}
	}()
	return vctx, cancel
}
