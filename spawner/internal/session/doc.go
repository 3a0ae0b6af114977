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
// A spawn is acknowledged only once its intent is in the cluster (intent.go,
// podspec.IntentLease): the rebuild reads the intents too, so a spawn the
// previous run acknowledged and had not created the pod of is carried out
// under the recorded names, and a repeated request (Spec.Request) is the
// same spawn, not a second one.
//
// Each server has at most one operation (a spawn or a stop) at a time: a
// second spawn is refused as busy, a stop cancels a spawn in progress and then
// deletes, and concurrent stops share one deletion. Every operation writes a
// progress.Log in words a person understands, replayed to late readers.
//
// Nothing is reused by name alone. Hashed names can collide (see podspec), so
// a home PVC, a pod or a Secret found under a session's name is used only
// when its raw-name annotations name the same user and server
// (podspec.OwnerOf); a home PVC without annotations (KubeSpawner's oldest)
// only when its name is not hashed (podspec.MayUseHome). Anything else
// refuses the spawn with code name_conflict, before anything is created when
// the informer caches show it, otherwise as the spawn's failure reason; the
// other user's objects are neither mounted, updated nor deleted (a stop
// deletes a pod only after reading that it is the session's own, with a UID
// precondition).
//
// The files follow an operation's life: spawn.go (a spawn, from the request
// to a ready pod or a failure), create.go (the objects it creates, in
// order), intent.go (its record in the cluster), stop.go, resume.go (the
// rebuild after a restart), watch.go (the informers' handlers), status.go
// (what is answered from memory), ownership.go (whose an object found by
// name is), assess.go (a pod's status in a person's words) and retry.go
// (API server hiccups).
package session
