package agent

import (
	"context"
	"log/slog"
	"time"
)

// activityReporter is what the agent needs of the hub: *hubapi.Client.
type activityReporter interface {
	ReportActivity(ctx context.Context, user, server string, at time.Time) error
}

// activity tells the hub the session is in use (POST
// /hub/api/users/{user}/activity, the path JUPYTERHUB_ACTIVITY_URL names)
// once per interval in which some app had a client attached, so the
// idle culler does not stop a session whose only use is an app window.
type activity struct {
	hub          activityReporter
	user, server string
	pres         *presence
	interval     time.Duration
	now          func() time.Time
	log          *slog.Logger

	last time.Time // the previous tick
}

func (a *activity) Start(ctx context.Context) error {
	a.last = a.now()
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.tick(ctx)
		}
	}
}

// tick reports activity when an app had a client since the previous
// tick. Failures are logged: the next tick tries again.
func (a *activity) tick(ctx context.Context) {
	now := a.now()
	since := a.last
	a.last = now
	if !a.pres.attachedSince(since) {
		return
	}
	if err := a.hub.ReportActivity(ctx, a.user, a.server, now); err != nil && ctx.Err() == nil {
		a.log.Warn("Reporting activity to the hub failed", "err", err)
		return
	}
	a.log.Debug("Activity reported", "at", now)
}
