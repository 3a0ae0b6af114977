// Package sessionapitest holds the tests' fakes of the session API to the
// service's contract, spawner/internal/api/openapi.yaml: Checked wraps a
// fake's handler so that every request it is sent and every response it
// writes is checked against the operation openapi.yaml documents for that
// method and path (the route exists, the status is documented for it, the
// body is of the documented media type and matches its schema). A fake
// that answers what the service never would fails the test that used it,
// so the launcher agent's tests (launcher/agent, launcher/launchcli) and
// sessionapi's own cannot pass against a service that does not exist.
//
// Parse reads openapi.yaml for the checks here and for
// spawner/internal/api's, which hold the wire types and the routes to it:
// one reading of the contract.
//
// It imports only the standard library and go.yaml.in/yaml/v3, not
// sessionapi (whose own tests use it) nor anything of Kubernetes (the
// launcher agent's tests use it, and the agent links none).
package sessionapitest
