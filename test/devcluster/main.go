package devcluster

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

// Main hands a package's tests to goleak.VerifyTestMain: it runs them,
// then closes the keep-alive connections that outlive them by design, so
// that goleak sees only what a test left running:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(devcluster.Main(m)) }
//
// Those are the idle connections of the dev cluster's client (one for the
// process, Start) and of http.DefaultTransport (the tests' requests to
// the service, the hub and pods, which outlive the test that made them).
// A connection still in use, a watch or a body a test did not close, is
// not idle and stays for goleak to report.
func Main(m *testing.M) goleak.TestingM { return testMain{m} }

type testMain struct{ m *testing.M }

func (t testMain) Run() int {
	code := t.m.Run()
	if started != nil {
		started.closeIdle()
	}
	http.DefaultClient.CloseIdleConnections()
	return code
}
