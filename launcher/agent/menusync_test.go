package agent

import (
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"kubedesk.dev/kubedesk/launcher/menu"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
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

// The menu's MIME package reaches the user's MIME database, which file
// managers read: a .nii.gz file is then application/x-nifti, whose app is
// the catalog's viewer.
func TestMenuUpdatesTheMIMEDatabase(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("update-mime-database"); err != nil {
		t.Skip("update-mime-database (shared-mime-info) is not installed")
	}
	c, problems := sessionapi.NewListing(sessionapi.CatalogApp{ID: "mricron", Version: "1", FileTypes: []string{".nii.gz", "application/x-nifti"}})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	home := t.TempDir()
	opts := menu.Options{DataHome: filepath.Join(home, "data"), ConfigHome: filepath.Join(home, "config"),
		KnownFileType: func(string) bool { return false }}
	if _, err := writeMenu(c, opts, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	globs, err := os.ReadFile(filepath.Join(opts.DataHome, "mime", "globs2"))
	if err != nil {
		t.Fatalf("no user MIME database: %v", err)
	}
	if !strings.Contains(string(globs), "application/x-nifti:*.nii.gz") {
		t.Errorf("the user's MIME database does not type .nii.gz:\n%s", globs)
	}
	if _, err := exec.LookPath("update-desktop-database"); err == nil {
		cache, err := os.ReadFile(filepath.Join(opts.DataHome, menu.ApplicationsDir, "mimeinfo.cache"))
		if err != nil || !strings.Contains(string(cache), "application/x-nifti=kubedesk-mricron_1.desktop;") {
			t.Errorf("the applications' mimeinfo.cache does not name the viewer for NIfTI (%v):\n%s", err, cache)
		}
	}
	// GIO, as a file manager asks it, on a gzip-compressed NIfTI: its
	// content says gzip, its name NIfTI, and the name must win.
	if _, err := exec.LookPath("gio"); err == nil {
		file := filepath.Join(home, "brain.nii.gz")
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		_, _ = zw.Write(make([]byte, 352))
		zw.Close()
		f.Close()
		cmd := exec.Command("gio", "info", "-a", "standard::content-type", file)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+opts.DataHome)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "standard::content-type: application/x-nifti") {
			t.Errorf("GIO's type of brain.nii.gz (%v):\n%s", err, out)
		}
	}
}
