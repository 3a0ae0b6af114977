// Package e2e holds end-to-end tests that put real components together: a
// real JupyterHub (from PyPI) with the KubedeskSpawner class, the spawner
// service binary, and the dev cluster's kube-apiserver. They skip under
// -short and expect hack/python-env.sh to have built the environments (make
// test does).
package e2e
