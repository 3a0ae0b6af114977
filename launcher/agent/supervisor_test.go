package agent

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

func newTestSupervisor(t *testing.T, svc sessionAPI, att attacher) *supervisor {
	s := newSupervisor(svc, att, newPresence(nil), testLogger(t))
	s.fast, s.slow = 5*time.Millisecond, 20*time.Millisecond
	s.backoffMin, s.backoffMax = time.Millisecond, 10*time.Millisecond
	return s
}

// supervisedApp is a test supervisor over a fake service whose session
// "tok-a" runs app a1, attaching with a fake attacher; it returns them and
// the session token's file. The supervisor's attaches are stopped when the
// test ends (after t.Context, which the tests run it with, is cancelled).
func supervisedApp(t *testing.T) (*supervisor, *fakeService, *fakeAttacher, string) {
	svc := newFakeService(t, "tok-a")
	svc.setApps("tok-a", running("a1", "10.0.0.1", 14500, "pw"))
	client, file := svc.client(t, "tok-a")
	att := newFakeAttacher()
	s := newTestSupervisor(t, client, att)
	t.Cleanup(s.stopAll)
	return s, svc, att, file
}

func TestSupervisorAttachReattachDetach(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a")
	client, _ := svc.client(t, "tok-a")
	svc.setApps("tok-a", sessionapi.App{ID: "a1", App: "itksnap", Status: sessionapi.StatusStarting})
	att := newFakeAttacher()
	s := newTestSupervisor(t, client, att)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Starting: no attach yet, and the next look comes soon.
	if wait := s.sync(ctx); wait != s.fast {
		t.Errorf("poll interval while starting = %v, want %v", wait, s.fast)
	}
	if len(s.workers) != 0 {
		t.Fatalf("attached to a starting app: %v", s.workers)
	}

	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()

	svc.setStatus("tok-a", "a1", sessionapi.StatusRunning, &sessionapi.Xpra{Host: "10.0.0.7", Port: 14500, Password: "s3cret"})
	r := recv(t, att.attached, "the first attach")
	want := route{AppID: "a1", Host: "10.0.0.7", Port: 14500, Password: "s3cret"}
	if r != want {
		t.Fatalf("attached %+v, want %+v", r, want)
	}
	if r.URI() != "tcp://10.0.0.7:14500/" {
		t.Errorf("URI = %q", r.URI())
	}

	// A dropped connection while the app runs: attach again.
	att.end(t, "a1", errors.New("connection lost"))
	if r := recv(t, att.attached, "the reattach"); r != want {
		t.Fatalf("reattached %+v, want %+v", r, want)
	}

	// The app ends: the attach is stopped and not started again.
	svc.setStatus("tok-a", "a1", sessionapi.StatusEnded, nil)
	if id := recv(t, att.detached, "the detach"); id != "a1" {
		t.Fatalf("detached %q", id)
	}
	s.kick()
	cancel()
	if err := recv(t, done, "Start to return"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case r := <-att.attached:
		t.Fatalf("attached again after the app ended: %+v", r)
	default:
	}
}

// The service answers each session for its own apps, by its token; what
// the supervisor must do is ask with its own session's token (from its
// token file), and attach what that answer lists, nothing else. The fake
// service answers by token as the real one does (TestLaunchAbuseIsRefused
// and the apps manager's tests show the service's side).
func TestSupervisorAsksAsItsOwnSession(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a", "tok-b")
	svc.setApps("tok-a", running("mine", "10.0.0.1", 14500, "pw-a"))
	svc.setApps("tok-b", running("theirs", "10.0.0.2", 14500, "pw-b"))
	client, _ := svc.client(t, "tok-a")
	att := newFakeAttacher()
	s := newTestSupervisor(t, client, att)
	ctx, cancel := context.WithCancel(context.Background())
	s.sync(ctx)
	if r := recv(t, att.attached, "the attach"); r.AppID != "mine" {
		t.Fatalf("attached %q", r.AppID)
	}
	if _, ok := s.route("theirs"); ok {
		t.Errorf("the supervisor knows another session's app")
	}
	if got := svc.tokens(); !slices.Equal(got, []string{"tok-a"}) {
		t.Errorf("the supervisor asked with tokens %v, want its own session's alone", got)
	}
	cancel()
	s.stopAll()
	select {
	case r := <-att.attached:
		t.Fatalf("attached another session's app: %+v", r)
	default:
	}
}

func TestSupervisorKeepsAttachesWhenTheServiceFails(t *testing.T) {
	t.Parallel()
	s, _, att, file := supervisedApp(t)
	ctx := t.Context()
	s.sync(ctx)
	recv(t, att.attached, "the attach")
	// A token the service refuses (e.g. while it restarts): nothing is
	// detached.
	if err := os.WriteFile(file, []byte("bogus"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.sync(ctx)
	if len(s.workers) != 1 {
		t.Fatalf("workers after a failed list: %v", s.workers)
	}
}

func TestSupervisorPausesWhileHTML5Views(t *testing.T) {
	t.Parallel()
	s, _, att, _ := supervisedApp(t)
	ctx := t.Context()

	s.pres.viewerOpened("a1")
	s.sync(ctx)
	select {
	case r := <-att.attached:
		t.Fatalf("attached while a browser views the app: %+v", r)
	default:
	}
	s.pres.viewerClosed("a1")
	recv(t, att.attached, "the attach after the viewer left")
}

func TestSupervisorStopsIdleApps(t *testing.T) {
	t.Parallel()
	s, svc, att, _ := supervisedApp(t)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s.pres = newPresence(clock.Now)
	s.idle = 10 * time.Minute
	s.backoffMin = time.Hour // the failed attach waits, with no client
	ctx := t.Context()

	s.sync(ctx)
	recv(t, att.attached, "the attach")
	clock.Add(20 * time.Minute) // attached all along: not idle
	s.sync(ctx)
	if got := svc.stops(); len(got) != 0 {
		t.Fatalf("stopped %v while attached", got)
	}
	att.end(t, "a1", errors.New("display gone"))
	waitUntil(t, s.pres, "the attach to end", func() bool { return !s.pres.nativeAttached("a1") })
	clock.Add(9 * time.Minute)
	s.sync(ctx)
	if got := svc.stops(); len(got) != 0 {
		t.Fatalf("stopped %v before the idle timeout", got)
	}
	clock.Add(2 * time.Minute)
	s.sync(ctx)
	if got := svc.stops(); len(got) != 1 || got[0] != "a1" {
		t.Fatalf("stopped %v, want [a1]", got)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// waitUntil waits for cond, checking it at every change of p.
func waitUntil(t *testing.T, p *presence, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(waitShort)
	for {
		_, changed := p.viewing("")
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSupervisorLetsGoWhenABrowserOpensTheApp(t *testing.T) {
	t.Parallel()
	s, _, att, _ := supervisedApp(t)
	s.backoffMin = time.Hour // a reattach must come from the viewer leaving, not a retry
	ctx := t.Context()

	s.sync(ctx)
	recv(t, att.attached, "the attach")
	// A browser opens the app: the desktop's attach ends at once, so the
	// browser is Xpra's newest client, and the proxy's wait for that ends.
	s.pres.viewerOpened("a1")
	if got := recv(t, att.detached, "the desktop's attach to end"); got != "a1" {
		t.Fatalf("detached %s", got)
	}
	if !s.pres.waitNativeDetached(ctx, "a1", waitShort) {
		t.Fatal("the proxy's wait for the desktop's attach to end timed out")
	}
	s.pres.viewerClosed("a1")
	recv(t, att.attached, "the attach after the viewer left")
}

func TestSupervisorStopsAppsWhoseAttachNeverConnects(t *testing.T) {
	t.Parallel()
	s, svc, att, _ := supervisedApp(t)
	att.silent = true // xpra attach runs, but never gets the session
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s.pres = newPresence(clock.Now)
	s.idle = 10 * time.Minute
	ctx := t.Context()

	s.sync(ctx)
	recv(t, att.attached, "the attach")
	clock.Add(11 * time.Minute)
	s.sync(ctx)
	if got := svc.stops(); len(got) != 1 || got[0] != "a1" {
		t.Fatalf("stopped %v, want [a1]: an attach that never connected is no client", got)
	}
}
