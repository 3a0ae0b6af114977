// Package metrics defines the spawner service's Prometheus metrics in one
// place, so that operators find every name, label and help text together.
// Everything is registered on an injected prometheus.Registerer: tests use a
// fresh registry and never touch the global one.
package metrics
