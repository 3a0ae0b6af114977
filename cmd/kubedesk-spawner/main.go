// Command kubedesk-spawner is the service that JupyterHub drives to start
// desktop sessions on Kubernetes. See package spawner.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubedesk.dev/kubedesk/spawner"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := spawner.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kubedesk-spawner:", err)
		os.Exit(1)
	}
}
