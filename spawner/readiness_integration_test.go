package spawner_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
	"kubedesk.dev/kubedesk/test/devcluster"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
	return string(body)
}

// The service started as the demo's was before it took the chart's
// settings: no catalog and no session URL. It serves desktops, so it is
// ready, but /readyz and the metrics say that sessions can launch no apps,
// and why; the service with the chart's demo settings says nothing.
func TestReadyzSaysWhenSessionsCannotLaunchApps(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the dev cluster")
	}
	c := devcluster.Start(t)
	bare := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: c.Namespace(t)})
	readyz := get(t, bare.OpsURL+"/readyz")
	assert.Contains(t, readyz, "warning: No app catalog")
	assert.Contains(t, readyz, "warning: No session_service_url")
	assert.Contains(t, get(t, bare.OpsURL+"/metrics"), "kubedesk_spawner_catalog_apps 0\n")

	demo := spawnertest.Start(t, spawnertest.Options{Kubeconfig: c.Kubeconfig, Namespace: c.Namespace(t), Chart: spawnertest.DemoChart()})
	assert.Equal(t, "ok\n", get(t, demo.OpsURL+"/readyz"))
	assert.Contains(t, get(t, demo.OpsURL+"/metrics"), "kubedesk_spawner_catalog_apps 7\n", "the demo's 4 apps and 3 of Neurodesk")
}
