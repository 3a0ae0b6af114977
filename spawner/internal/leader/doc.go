// Package leader owns the choice of which replica of the spawner service
// acts: with leader_election on, every replica competes for one Lease
// (client-go's leaderelection with a resourcelock.LeaseLock in the
// service's namespace), and only its holder runs the session manager, the
// app manager and the token renewer. The others stand by: their API
// answers 503 with Retry-After and their /readyz fails, so a Kubernetes
// Service sends the hub only to the leader.
//
// A failover is a restart from the hub's point of view. The new leader
// starts its managers from nothing, and they rebuild every session from
// the cluster (informers, the spawn intents) before the service is ready,
// exactly as after a restart of a single replica (docs/architecture.md,
// "After a restart"). Nothing is handed over between replicas but the
// Lease.
//
// Two leaders never act at once: a leader that cannot renew the Lease
// within RenewDeadline stops its managers and Run returns ErrLost, so the
// process exits and Kubernetes starts it again as a standby; a standby
// takes the Lease only LeaseDuration after it last saw it renewed, which is
// longer. A graceful stop (SIGTERM, a rolling update) stops the managers
// first and then releases the Lease, so a standby takes over at once.
// Without leader_election the one process acts from its start, as before.
package leader
