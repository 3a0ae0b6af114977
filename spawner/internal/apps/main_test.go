package apps

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test's managers must have ended all their goroutines (the informer,
// the deletes of ended apps) by the time the package's tests end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
