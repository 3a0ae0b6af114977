// Package sessionapi is the session API's wire: the routes under
// /api/v1/session that the spawner service offers to the launcher agent of
// each session, the JSON documents they carry, and a Client for them. The
// service's handlers (spawner/internal/api) encode these types and the
// agent (launcher/agent) decodes them, so the two cannot drift apart; a
// test in spawner/internal/api holds them against the service's
// openapi.yaml, and the tests' fakes of the service answer as it says
// (package sessionapitest checks every request and answer).
//
//	GET    /api/v1/session/catalog    → 200 []CatalogApp, what the session's menus show
//	POST   /api/v1/session/apps       LaunchRequest → 202 App
//	GET    /api/v1/session/apps       → 200 []App, newest first
//	GET    /api/v1/session/apps/{id}  → 200 App
//	DELETE /api/v1/session/apps/{id}  → 204 (idempotent)
//
// Every call carries the session's token (Authorization: Bearer), which
// alone says which session it acts on. Errors are an Error document.
//
// # The session catalog
//
// A CatalogApp is what a menu shows of an entry of the service's catalog
// (spawner/catalog): no image, command, env, resources or placement, which
// stay with the service. What makes an entry valid on the wire is this
// package's too: CatalogApp.Check, the order of versions (CompareVersions)
// and the grouping of categories (Slug). The service loads its catalog by
// these rules, and the agent checks the catalog it is given by them again
// (NewListing) before it writes menu files named by IDs and versions.
//
// # Dependencies
//
// It imports only the standard library: the agent and the launch CLI link
// it (package launcher/launchapi hands these types out over the agent's
// local socket), and neither links Kubernetes. A test holds its checks of
// IDs and versions to k8s.io/apimachinery's.
package sessionapi
