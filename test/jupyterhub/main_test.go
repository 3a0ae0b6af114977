package jupyterhub

import (
	"testing"

	"go.uber.org/goleak"
)

// The goroutines a test starts end with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
