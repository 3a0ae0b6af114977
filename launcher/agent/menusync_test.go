package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kubedesk.dev/kubedesk/launcher/menu"
)

func TestMenuWrittenFromTheCatalog(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a")
	client, _ := svc.client(t, "tok-a")
	home := t.TempDir()
	opts := menu.Options{DataHome: filepath.Join(home, "data"), ConfigHome: filepath.Join(home, "config")}
	m := newMenuSync(client, opts, 0, testLogger(t))
	if err := m.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(opts.DataHome, menu.ApplicationsDir, "kubedesk-itksnap_4.2.2.desktop"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Exec=launch itksnap 4.2.2 %F") {
		t.Errorf("entry does not run the launch CLI:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(opts.ConfigHome, menu.MergedMenusDir, "kubedesk-apps.menu")); err != nil {
		t.Errorf("no merged menu: %v", err)
	}

	// Start writes it too and stops with its context.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	cancel()
	if err := recv(t, done, "menu Start to return"); err != nil {
		t.Fatal(err)
	}
}
