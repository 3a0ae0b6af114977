// Command pause is the real node's sandbox ("pause") process: it holds a
// pod's namespaces, reaps the zombies of a pod that shares its PID namespace,
// and exits on SIGINT or SIGTERM. The registry's pause image cannot be pulled
// here, so hack/real-node.sh builds this one into localhost/kubedesk/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			// Reap every exited child; WNOHANG returns 0 when none is left.
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
