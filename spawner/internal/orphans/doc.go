// Package orphans owns the spawner service's orphan collection: it compares
// the sessions the service runs with the servers JupyterHub has, and stops
// the sessions whose server the hub no longer has, so that their pods,
// hub-environment Secrets and spawn intents do not outlive it (a hub whose
// database was restored, a user deleted while the service was away, a stop
// the hub gave up on).
//
// # What counts as an orphan
//
// A round (Collector.Collect) first copies the service's sessions, then asks
// the hub for its users with an active server (GET /hub/api/users?state=active,
// every page). JupyterHub records a server (and lists it as active, pending
// "spawn") before it calls Spawner.start(), which is when the shim asks the
// service, and until its stop is done, so a session the hub has is listed
// whatever it is doing (JupyterHub's users API filters state=active on that
// record, and user models list every server that is pending or ready);
// and since the sessions were copied
// before the hub was asked, a session the service knew of then was already
// known to the hub when it answered. A session the hub does not list is a
// candidate, and becomes an orphan only when:
//
//   - it is older than the grace period (Config.Grace, from its start as
//     the service recorded it, else from the round that first found it
//     missing): a spawn's pod that just appeared is left alone whatever the
//     hub's answer was;
//   - the hub confirms it for that one user (GET /hub/api/users/{name}): the
//     user is gone (404), or has no such server. Pages of the list are
//     separate requests, and a user deleted meanwhile shifts the next page,
//     so a user missing from the list alone proves nothing.
//
// # When it does nothing
//
// Every doubt keeps the sessions. A round needs the hub to answer, and its
// token (Config: hub_api_url, hub_api_token_file) to hold list:users and
// read:servers unfiltered; WhoAmI checks that at the start of every round
// and a warning names what is missing (hubapi.MissingScopes). A token
// without read:servers gets user models without servers, which would make
// every server look gone: a model without its "servers" field also ends the
// round. A session that is stopping is left to its stop.
//
// # What it removes, and how
//
// An orphan is stopped through the session manager's own stop
// (session.Manager.Stop), the one way the service deletes a session: the
// pod (read first, UID precondition), with it through ownerReferences its
// hub-environment Secret, its app pods and their Secrets, and the spawn's
// intent (Lease and Secret). The home PVC stays: a stop never deletes it,
// and only the hub's delete_forever does. Each object gets one log line
// ("Orphan collected", with kind and name) and counts in
// kubedesk_spawner_orphans_total{kind,action}. In dry-run mode
// (Config.DryRun) nothing is stopped: each object is logged and counted as
// would_collect, once for as long as it stays an orphan.
//
// The collector starts once the session manager is ready (it has rebuilt its
// view of the cluster), runs a round at once and then every Config.Interval.
package orphans
