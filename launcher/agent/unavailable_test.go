package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubedesk.dev/kubedesk/launcher/launchapi"
	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// A session whose agent was given no service URL (the operator left
// session_service_url unset): the agent stays up and every caller, the
// launch CLI, JupyterLab and notebooks alike, gets the reason, and the
// desktop's menu has an entry that shows it.
func TestUnavailableAgentSaysWhy(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "kd") // a short path: Unix sockets
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg, cfgErr := ConfigFromEnv(func(k string) string {
		return map[string]string{EnvSocket: filepath.Join(dir, "launcher.sock")}[k]
	})
	if cfgErr == nil {
		t.Fatal("a configuration without a service URL was accepted")
	}
	sentence := misconfigured(cfg, cfgErr)
	if !strings.Contains(sentence, "session_service_url") {
		t.Errorf("the sentence does not name the operator's setting: %s", sentence)
	}
	mopts := menu.Options{DataHome: filepath.Join(dir, "data"), ConfigHome: filepath.Join(dir, "config")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runUnavailable(ctx, cfg, sentence, mopts, testLogger(t)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the unavailable agent did not stop cleanly: %v", err)
		}
	})
	waitForFile(t, cfg.Socket)

	lc := launchapi.NewClient(cfg.Socket)
	for what, call := range map[string]func() error{
		"catalog": func() error { _, err := lc.Catalog(ctx); return err },
		"launch":  func() error { _, err := lc.Launch(ctx, sessionapi.LaunchRequest{App: "xterm"}); return err },
		"list":    func() error { _, err := lc.List(ctx); return err },
	} {
		var e *sessionapi.Error
		if err := call(); !errors.As(err, &e) {
			t.Errorf("%s: %v, want the agent's refusal", what, err)
			continue
		}
		if e.Status != 503 || e.Code != CodeLauncherUnavailable || e.Message != sentence {
			t.Errorf("%s: %d %s %q, want 503 %s with the sentence", what, e.Status, e.Code, e.Message, CodeLauncherUnavailable)
		}
	}
	entry, err := os.ReadFile(filepath.Join(mopts.DataHome, menu.ApplicationsDir, menu.NoticeFile))
	if err != nil {
		t.Fatalf("no notice in the menu: %v", err)
	}
	if !strings.Contains(string(entry), "session_service_url") {
		t.Errorf("the menu's notice does not carry the sentence:\n%s", entry)
	}
}

// Until the service first answers, the menu says it cannot be reached;
// the first catalog replaces the notice.
func TestMenuNoticeUntilTheServiceAnswers(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	opts := menu.Options{DataHome: filepath.Join(home, "data"), ConfigHome: filepath.Join(home, "config")}
	// A port nothing listens on: the service is down.
	token := filepath.Join(home, "token")
	if err := os.WriteFile(token, []byte("tok-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := sessionapi.NewClient("http://127.0.0.1:1", token, nil)
	m := newMenuSync(down, opts, 0, testLogger(t))
	m.serviceURL = "http://127.0.0.1:1"
	if err := m.sync(context.Background()); err == nil {
		t.Fatal("a sync against a service that is down succeeded")
	}
	notice := filepath.Join(opts.DataHome, menu.ApplicationsDir, menu.NoticeFile)
	entry, err := os.ReadFile(notice)
	if err != nil {
		t.Fatalf("no notice in the menu: %v", err)
	}
	if !strings.Contains(string(entry), "cannot reach the kubedesk service at http://127.0.0.1:1") {
		t.Errorf("the notice does not say what failed:\n%s", entry)
	}

	svc := newFakeService(t, "tok-a")
	up, _ := svc.client(t, "tok-a")
	m.svc = up
	if err := m.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(notice); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the notice is still in the menu after the catalog came: %v", err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataHome, menu.ApplicationsDir, "kubedesk-itksnap_4.2.2.desktop")); err != nil {
		t.Errorf("the catalog's entry is missing: %v", err)
	}
}

// The local API's answer while the service is down names it.
func TestLocalAPIServiceDown(t *testing.T) {
	t.Parallel()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := sessionapi.NewClient("http://127.0.0.1:1", token, nil)
	lc := startLocalAPIAt(t, down, "http://127.0.0.1:1")
	_, err := lc.Catalog(context.Background())
	var e *sessionapi.Error
	if !errors.As(err, &e) || e.Code != CodeServiceUnreachable || !strings.Contains(e.Message, "cannot reach the kubedesk service at http://127.0.0.1:1 (connection refused)") {
		t.Fatalf("catalog with the service down: %v", err)
	}
}

// A session token that cannot be read is the agent's own trouble, not the
// service's: the answer says so rather than blame the network.
func TestLocalAPITokenMissing(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a")
	missing := sessionapi.NewClient(svc.srv.URL, filepath.Join(t.TempDir(), "token"), nil)
	lc := startLocalAPIAt(t, missing, svc.srv.URL)
	_, err := lc.Catalog(context.Background())
	var e *sessionapi.Error
	if !errors.As(err, &e) || e.Status != 503 || e.Code != CodeLauncherUnavailable || !strings.Contains(e.Message, "read the session token") {
		t.Fatalf("catalog without a token file: %v", err)
	}
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.After(waitShort)
	for _, err := os.Stat(path); err != nil; _, err = os.Stat(path) {
		select {
		case <-deadline:
			t.Fatalf("no %s", path)
		case <-time.After(5 * time.Millisecond): // polling a file, not asserting
		}
	}
}
