package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/launcher/launchapi"
	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// TestAgent wires every part with fakes: a launch through the socket
// becomes an attach once the service says the app runs; the menu is
// written; cancelling the context ends everything and removes the socket.
func TestAgent(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a")
	client, tokenFile := svc.client(t, "tok-a")
	hub := newFakeHub(t)
	dir, err := os.MkdirTemp("", "kd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := Config{ServiceURL: svc.srv.URL, TokenFile: tokenFile, Socket: filepath.Join(dir, "launcher.sock"),
		XpraCommand: []string{"xpra"}, ProxyAddr: "127.0.0.1:0", ActivityInterval: DefaultActivityInterval,
		User: "alice", HubAPIURL: hub.srv.URL + "/hub/api", HubAPIToken: "x"}
	att := newFakeAttacher()
	home := t.TempDir()
	a, err := New(cfg, Options{Logger: testLogger(t), Menu: menu.Options{DataHome: home + "/data", ConfigHome: home + "/config"},
		service: client, attacher: att, hub: hub.client(t)})
	if err != nil {
		t.Fatal(err)
	}
	a.sup.fast, a.sup.slow = 5*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()

	lc := launchapi.NewClient(cfg.Socket)
	var app sessionapi.App
	deadline := time.After(waitShort)
	// The socket's file exists once bound, a moment before it listens: wait
	// for a connection to be accepted, not for the file.
	for {
		conn, err := net.Dial("unix", cfg.Socket)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the socket does not accept connections: %v", err)
		case <-time.After(5 * time.Millisecond): // polling a socket, not asserting
		}
	}
	if app, err = lc.Launch(ctx, sessionapi.LaunchRequest{App: "itksnap"}); err != nil {
		t.Fatal(err)
	}
	if got := svc.launches(); len(got) != 1 || got[0].App != "itksnap" {
		t.Fatalf("the service got the launches %+v, want one of itksnap", got)
	}
	svc.setStatus("tok-a", app.ID, sessionapi.StatusRunning, &sessionapi.Xpra{Host: "10.0.0.3", Port: 14500, Password: "pw"})
	if r := recv(t, att.attached, "the attach"); r.AppID != app.ID {
		t.Fatalf("attached %+v", r)
	}
	cancel()
	if err := recv(t, done, "the agent to stop"); err != nil {
		t.Fatal(err)
	}
	recv(t, att.detached, "the detach at shutdown")
	if _, err := os.Stat(cfg.Socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
