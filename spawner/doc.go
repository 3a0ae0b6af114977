// Package spawner is kubedesk's spawner service: the only component with
// Kubernetes credentials. JupyterHub's KubedeskSpawner (spawner/python)
// drives it over a small REST API to start, poll, watch and stop desktop
// sessions; the service turns each request into a pod, a Secret with the
// hub's environment and a home PVC, and follows them through shared
// informers.
//
// Run wires the parts, each in its own internal package:
//
//   - config: flags, file and KUBEDESK_* environment into a typed Config;
//   - podspec: the Settings of a session and the objects built from them;
//   - profile: KubeSpawner-compatible profiles over those Settings;
//   - session: the state machine, informers, reconcile and progress;
//   - apps: the app pods launched from sessions;
//   - api: the REST API, its OpenAPI document and the ops endpoints;
//   - orphans: stops sessions whose server the hub no longer has (it asks
//     the hub with hubapi, the service's one request to the hub);
//   - metrics: everything Prometheus scrapes.
//
// Two packages of the service are public, for the parts outside it:
// catalog, the app catalog operators write (the chart's and the examples'
// tests parse it), and sessionapi, the wire types and client of the
// session routes, which the launcher agent in each session pod uses. The
// service imports nothing from launcher/.
package spawner
