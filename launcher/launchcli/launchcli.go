// Package launchcli is the launch command that desktop menu entries run
// (Exec=launch <id> <version> %F): it asks the launcher agent, over its
// Unix socket, to launch an app, and can list and stop the session's apps.
//
//	launch [--wait] <app> [version] [files...]
//	launch --list
//	launch --stop <id>
//
// The second argument is the version unless it names an existing file or
// holds a "/"; "" means the newest version. Relative file paths are made
// absolute against the working directory before they are sent, since the
// agent and the service do not share it. The socket is
// $KUBEDESK_LAUNCHER_SOCKET, else /tmp/kubedesk/launcher.sock.
//
// Errors are printed as the service words them ("launch: No app named
// itksnapp; did you mean itksnap?"). Exit codes: 0 success, 1 the request
// was refused or the app failed, 2 usage, 3 the agent is not reachable.
package launchcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"kubedesk.dev/kubedesk/launcher/launchapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Exit codes.
const (
	ExitFailure     = 1
	ExitUsage       = 2
	ExitUnreachable = 3
)

// ExitError carries the exit code of a failure.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process exit code for err: 0 for nil, ExitError's Code,
// else ExitFailure.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailure
}

// CLI is the launch command with its surroundings made explicit.
type CLI struct {
	// Socket is the agent's socket.
	Socket string
	// Dir resolves relative file arguments.
	Dir string
	// Stat tells files from versions; nil means os.Stat.
	Stat func(string) (os.FileInfo, error)
	// PollInterval is how often --wait asks for the app's status.
	PollInterval time.Duration
}

// Run is the launch program: the socket from the environment, files
// relative to the working directory.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("find the working directory: %w", err)
	}
	socket := os.Getenv(launchapi.EnvSocket)
	if socket == "" {
		socket = launchapi.DefaultSocket
	}
	return (&CLI{Socket: socket, Dir: dir}).Run(ctx, args, stdout, stderr)
}

const usage = `usage: launch [--wait] <app> [version] [files...]
       launch --list
       launch --stop <id>
`

func usageError(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format+"\n"+usage, a...)}
}

// Run runs the command with args (without the program name).
func (c *CLI) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	list := fs.Bool("list", false, "list the session's apps")
	stop := fs.String("stop", "", "stop the app with this id")
	wait := fs.Bool("wait", false, "wait until the app runs (or fails)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long --wait waits")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return usageError("%v", err)
	}
	rest := fs.Args()
	client := launchapi.NewClient(c.Socket)
	switch {
	case *list:
		if len(rest) > 0 || *stop != "" {
			return usageError("--list takes no other arguments")
		}
		return c.list(ctx, client, stdout)
	case *stop != "":
		if len(rest) > 0 {
			return usageError("--stop takes only the app's id")
		}
		if err := client.Stop(ctx, *stop); err != nil {
			return failure(err)
		}
		fmt.Fprintf(stdout, "Stopping %s.\n", *stop)
		return nil
	case len(rest) == 0:
		return usageError("name the app to launch")
	}
	req := sessionapi.LaunchRequest{App: rest[0]}
	files := rest[1:]
	if len(files) > 0 && c.isVersion(files[0]) {
		req.Version, files = files[0], files[1:]
	}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(c.Dir, f)
		}
		req.Files = append(req.Files, filepath.Clean(f))
	}
	a, err := client.Launch(ctx, req)
	if err != nil {
		return failure(err)
	}
	fmt.Fprintf(stdout, "Launching %s %s (id %s); its window appears when it is ready.\n", a.App, a.Version, a.ID)
	if !*wait {
		return nil
	}
	return c.wait(ctx, client, a, *timeout, stdout)
}

// isVersion tells a version from a file argument: a version names no
// existing file and holds no "/".
func (c *CLI) isVersion(arg string) bool {
	if arg == "" {
		return true
	}
	if strings.ContainsRune(arg, '/') {
		return false
	}
	stat := c.Stat
	if stat == nil {
		stat = os.Stat
	}
	p := arg
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Dir, p)
	}
	_, err := stat(p)
	return err != nil
}

func (c *CLI) wait(ctx context.Context, client *launchapi.Client, a sessionapi.App, timeout time.Duration, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	every := c.PollInterval
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		switch a.Status {
		case sessionapi.StatusRunning:
			fmt.Fprintf(stdout, "%s is running.\n", a.ID)
			return nil
		case sessionapi.StatusFailed, sessionapi.StatusEnded, sessionapi.StatusStopping:
			msg := a.Message
			if msg == "" {
				msg = "no reason given"
			}
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s %s: %s", a.ID, a.Status, msg)}
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s is still %s after %s", a.ID, a.Status, timeout)}
		case <-t.C:
		}
		next, err := client.Get(ctx, a.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return failure(err)
		}
		a = next
	}
}

func (c *CLI) list(ctx context.Context, client *launchapi.Client, stdout io.Writer) error {
	apps, err := client.List(ctx)
	if err != nil {
		return failure(err)
	}
	if len(apps) == 0 {
		fmt.Fprintln(stdout, "No apps in this session.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tVERSION\tSTATUS\tMESSAGE")
	for _, a := range apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.App, a.Version, a.Status, a.Message)
	}
	return tw.Flush()
}

// failure turns an agent or service error into a readable one with its
// exit code.
func failure(err error) error {
	var e *sessionapi.Error
	switch {
	case errors.Is(err, launchapi.ErrAgentUnreachable):
		return &ExitError{Code: ExitUnreachable, Err: err}
	case errors.As(err, &e):
		return &ExitError{Code: ExitFailure, Err: e}
	}
	return &ExitError{Code: ExitFailure, Err: err}
}
