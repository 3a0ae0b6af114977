// Package session is the spawner service's state machine: it starts, watches
// and stops desktop sessions (one pod, its hub-environment Secret and a home
// PVC per JupyterHub server) and answers status from memory.
//
// Kubernetes is the source of truth. The Manager keeps one label-filtered
// shared informer per kind (session pods, home PVCs, pod Events) and derives
// every status from their caches, so JupyterHub's polls never reach the API
// server. On start it rebuilds its sessions from the pods' labels and
// annotations before it declares itself ready, which is how a restarted
// service knows every running session, resumes waiting on the ones still
// starting and deletes nothing that the hub still owns.
//
// Each server has at most one operation (a spawn or a stop) at a time: a
// second spawn is refused as busy, a stop cancels a spawn in progress and then
// deletes, and concurrent stops share one deletion. Every operation writes a
// progress.Log in words a person understands, replayed to late readers.
package session
