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
// JupyterHub user or server name maps to a valid DNS label, and homes created
// by KubeSpawner are found again. Names that need hashing carry only 32 bits
// of SHA-256, so two different user names can meet (a pair is found in well
// under a second); names are therefore never proof of ownership, and OwnerOf
// checks the raw-name annotations of anything found under a session's name
// before it is used.
//
// The hash is not widened, on purpose: every hashed name would change, so a
// hub moving from KubeSpawner (or from an earlier kubedesk) would look for
// its users' homes under new names; keeping them findable would mean trying
// the old name too, which brings back the very collision. With the
// ownership checks a collision can refuse a spawn (the user gets a sentence
// for the operator, kubedesk_spawner_name_conflicts_total counts it) but
// cannot hand one user another's volume, pod or Secret.
//
// Every session pod is non-root, drops all capabilities, forbids privilege
// escalation, uses the RuntimeDefault seccomp profile and mounts no service
// account token (docs/architecture.md, trust boundary 3). The hub's API
// token lives only in the Secret built by HubEnvSecret, which the pod owns.
package podspec
