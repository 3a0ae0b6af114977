// Package api serves the spawner service's REST API (openapi.yaml, embedded
// and served at /api/v1/openapi.yaml) and its operations endpoints
// (/healthz, /readyz, /metrics).
//
// Every /api/v1 route but the OpenAPI document requires the hub's bearer
// token, compared in constant time. Session routes answer 503 until the
// session manager has rebuilt its state from the cluster, so that a service
// restarted under a running hub never reports a live server as gone.
// Errors are JSON objects {"code", "message", "field"} whose message is
// written for the person who will read it in JupyterHub.
package api
