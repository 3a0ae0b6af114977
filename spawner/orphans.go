package spawner

import (
	"log/slog"
	"net/http"
	"time"

	"kubedesk.dev/kubedesk/hubapi"
	"kubedesk.dev/kubedesk/spawner/internal/config"
	"kubedesk.dev/kubedesk/spawner/internal/metrics"
	"kubedesk.dev/kubedesk/spawner/internal/orphans"
)

// hubRequestTimeout bounds one request of orphan collection to the hub.
const hubRequestTimeout = 30 * time.Second

// orphanCollector is the orphan collector the configuration asks for, or
// nil when it is off; one that is half configured (a hub URL without a
// token, or the other way round) is off with a warning.
func orphanCollector(cfg config.Config, sessions orphans.Sessions, m *metrics.Spawner, log *slog.Logger) *orphans.Collector {
	if !cfg.OrphanCollection() {
		switch {
		case cfg.OrphanCollectionInterval == 0:
			log.Info("Orphan collection is off (orphan_collection_interval is 0)")
		case cfg.HubAPIURL == "" && cfg.HubAPIToken == "":
			log.Info("Orphan collection is off: no hub_api_url and hub_api_token_file to ask the hub with")
		default:
			log.Warn("Orphan collection is off: it needs both hub_api_url and a hub API token (hub_api_token_file), with list:users and read:servers")
		}
		return nil
	}
	hub := &hubapi.Client{BaseURL: cfg.HubAPIURL, Token: cfg.HubAPIToken, HTTPClient: &http.Client{Timeout: hubRequestTimeout}}
	return orphans.New(hub, sessions, orphans.Config{
		Interval:    cfg.OrphanCollectionInterval,
		Grace:       cfg.OrphanGracePeriod,
		DryRun:      cfg.OrphanDryRun,
		StopTimeout: cfg.StopTimeout,
	}, m, log.With("component", "orphans"))
}
