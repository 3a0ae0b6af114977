// Package apps starts, follows and stops app pods: one application launched
// from a desktop session, in its own pod with an Xpra sidecar that streams
// its windows back to the session (see docs/launch-design.md). It answers
// the session routes in the session API's types (spawner/sessionapi); the
// apps it launches come from the service's catalog (spawner/catalog).
//
// Every launch is checked before anything is created: the session must be
// running and its token must name the session's current pod; the app must be
// in the catalog and allowed for the session's profile; files must lie in the
// home directory, and be at most max_launch_files of max_launch_arg_bytes in
// all; the session must be under its app quota. The quota is checked under a
// lock per session and counts the launches in flight (admission), not only
// the pods the informer cache shows yet. App pods are owned
// by their session pod, so stopping a session garbage-collects its apps; each
// app's Xpra password Secret and NetworkPolicy are owned by the app pod.
//
// Status comes from a label-filtered informer on app pods, like sessions'.
// When an app exits its pod completes (the sidecar is a native sidecar that
// ends with the app) and the Manager deletes it.
//
// Every goroutine the Manager starts (the informer, those deletes) ends
// with Start's ctx, and Start returns only after them. Its own deletes are
// bounded by a timeout, not by the request or the shutdown: a delete under
// way when the service stops is finished (Manager.cleanupContext says why).
package apps
