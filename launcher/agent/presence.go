package agent

import (
	"context"
	"sync"
	"time"
)

// presence tracks which apps have a client attached: the desktop's xpra
// attach (native) and HTML5 viewers through the proxy. The supervisor reads
// it to pause the desktop's attach while a browser views the app (Xpra
// hands a session to the newest client, so both would steal it from each
// other), for the idle timeout, and the activity reporter to know whether
// the session is in use.
//
// A desktop attach is two things: its process runs (native), which is what
// a browser must wait out before it connects, and it is connected (the
// client took the session), which is what counts as a client. An attach
// that keeps failing runs now and then but never counts, so an app nobody
// can see still goes idle and does not keep the session alive.
type presence struct {
	now func() time.Time

	mu        sync.Mutex
	native    map[string]bool
	connected map[string]bool
	viewers   map[string]int
	// last is when the app last had a client, or when it was first seen
	// running.
	last map[string]time.Time
	// lastAny is when the last client of any app went away.
	lastAny time.Time
	changed chan struct{}
}

func newPresence(now func() time.Time) *presence {
	if now == nil {
		now = time.Now
	}
	return &presence{now: now, native: map[string]bool{}, connected: map[string]bool{}, viewers: map[string]int{},
		last: map[string]time.Time{}, changed: make(chan struct{})}
}

// notify wakes everyone waiting on a change; p.mu is held.
func (p *presence) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *presence) attachedLocked(id string) bool { return p.connected[id] || p.viewers[id] > 0 }

func (p *presence) anyLocked() bool {
	for _, on := range p.connected {
		if on {
			return true
		}
	}
	for _, n := range p.viewers {
		if n > 0 {
			return true
		}
	}
	return false
}

func (p *presence) update(id string, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	before, anyBefore := p.attachedLocked(id), p.anyLocked()
	f()
	now := p.now()
	if before || p.attachedLocked(id) {
		p.last[id] = now
	}
	if anyBefore && !p.anyLocked() {
		p.lastAny = now
	}
	p.notify()
}

// setNative records that the desktop's attach of app id started (on) or
// ended; an ended attach is no longer connected either.
func (p *presence) setNative(id string, on bool) {
	p.update(id, func() {
		if on {
			p.native[id] = true
		} else {
			delete(p.native, id)
			delete(p.connected, id)
		}
	})
}

// setConnected records that the running desktop attach of app id has
// connected: from now until it ends, the app has a client.
func (p *presence) setConnected(id string) {
	p.update(id, func() {
		if p.native[id] {
			p.connected[id] = true
		}
	})
}

func (p *presence) viewerOpened(id string) { p.update(id, func() { p.viewers[id]++ }) }

func (p *presence) viewerClosed(id string) {
	p.update(id, func() {
		if p.viewers[id]--; p.viewers[id] <= 0 {
			delete(p.viewers, id)
		}
	})
}

// viewing returns how many HTML5 viewers app id has, and a channel closed
// at the next change.
func (p *presence) viewing(id string) (int, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.viewers[id], p.changed
}

// waitNativeDetached waits until the desktop's attach of app id is not
// running, and reports whether it got there before timeout (or ctx) ended.
func (p *presence) waitNativeDetached(ctx context.Context, id string, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		p.mu.Lock()
		native, changed := p.native[id], p.changed
		p.mu.Unlock()
		if !native {
			return true
		}
		select {
		case <-changed:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// nativeAttached reports whether the desktop's attach of app id runs now.
func (p *presence) nativeAttached(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.native[id]
}

// seen starts the idle clock of an app the first time it is seen running.
func (p *presence) seen(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.last[id]; !ok {
		p.last[id] = p.now()
	}
}

// idleFor is how long app id has had no client (0 while it has one).
func (p *presence) idleFor(id string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.attachedLocked(id) {
		return 0
	}
	last, ok := p.last[id]
	if !ok {
		return 0
	}
	return p.now().Sub(last)
}

func (p *presence) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, id)
}

// attachedSince reports whether any app had a client at some time after t.
func (p *presence) attachedSince(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.anyLocked() || p.lastAny.After(t)
}
