package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// The codes of the local API's answers when apps are unavailable.
const (
	// CodeLauncherUnavailable: the agent cannot work at all (its settings
	// are wrong); only an operator can fix it.
	CodeLauncherUnavailable = "launcher_unavailable"
	// CodeServiceUnreachable: the agent runs but the service does not
	// answer; it may come back by itself.
	CodeServiceUnreachable = "service_unreachable"
)

// misconfigured is the sentence a user sees when the agent's settings are
// wrong: it says what is missing and who can fix it. The spawner service
// gives session pods their settings, so a missing service URL is always the
// operator's setting session_service_url.
func misconfigured(cfg Config, err error) string {
	if cfg.ServiceURL == "" {
		return "Apps are unavailable in this session: it was not told where the kubedesk service is " +
			"(no " + EnvServiceURL + "). Tell your operator: the spawner service needs session_service_url " +
			"(the Helm chart sets it)."
	}
	return "Apps are unavailable in this session: its launcher's settings are wrong (" + oneLine(err.Error()) +
		"). Tell your operator."
}

// unreachable is the sentence a user sees while the service does not
// answer. Of the error it keeps the cause ("connection refused"), not the
// chain of calls that led there, which names the URL again.
func unreachable(serviceURL string, err error) string {
	cause := oneLine(err.Error())
	if i := strings.LastIndex(cause, ": "); i >= 0 {
		cause = cause[i+2:]
	}
	return fmt.Sprintf("Apps are unavailable right now: this session cannot reach the kubedesk service at %s (%s). "+
		"They come back when it answers; if this lasts, tell your operator.", serviceURL, cause)
}

// oneLine puts an error's text on one line, for a sentence.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runUnavailable is what the agent does when it cannot work: instead of
// exiting (and leaving JupyterLab a bare 502 and the desktop an empty
// menu), it says why, where users look. The desktop's menu gets one entry
// that shows the sentence, and every call of the local API (the launch CLI,
// JupyterLab, notebooks) is answered 503 with it. It runs until ctx ends.
func runUnavailable(ctx context.Context, cfg Config, sentence string, mopts menu.Options, log *slog.Logger) error {
	socket := cfg.Socket
	if !filepath.IsAbs(socket) {
		socket = DefaultSocket
	}
	if err := writeNotice(mopts, sentence); err != nil {
		log.Warn("Writing the menu's notice failed", "err", err)
	}
	ln, err := listenUnix(socket)
	if err != nil {
		return err
	}
	uid := os.Getuid()
	e := &sessionapi.Error{Status: http.StatusServiceUnavailable, Code: CodeLauncherUnavailable, Message: sentence}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       peerContext(log),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if peer, _ := r.Context().Value(peerKey{}).(int); peer != uid {
				writeError(w, &sessionapi.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "Only the session's user may use the launcher."})
				return
			}
			writeError(w, e)
		}),
	}
	log.Error("Launcher agent unavailable; answering every call with the reason", "reason", sentence, "socket", socket)
	return serve(ctx, srv, ln, func() { _ = os.Remove(socket) })
}

// writeNotice replaces the menu with the notice alone.
func writeNotice(mopts menu.Options, sentence string) error {
	if mopts.DataHome == "" || mopts.ConfigHome == "" {
		d, err := menu.DefaultOptions()
		if err != nil {
			return err
		}
		mopts.DataHome, mopts.ConfigHome = d.DataHome, d.ConfigHome
	}
	mopts.Notice = sentence
	empty, _ := sessionapi.NewListing()
	_, err := writeMenu(empty, mopts, slog.New(slog.DiscardHandler))
	return err
}

// isUnreachable tells a service that did not answer from one that
// refused, and from the agent's own trouble (its token file, say).
func isUnreachable(err error) bool { return errors.Is(err, sessionapi.ErrUnreachable) }
