// Package helm holds the tests of the kubedesk Helm chart (helm/kubedesk)
// and of the Zero to JupyterHub example beside it (examples/z2jh). They run
// helm built from its Go module (hack/helm.sh, into .cache/bin):
//
//   - helm lint --strict and helm template for the default values and each
//     example, with golden files of the renders (go test ./helm -update, or
//     make update-helm);
//   - the values schema rejects misspelt keys and names them;
//   - every rendered configuration loads in the spawner service
//     (kubedesk-spawner --check), so the examples cannot drift from the code;
//   - against the dev cluster: the renders pass a server-side dry run, one is
//     really applied, and the spawner service, run on this machine from the
//     rendered ConfigMap, Secret and Deployment environment with a token of
//     the rendered ServiceAccount, serves a spawn, which proves the Role is
//     enough.
//
// Under -short, the tests that need helm run only when it is already built,
// and the dev cluster tests skip.
package helm
