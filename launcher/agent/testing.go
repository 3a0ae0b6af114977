package agent

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// ServeLaunchAPI serves only the launch API on socket, forwarding to the
// service at serviceURL with the token in tokenFile, until ctx ends; uid
// is the caller uid it accepts (-1: its own). Other programs' tests (the
// launch CLI's) use it to talk to a real agent socket without the rest of
// the agent.
func ServeLaunchAPI(ctx context.Context, socket, serviceURL, tokenFile string, uid int, hc *http.Client, log *slog.Logger) error {
	if uid < 0 {
		uid = os.Getuid()
	}
	l := &localAPI{socket: socket, svc: sessionapi.NewClient(serviceURL, tokenFile, hc), log: log, uid: uid, kick: func() {}}
	return l.Start(ctx)
}
