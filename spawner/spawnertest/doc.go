// Package spawnertest runs the spawner service as a process for integration
// tests and benchmarks, and talks to its API the way the hub's shim does.
// The binary is built once per test process from cmd/kubedesk-spawner, so the
// tests exercise the very program operators run, its flags and environment
// included.
package spawnertest
