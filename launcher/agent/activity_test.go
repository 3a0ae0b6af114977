package agent

import (
	"context"
	"testing"
)

func TestActivityOnlyWhileAttached(t *testing.T) {
	t.Parallel()
	hub := newFakeHub(t)
	pres := newPresence(nil)
	a := &activity{hub: hub.client(t), user: "alice", server: "gpu", pres: pres, now: pres.now, log: testLogger(t)}
	ctx := context.Background()
	a.last = a.now()

	expectNone := func(when string) {
		t.Helper()
		select {
		case got := <-hub.activity:
			t.Fatalf("%s: activity reported (%s)", when, got)
		default:
		}
	}
	a.tick(ctx)
	expectNone("nothing attached")

	pres.setNative("a1", true)
	a.tick(ctx)
	expectNone("an attach that has not connected yet")
	pres.setConnected("a1")
	a.tick(ctx)
	if got := recv(t, hub.activity, "a report while attached"); got != "alice/gpu" {
		t.Errorf("reported %q, want alice/gpu", got)
	}
	// Detached during the next interval: that interval still counts.
	pres.setNative("a1", false)
	a.tick(ctx)
	recv(t, hub.activity, "a report for the interval with an attach")
	a.tick(ctx)
	expectNone("detached for a whole interval")

	// An HTML5 viewer counts too.
	pres.viewerOpened("a1")
	a.tick(ctx)
	recv(t, hub.activity, "a report while a browser views")
	pres.viewerClosed("a1")
}
