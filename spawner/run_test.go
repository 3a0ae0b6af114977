package spawner

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/internal/config"
)

// What the service says at start about settings that leave sessions
// without apps: nothing when both are there; each missing one by name.
func TestAppWarnings(t *testing.T) {
	t.Parallel()
	one, problems := catalog.Parse([]byte("- {id: xterm, version: \"1\", image: kubedesk/example-xterm:1, command: [xterm]}\n"), "apps.yaml")
	assert.Empty(t, problems)
	empty, _ := catalog.New()

	assert.Empty(t, appWarnings(config.Config{SessionServiceURL: "http://svc:8080"}, one))
	noCatalog := appWarnings(config.Config{SessionServiceURL: "http://svc:8080"}, empty)
	if assert.Len(t, noCatalog, 1) {
		assert.Contains(t, noCatalog[0], "No app catalog")
		assert.Contains(t, noCatalog[0], "catalog_file")
	}
	noURL := appWarnings(config.Config{}, one)
	if assert.Len(t, noURL, 1) {
		assert.Contains(t, noURL[0], "session_service_url")
	}
	assert.Len(t, appWarnings(config.Config{}, empty), 2)
}
