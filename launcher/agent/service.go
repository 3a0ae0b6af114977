package agent

import (
	"context"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// sessionAPI is what the agent needs of the spawner service's session
// routes. *sessionapi.Client is the real one; tests fake the service with
// httptest.
type sessionAPI interface {
	// Catalog is the session's catalog as its menus show it: no image,
	// command or resources, which stay with the service.
	Catalog(ctx context.Context) ([]sessionapi.CatalogApp, error)
	Launch(ctx context.Context, req sessionapi.LaunchRequest) (sessionapi.App, error)
	List(ctx context.Context) ([]sessionapi.App, error)
	Get(ctx context.Context, id string) (sessionapi.App, error)
	Stop(ctx context.Context, id string) error
}
