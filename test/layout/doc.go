// Package layout holds the tests that keep the repository's shape as
// docs/architecture.md draws it, beside hack/verify.sh's linters:
//
//   - every Go package has one doc comment that names what it owns
//     ("Package x is ...", "Command x is ..." for a main package), and each
//     repository path a Go comment cites exists (a moved or deleted file is
//     not left named in the code that once pointed at it);
//   - the launcher agent's binaries (cmd/kubedesk-launcher, cmd/launch) link
//     no Kubernetes package, and the service (spawner/, cmd/kubedesk-spawner)
//     links nothing of launcher/, counting indirect imports too (depguard in
//     .golangci.yml sees only direct ones);
//   - every package with tests has a main_test.go whose TestMain runs them
//     under goleak.VerifyTestMain, so no test leaves a goroutine behind
//     unnoticed, a new package's included.
//
// They read the module through `go list`, so they run in `go test -short`.
package layout
