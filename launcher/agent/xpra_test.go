package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestXpraAttacher runs a stand-in for xpra that records its arguments,
// DISPLAY and the password file.
func TestXpraAttacher(t *testing.T) { // not parallel: Setenv
	dir := t.TempDir()
	script := filepath.Join(dir, "xpra")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
out="$(dirname "$0")/out"
echo "$@" > "$out.args"
echo "$DISPLAY $XAUTHORITY $NO_AT_BRIDGE ${XPRA_PASSWORD:-none}" > "$out.env"
for a in "$@"; do case "$a" in
  --password-file=*) f="${a#--password-file=}"; cat "$f" > "$out.pw"; stat -c %a "$f" > "$out.mode";;
  --encryption-keyfile=*) f="${a#--encryption-keyfile=}"; cat "$f" > "$out.key"; stat -c %a "$f" >> "$out.mode";;
esac; done
[ -n "$ATTACHED" ] && echo "2026-11-24 06:00:00,000 Attached to tcp://10.0.0.9:14500/" >&2
echo "connection lost" >&2
exit 3
`), 0o755); err != nil {
		t.Fatal(err)
	}
	x := &xpraAttacher{command: []string{"/bin/sh", script}, extra: []string{"--border=auto"}, secretsDir: dir,
		display: func() (X, error) { return X{":5", "/tmp/xa"}, nil }, log: testLogger(t)}
	t.Setenv("XPRA_PASSWORD", "leak")
	connected := 0
	err := x.Attach(context.Background(), route{AppID: "a1", Host: "10.0.0.9", Port: 14500, Password: "pw\twith spaces", EncryptionKey: "k3y"}, func() { connected++ })
	if err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("error %v, want xpra's last words", err)
	}
	if connected != 0 {
		t.Errorf("an attach that never said it attached counted as connected")
	}
	read := func(name string) string { b, _ := os.ReadFile(filepath.Join(dir, name)); return string(b) }
	args := read("out.args")
	if !strings.HasPrefix(args, "attach tcp://10.0.0.9:14500/ --password-file=") || strings.Contains(args, "pw\twith") ||
		!strings.Contains(args, " --encryption=AES --encryption-keyfile=") || strings.Contains(args, "k3y") ||
		!strings.Contains(args, "--opengl=no") || !strings.HasSuffix(args, "--border=auto\n") {
		t.Errorf("args %q", args)
	}
	if got := read("out.env"); got != ":5 /tmp/xa 1 none\n" {
		t.Errorf("env %q", got)
	}
	if got := read("out.pw"); got != "pw\twith spaces" {
		t.Errorf("password file %q (no newline expected)", got)
	}
	if got := read("out.key"); got != "k3y" {
		t.Errorf("key file %q (no newline expected)", got)
	}
	if got := read("out.mode"); got != "600\n600\n" {
		t.Errorf("password and key file modes %q", got)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "xpra-*-*"))
	if len(left) != 0 {
		t.Errorf("secret files left: %v", left)
	}

	// A service that predates encryption sends no key: no encryption asked.
	os.Remove(filepath.Join(dir, "out.key"))
	_ = x.Attach(context.Background(), route{AppID: "a1", Host: "10.0.0.9", Port: 14500, Password: "pw"}, func() {})
	if args := read("out.args"); strings.Contains(args, "--encryption") || read("out.key") != "" {
		t.Errorf("args without a key %q", args)
	}

	// xpra's "Attached to …" line: the client connected (once).
	t.Setenv("ATTACHED", "1")
	_ = x.Attach(context.Background(), route{AppID: "a1", Host: "10.0.0.9", Port: 14500, Password: "pw"}, func() { connected++ })
	if connected != 1 {
		t.Errorf("connected called %d times after xpra attached, want 1", connected)
	}
}
