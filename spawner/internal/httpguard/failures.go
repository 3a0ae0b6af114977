package httpguard

import (
	"sync"
	"time"
)

// Failures limits failed authentication per source address. Each source
// has a budget of Burst failures that refills at one per Refill; a source
// that has spent it is refused (Blocked) until a failure's worth has
// refilled. Tokens are long random strings or signed, so guessing is hopeless
// anyway; what this bounds is what a misbehaving source costs: hashes and
// signature checks, and above all the log lines of rejected requests.
//
// A blocked source is refused before its credentials are looked at, so a
// correct token from it waits too; the budget is generous so that only a
// source that keeps failing is ever blocked, and each pod (the hub's, each
// session's) has an address of its own.
type Failures struct {
	// Burst and Refill: see the type. MaxSources bounds the addresses
	// remembered; when full, sources whose budget has refilled are forgotten
	// first, and a new source beyond that is not limited (memory is the
	// greater risk).
	Burst      int
	Refill     time.Duration
	MaxSources int
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	sources map[string]*budget
}

type budget struct {
	spent float64 // failures not yet refilled
	at    time.Time
}

// DefaultFailureBurst is how many failures a source may make at once.
const DefaultFailureBurst = 20

// NewFailures returns the limits the service uses: burst failures at once
// (DefaultFailureBurst for 0), one more every 3 s, for up to 10,000
// sources.
func NewFailures(burst int) *Failures {
	if burst == 0 {
		burst = DefaultFailureBurst
	}
	return &Failures{Burst: burst, Refill: 3 * time.Second, MaxSources: 10000}
}

func (f *Failures) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// refill brings b up to now. Callers hold f.mu.
func (f *Failures) refill(b *budget, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.spent = max(b.spent-float64(d)/float64(f.Refill), 0)
	}
	b.at = now
}

// Blocked reports whether source has spent its budget, and if so when it
// may try again.
func (f *Failures) Blocked(source string) (bool, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.sources[source]
	if b == nil {
		return false, 0
	}
	f.refill(b, f.now())
	if b.spent <= float64(f.Burst)-1 {
		return false, 0
	}
	return true, time.Duration((b.spent - float64(f.Burst) + 1) * float64(f.Refill))
}

// Fail records a failed authentication of source. It reports whether this
// failure spent the source's budget: from now on it is blocked, which is
// worth one log line.
func (f *Failures) Fail(source string) (nowBlocked bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.sources == nil {
		f.sources = map[string]*budget{}
	}
	b := f.sources[source]
	if b == nil {
		if len(f.sources) >= f.MaxSources {
			f.forgetRefilled(now)
		}
		if len(f.sources) >= f.MaxSources {
			return false
		}
		b = &budget{at: now}
		f.sources[source] = b
	}
	f.refill(b, now)
	wasBlocked := b.spent > float64(f.Burst)-1
	b.spent = min(b.spent+1, float64(f.Burst))
	return !wasBlocked && b.spent > float64(f.Burst)-1
}

// forgetRefilled drops the sources whose budget is whole again. Callers
// hold f.mu.
func (f *Failures) forgetRefilled(now time.Time) {
	for source, b := range f.sources {
		if f.refill(b, now); b.spent == 0 {
			delete(f.sources, source)
		}
	}
}
