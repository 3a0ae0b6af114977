// Command kubedesk-launcher is the launcher agent of a desktop session:
// menu, launch API for the launch CLI, xpra attach supervisor, activity
// reports and the HTML5 proxy. See package launcher/agent.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubedesk.dev/kubedesk/launcher/agent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := agent.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kubedesk-launcher:", err)
		stop()
		os.Exit(1)
	}
}
