package agent

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// menuSync writes the desktop menu from the service's catalog at start,
// every interval, and when asked (refresh). Until the first write
// succeeds it retries quickly (the service may still be starting).
type menuSync struct {
	svc      sessionAPI
	opts     menu.Options
	interval time.Duration
	retry    time.Duration
	log      *slog.Logger
	refresh  chan struct{}
	// serviceURL names the service in the menu's notice while it does not
	// answer.
	serviceURL string
	// synced is set once a menu from the catalog was written.
	synced bool
}

func newMenuSync(svc sessionAPI, opts menu.Options, interval time.Duration, log *slog.Logger) *menuSync {
	return &menuSync{svc: svc, opts: opts, interval: interval, retry: 2 * time.Second, log: log, refresh: make(chan struct{}, 1)}
}

func (m *menuSync) Start(ctx context.Context) error {
	ok := false
	for {
		if err := m.sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Warn("Updating the menu failed", "err", err)
		} else {
			ok = true
		}
		wait := m.interval
		if !ok {
			wait = m.retry
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-timer:
		case <-m.refresh:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (m *menuSync) sync(ctx context.Context) error {
	apps, err := m.svc.Catalog(ctx)
	if isUnreachable(err) && !m.synced && ctx.Err() == nil {
		// Until the service first answers, the menu says why it has no
		// apps; the first answer replaces the notice with the catalog.
		// (Later outages keep the menu: they are usually short, and a
		// launch then says why it failed.)
		if werr := writeNotice(m.opts, unreachable(m.serviceURL, err)); werr != nil {
			m.log.Warn("Writing the menu's notice failed", "err", werr)
		}
	}
	if err != nil {
		return err
	}
	c, problems := sessionapi.NewListing(apps...)
	for _, p := range problems {
		m.log.Warn("Catalog entry skipped", "problem", p.Error())
	}
	ch, err := writeMenu(c, m.opts, m.log)
	if err != nil {
		return err
	}
	m.synced = true
	if len(ch.Written)+len(ch.Removed) > 0 {
		m.log.Info("Menu updated", "apps", len(c.Apps()), "written", len(ch.Written), "removed", len(ch.Removed))
	}
	return nil
}

// desktopDBTimeout bounds update-mime-database and update-desktop-database,
// which read only the user's own files (a second or less).
const desktopDBTimeout = 30 * time.Second

// writeMenu writes the menu and brings the user's desktop databases in line
// with it, so that a file manager's "Open With" offers the catalog's apps:
// update-mime-database (shared-mime-info) when the menu's MIME package
// changed, for the file types the desktop did not know, and
// update-desktop-database (desktop-file-utils) when entries changed, since
// GIO finds the apps for a type only through the applications folder's
// mimeinfo.cache. Without the tools the menu works and only that is
// missing.
func writeMenu(c *sessionapi.Listing, opts menu.Options, log *slog.Logger) (menu.Changes, error) {
	ch, err := menu.Write(c, opts)
	if err != nil {
		return ch, err
	}
	changed := append(slices.Clone(ch.Written), ch.Removed...)
	pkg := filepath.Join(opts.DataHome, filepath.FromSlash(menu.MIMEPackagesDir), menu.MIMEPackage)
	if slices.Contains(changed, pkg) {
		updateDB(log, "update-mime-database", filepath.Join(opts.DataHome, "mime"))
	}
	if slices.ContainsFunc(changed, func(p string) bool { return strings.HasSuffix(p, ".desktop") }) {
		updateDB(log, "update-desktop-database", filepath.Join(opts.DataHome, menu.ApplicationsDir))
	}
	return ch, nil
}

func updateDB(log *slog.Logger, tool, dir string) {
	path, err := exec.LookPath(tool)
	if err != nil {
		log.Warn("A desktop database tool is missing: file managers will not offer the catalog's apps for its files", "tool", tool)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), desktopDBTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, dir).CombinedOutput(); err != nil {
		log.Warn("Updating a desktop database failed", "tool", tool, "err", err, "output", string(out))
	}
}
