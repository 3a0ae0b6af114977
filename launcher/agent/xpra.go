package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// AttachOptions are the xpra attach options the agent always passes: a
// seamless client on the desktop's X server with nothing a desktop in a pod
// lacks (GL, tray, sound, printing, dbus), lossless rgb over the pod
// network, and window titles without " on tcp://…". They are valid for
// Xpra 3.1 (Debian 12) and later.
var AttachOptions = []string{
	"--opengl=no",
	"--tray=no",
	"--notifications=no",
	"--speaker=off",
	"--microphone=off",
	"--webcam=no",
	"--printing=no",
	"--file-transfer=no",
	"--dbus-proxy=no",
	"--mmap=no",
	"--encoding=rgb",
	"--desktop-scaling=off",
	"--title=@title@",
}

// xpraAttacher runs `xpra attach tcp://host:port/ --password-file=F
// --encryption=AES --encryption-keyfile=K …`
// with DISPLAY and XAUTHORITY of the desktop.
type xpraAttacher struct {
	command []string // XpraCommand
	extra   []string // XpraAttachArgs
	// secretsDir holds the password and key files (0600 each); the agent uses the
	// socket's folder, /tmp/kubedesk (0700).
	secretsDir string
	display    func() (X, error)
	log        *slog.Logger
}

// attachArgs is the command line after the program: no secret in it, only
// the files that hold them. keyFile is empty for an unencrypted stream.
func (x *xpraAttacher) attachArgs(r route, passwordFile, keyFile string) []string {
	args := append([]string{}, x.command[1:]...)
	args = append(args, "attach", r.URI(), "--password-file="+passwordFile)
	if keyFile != "" {
		args = append(args, "--encryption=AES", "--encryption-keyfile="+keyFile)
	}
	args = append(args, AttachOptions...)
	return append(args, x.extra...)
}

// writeSecret writes a secret to a new 0600 file in dir, without a newline
// (xpra reads password and key files byte for byte).
func writeSecret(dir, pattern, secret string) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, werr := f.WriteString(secret)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", werr
	}
	return f.Name(), nil
}

// attachEnv is the agent's environment with the desktop's display, and
// without any XPRA_PASSWORD.
func attachEnv(base []string, d X) []string {
	env := make([]string, 0, len(base)+3)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case EnvDisplay, EnvXAuthority, "XPRA_PASSWORD", "NO_AT_BRIDGE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, EnvDisplay+"="+d.Display, "NO_AT_BRIDGE=1")
	if d.XAuthority != "" {
		env = append(env, EnvXAuthority+"="+d.XAuthority)
	}
	return env
}

// xpraAttachedLine is what xpra attach logs once its handshake with the
// server is done (Xpra 3.1: "Attached to tcp://host:port/").
const xpraAttachedLine = "Attached to "

// connectedAfter is when an attach that still runs counts as connected even
// though xpra did not log xpraAttachedLine (another version's wording):
// one that fails does so sooner (a refused connection at once, a wrong
// password within about 6 s).
const connectedAfter = 10 * time.Second

func (x *xpraAttacher) Attach(ctx context.Context, r route, connected func()) error {
	d, err := x.display()
	if err != nil {
		return err
	}
	// A missing password makes xpra attach open a dialog on the desktop
	// and hang, so there is always a file.
	pwFile, err := writeSecret(x.secretsDir, "xpra-password-*", r.Password)
	if err != nil {
		return fmt.Errorf("xpra attach: password file: %w", err)
	}
	defer os.Remove(pwFile)
	keyFile := ""
	if r.EncryptionKey != "" {
		if keyFile, err = writeSecret(x.secretsDir, "xpra-key-*", r.EncryptionKey); err != nil {
			return fmt.Errorf("xpra attach: encryption key file: %w", err)
		}
		defer os.Remove(keyFile)
	}

	// connected is called once, and never after Attach returns.
	var mu sync.Mutex
	fired, ended := false, false
	fire := func() {
		mu.Lock()
		defer mu.Unlock()
		if !fired && !ended {
			fired = true
			connected()
		}
	}
	defer func() { mu.Lock(); ended = true; mu.Unlock() }()
	timer := time.AfterFunc(connectedAfter, fire)
	defer timer.Stop()

	cmd := exec.CommandContext(ctx, x.command[0], x.attachArgs(r, pwFile, keyFile)...)
	cmd.Env = attachEnv(os.Environ(), d)
	// xpra detaches cleanly on SIGINT; WaitDelay kills it if it does not.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	out := &tailWriter{log: x.log.With("id", r.AppID), max: 8, onLine: func(line string) {
		if strings.Contains(line, xpraAttachedLine) {
			fire()
		}
	}}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("xpra attach %s: %w: %s", r.URI(), err, out.tail())
	}
	return nil
}

// tailWriter logs xpra's output at debug level and keeps its last lines
// for the error message.
type tailWriter struct {
	log *slog.Logger
	max int
	// onLine, if set, sees every line (outside the lock).
	onLine func(string)
	mu     sync.Mutex
	buf    []byte
	lines  []string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	var lines []string
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
		if line == "" {
			continue
		}
		t.log.Debug("xpra", "line", line)
		lines = append(lines, line)
		t.lines = append(t.lines, line)
		if len(t.lines) > t.max {
			t.lines = t.lines[1:]
		}
	}
	t.mu.Unlock()
	if t.onLine != nil {
		for _, l := range lines {
			t.onLine(l)
		}
	}
	return len(p), nil
}

func (t *tailWriter) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if rest := strings.TrimSpace(string(t.buf)); rest != "" {
		lines = append(lines, rest)
	}
	return strings.Join(lines, " | ")
}
