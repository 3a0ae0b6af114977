// Command kubedesk-launcher is the launcher agent of a desktop session:
// menu, launch API for the launch CLI, xpra attach supervisor, activity
// reports and the HTML5 proxy. See package launcher/agent.
//
// `kubedesk-launcher install DIR` instead copies itself and the launch CLI
// (from its own directory) into DIR and exits: the launcher image's init
// container puts them in a volume the desktop container shares, so a
// desktop image that does not carry them (Neurodesk's) runs unmodified.
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
	if len(os.Args) > 1 && os.Args[1] == "install" {
		if err := runInstall(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "kubedesk-launcher:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	if err := agent.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kubedesk-launcher:", err)
		stop()
		os.Exit(1)
	}
}
