package session

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The goroutines a test starts end with it: a Manager's informer, its
// spawns and their timers stop when the test cancels the Manager.
func TestMain(m *testing.M) {
	// The retries are counted by the tests, not timed: the same number of
	// attempts as in production, a millisecond apart instead of seconds.
	apiBackoff.Duration = time.Millisecond
	goleak.VerifyTestMain(m)
}
