package progress

import (
	"context"
	"sync"
)

// Kind is the type of an event, used as the Server-Sent Events event name.
type Kind string

const (
	// KindProgress is an intermediate step.
	KindProgress Kind = "progress"
	// KindReady ends a successful spawn; URL is set.
	KindReady Kind = "ready"
	// KindFailed ends a failed operation; Reason is set.
	KindFailed Kind = "failed"
)

// Terminal reports whether no event can follow one of this kind.
func (k Kind) Terminal() bool { return k == KindReady || k == KindFailed }

// Event is one step of an operation, phrased for the person waiting on it.
type Event struct {
	Kind     Kind   `json:"-"`
	Progress int    `json:"progress,omitempty"`
	Message  string `json:"message"`
	URL      string `json:"url,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Log is an append-only list of events with broadcast to followers. The zero
// value is not usable; call New.
type Log struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every append
	closed  bool
}

// New returns an empty, open log.
func New() *Log { return &Log{changed: make(chan struct{})} }

// Append adds an event. A terminal event closes the log; appends after that
// are dropped, so a late step of a cancelled spawn cannot contradict its end.
func (l *Log) Append(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.events = append(l.events, e)
	if e.Kind.Terminal() {
		l.closed = true
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Last returns the newest event and false when the log is empty.
func (l *Log) Last() (Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return Event{}, false
	}
	return l.events[len(l.events)-1], true
}

// Closed reports whether a terminal event has been appended.
func (l *Log) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Follow calls fn for every event, history first, until the log closes (it
// returns nil), fn returns an error, or ctx ends (it returns ctx.Err()).
// fn runs without the log's lock held, so a slow reader never blocks writers.
func (l *Log) Follow(ctx context.Context, fn func(Event) error) error {
	next := 0
	for {
		l.mu.Lock()
		batch := l.events[next:len(l.events):len(l.events)]
		next = len(l.events)
		closed, changed := l.closed, l.changed
		l.mu.Unlock()

		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if closed {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
