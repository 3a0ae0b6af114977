package spawner

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"

	"kubedesk.dev/kubedesk/spawner/internal/config"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
)

// Orphan collection runs only with an interval, the hub's URL and a token;
// half a configuration is off with a warning that names what is missing.
func TestOrphanCollectorIsOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	m := metrics.NewSpawner(prometheus.NewRegistry(), func() map[string]int { return nil }, func() map[string]int { return nil })
	on := config.Config{OrphanCollectionInterval: time.Minute, HubAPIURL: "http://hub:8081/hub/api", HubAPIToken: "orphans-token"}
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		on   bool
		log  string
	}{
		{"configured", func(*config.Config) {}, true, ""},
		{"interval 0", func(c *config.Config) { c.OrphanCollectionInterval = 0 }, false, "orphan_collection_interval is 0"},
		{"no hub", func(c *config.Config) { c.HubAPIURL, c.HubAPIToken = "", "" }, false, "level=INFO msg=\"Orphan collection is off: no hub_api_url"},
		{"no token", func(c *config.Config) { c.HubAPIToken = "" }, false, "level=WARN"},
		{"no URL", func(c *config.Config) { c.HubAPIURL = "" }, false, "level=WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := on
			tc.edit(&cfg)
			var logs bytes.Buffer
			got := orphanCollector(cfg, nil, m, slog.New(slog.NewTextHandler(&logs, nil)))
			assert.Equal(t, tc.on, got != nil)
			if !tc.on {
				assert.Contains(t, logs.String(), tc.log)
			}
		})
	}
}
