// Package podspec builds the Kubernetes objects of a desktop session: the pod,
// the Secret with the hub's environment, and the home PVC. The builders are
// pure functions of their input, so the objects are tested as golden files
// (go test ./spawner/internal/podspec -update rewrites testdata) and the
// service stays the only place that talks to the API server.
//
// Settings carries KubeSpawner's trait names, so a Zero to JupyterHub
// profileList moves over unchanged: start from Defaults, overlay the operator's
// defaults and the profile, then Validate before building anything.
//
// NewNames computes names the way KubeSpawner 7's "safe" slug scheme does
// (pod jupyter-<user_server>, PVC claim-<user_server>, Secret = pod): any
// JupyterHub user or server name maps to a valid DNS label, different names
// never meet, and homes created by KubeSpawner are found again.
//
// Every session pod is non-root, drops all capabilities, forbids privilege
// escalation, uses the RuntimeDefault seccomp profile and mounts no service
// account token (ARCHITECTURE.md, trust boundary 3). The hub's API token lives
// only in the Secret built by HubEnvSecret, which the pod owns.
package podspec
