package orphans

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/session"
)

// Hub is what the collector asks of JupyterHub; *hubapi.Client is one.
type Hub interface {
	WhoAmI(ctx context.Context) (*hubapi.Identity, error)
	Users(ctx context.Context, state string) ([]hubapi.User, error)
	User(ctx context.Context, name string) (*hubapi.User, error)
}

// Sessions is what it needs of the session manager.
type Sessions interface {
	Ready() bool
	List() []session.Session
	Stop(ctx context.Context, key session.Key) error
}

// Config tunes the Collector.
type Config struct {
	// Interval is the time between rounds after the first (which runs as
	// soon as the sessions are ready).
	Interval time.Duration
	// Grace is how old a session the hub does not list must be before it
	// is stopped: younger ones may be spawns the hub's answer predates.
	Grace time.Duration
	// DryRun logs and counts orphans as would_collect and stops nothing.
	DryRun bool
	// StopTimeout bounds the stop of one orphan.
	StopTimeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// requiredScopes are what the hub's token must hold: list:users for the
// list, read:servers for the servers in each user's model.
var requiredScopes = []string{hubapi.ScopeListUsers, hubapi.ScopeReadServers}

// readyPoll is how often Start looks whether the sessions are ready.
const readyPoll = 100 * time.Millisecond

// Actions, the action label of the orphans metric.
const (
	ActionCollected    = "collected"
	ActionWouldCollect = "would_collect"
	ActionFailed       = "failed"
)

// Collector finds and stops sessions whose server the hub no longer has.
type Collector struct {
	hub      Hub
	sessions Sessions
	cfg      Config
	metrics  *metrics.Spawner
	log      *slog.Logger

	mu sync.Mutex
	// reported holds the orphans a dry run has counted, so that one is
	// counted once for as long as it stays an orphan.
	reported map[session.Key]bool
	// firstSeen is when a candidate without a recorded start was first
	// seen missing from the hub: its age for the grace period.
	firstSeen map[session.Key]time.Time
}

// New builds a Collector; nothing runs until Start or Collect.
func New(hub Hub, sessions Sessions, cfg Config, m *metrics.Spawner, log *slog.Logger) *Collector {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = time.Minute
	}
	return &Collector{hub: hub, sessions: sessions, cfg: cfg, metrics: m, log: log,
		reported: map[session.Key]bool{}, firstSeen: map[session.Key]time.Time{}}
}

// Start waits until the sessions are ready, runs a round, then one every
// Interval, until ctx ends. A round that fails is logged; the next one
// tries again.
func (c *Collector) Start(ctx context.Context) error {
	wait := time.NewTicker(readyPoll)
	for !c.sessions.Ready() {
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil
		case <-wait.C:
		}
	}
	wait.Stop()
	c.log.Info("Orphan collection started", "interval", c.cfg.Interval, "grace", c.cfg.Grace, "dry_run", c.cfg.DryRun)
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		if _, err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("Orphan collection round skipped; nothing was stopped", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Round is what one Collect found.
type Round struct {
	// Orphans are the sessions found orphaned, stopped or (dry run) kept.
	Orphans []session.Session
	// Candidates is the number of sessions the hub's list did not show,
	// orphans or not (too young, or confirmed by the hub after all).
	Candidates int
}

// ErrMissingScopes is why a round did nothing when the hub's token lacks
// what it needs.
var ErrMissingScopes = errors.New("the hub's token lacks scopes")

// Collect runs one round: it finds the orphans and, unless DryRun, stops
// them. An error means the hub could not be asked (or its answer could not
// be trusted) and nothing was stopped.
func (c *Collector) Collect(ctx context.Context) (Round, error) {
	var round Round
	// The sessions first: every one of them existed before the hub answers
	// below, so the hub knew of it then if it is the hub's.
	sessions := c.sessions.List()

	id, err := c.hub.WhoAmI(ctx)
	if err != nil {
		return round, fmt.Errorf("identify the hub's token: %w", err)
	}
	if missing := hubapi.MissingScopes(id, requiredScopes...); len(missing) > 0 {
		return round, fmt.Errorf("%w: %s has no %s (give it a role with list:users and read:servers)",
			ErrMissingScopes, id.Name, strings.Join(missing, ", "))
	}
	users, err := c.hub.Users(ctx, hubapi.StateActive)
	if err != nil {
		return round, fmt.Errorf("list the hub's users: %w", err)
	}
	active := map[session.Key]bool{}
	for _, u := range users {
		if u.Servers == nil {
			return round, fmt.Errorf("the hub listed user %q without servers: is read:servers missing?", u.Name)
		}
		for name := range u.Servers {
			active[session.Key{User: u.Name, Server: name}] = true
		}
	}

	now := c.cfg.Now()
	still, missing := map[session.Key]bool{}, map[session.Key]bool{}
	for _, s := range sessions {
		key := session.Key{User: s.User, Server: s.Server}
		if active[key] || s.Status == session.StatusStopping || s.Status == session.StatusStopped {
			continue
		}
		round.Candidates++
		missing[key] = true
		if now.Sub(c.since(key, s, now)) < c.cfg.Grace {
			continue
		}
		known, err := c.hubHas(ctx, key)
		if err != nil {
			c.log.Warn("Could not confirm a session with the hub; kept", "user", s.User, "server", s.Server, "pod", s.Pod, "err", err)
			continue
		}
		if known {
			continue
		}
		still[key] = true
		round.Orphans = append(round.Orphans, s)
		c.handle(ctx, s, key)
	}
	c.mu.Lock()
	for key := range c.reported {
		if !still[key] {
			delete(c.reported, key)
		}
	}
	for key := range c.firstSeen {
		if !missing[key] {
			delete(c.firstSeen, key)
		}
	}
	c.mu.Unlock()
	return round, nil
}

// since is when a candidate's age for the grace period starts: its start as
// the service recorded it, else when the collector first saw it missing.
func (c *Collector) since(key session.Key, s session.Session, now time.Time) time.Time {
	if s.StartedAt != nil {
		return *s.StartedAt
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.firstSeen[key]
	if !ok {
		t = now
		c.firstSeen[key] = t
	}
	return t
}

// hubHas asks the hub about one server: whether its user exists and lists
// it among its active servers.
func (c *Collector) hubHas(ctx context.Context, key session.Key) (bool, error) {
	u, err := c.hub.User(ctx, key.User)
	if hubapi.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if u.Servers == nil {
		return false, fmt.Errorf("the hub sent user %q without servers: is read:servers missing?", key.User)
	}
	_, ok := u.Servers[key.Server]
	return ok, nil
}

// objects are a session's objects that a stop removes, for the log and the
// metric: its pod and the hub-environment Secret of the same name, which
// the pod owns.
func objects(s session.Session) [][2]string {
	if s.Pod == "" {
		return nil
	}
	return [][2]string{{"pod", s.Pod}, {"secret", s.Pod}}
}

// handle stops one orphan, or in a dry run reports it once.
func (c *Collector) handle(ctx context.Context, s session.Session, key session.Key) {
	attrs := []any{"user", s.User, "server", s.Server, "status", s.Status}
	if c.cfg.DryRun {
		c.mu.Lock()
		seen := c.reported[key]
		c.reported[key] = true
		c.mu.Unlock()
		if seen {
			return
		}
		for _, o := range objects(s) {
			c.metrics.Orphans.WithLabelValues(o[0], ActionWouldCollect).Inc()
			c.log.Info("Orphan found; kept (dry run)", append([]any{"kind", o[0], "name", o[1]}, attrs...)...)
		}
		return
	}
	stopCtx, cancel := context.WithTimeout(ctx, c.cfg.StopTimeout)
	defer cancel()
	err := c.sessions.Stop(stopCtx, key)
	for _, o := range objects(s) {
		if err != nil {
			c.metrics.Orphans.WithLabelValues(o[0], ActionFailed).Inc()
			c.log.Error("Orphan not collected; tried again next round", append([]any{"kind", o[0], "name", o[1], "err", err}, attrs...)...)
			continue
		}
		c.metrics.Orphans.WithLabelValues(o[0], ActionCollected).Inc()
		c.log.Info("Orphan collected: the hub no longer has its server", append([]any{"kind", o[0], "name", o[1]}, attrs...)...)
	}
}
