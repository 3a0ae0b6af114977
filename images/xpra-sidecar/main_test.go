package xprasidecar

import (
	"testing"

	"go.uber.org/goleak"

	"kubedesk.dev/kubedesk/test/devcluster"
)

// The goroutines a test starts end with it. devcluster.Main closes, once
// the tests ran, the idle connections to the dev cluster and the tests'
// servers that the process keeps open by design.
func TestMain(m *testing.M) { goleak.VerifyTestMain(devcluster.Main(m)) }
