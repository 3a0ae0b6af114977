package menu

import (
	"testing"

	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// listingOf is what an agent gets of a catalog as operators write it: the
// service's listing of every entry (catalog.App.Listing), which the agent
// checks again (sessionapi.NewListing). The tests keep their fixtures in
// the catalog's YAML, the examples' among them, so the menu is shown to
// work from real catalogs.
func listingOf(t *testing.T, c *catalog.Catalog) *sessionapi.Listing {
	t.Helper()
	var apps []sessionapi.CatalogApp
	for _, a := range c.Apps() {
		apps = append(apps, a.Listing())
	}
	l, problems := sessionapi.NewListing(apps...)
	require.Empty(t, problems)
	return l
}
