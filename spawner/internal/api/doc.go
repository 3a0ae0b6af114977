// Package api serves the spawner service's REST API (openapi.yaml, embedded
// and served at /api/v1/openapi.yaml) and its operations endpoints
// (/healthz, /readyz, /metrics).
//
// Every /api/v1 route but the OpenAPI document requires the hub's bearer
// token, compared in constant time. Session routes answer 503 until the
// session manager has rebuilt its state from the cluster, so that a service
// restarted under a running hub never reports a live server as gone. A
// replica that stands by for the leader (spawner/internal/leader) answers
// every route but the OpenAPI document with 503, code standby, and its
// /readyz fails, so that a Kubernetes Service routes only to the leader.
// Errors are JSON objects {"code", "message", "field"} (sessionapi.Error)
// whose message is written for the person who will read it in JupyterHub.
//
// The session routes (/api/v1/session/*, the launcher agent's, with a
// session token instead of the hub's) speak spawner/sessionapi's types.
// Two tests keep openapi.yaml true: every documented operation is served
// and every served route documented (TestOpenAPIMatchesRoutes), and the
// schemas of the session API have the fields of its Go types
// (TestOpenAPIMatchesWireTypes).
package api
