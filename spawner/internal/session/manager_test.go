package session

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// Once the service is shutting down nothing starts: what would start then
// would outlive Start, and act on the cluster after the service said it
// had stopped. The hub is told to ask again, which the next run answers.
func TestNothingStartsOnceTheServiceStops(t *testing.T) {
	t.Parallel()
	names := podspec.NewNames("alice", "")
	client := newClient(sessionPod(names, ready("10.0.0.1")))
	mgr, _, stop := runManager(t, client, testConfig())
	stop()

	_, err := mgr.Spawn(context.Background(), Key{User: "bob"}, intentSpec("aaaaaaaaaaaa"))
	assert.Equal(t, "The service is restarting; ask again in a moment.", requireRefusal(t, err, CodeNotReady).Message)
	_ = requireRefusal(t, mgr.Stop(context.Background(), Key{User: "alice"}), CodeNotReady)
	assert.Zero(t, count(client, "create", "leases"), "no spawn was recorded")
	assert.Len(t, pods(t, client), 1, "and no pod was deleted")
}
