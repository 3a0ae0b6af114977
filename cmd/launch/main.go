// Command launch asks the session's launcher agent to start an app; the
// desktop's menu entries run it. See package launcher/launchcli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubedesk.dev/kubedesk/launcher/launchcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := launchcli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		stop()
		os.Exit(launchcli.ExitCode(err))
	}
}
