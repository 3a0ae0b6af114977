package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"kubedesk.dev/kubedesk/launcher/launchapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// startLocalAPI serves the launch API for svc on a fresh socket, letting in
// callers of uid, and returns a client of it.
func startLocalAPI(t *testing.T, svc sessionAPI, uid int) *launchapi.Client {
	t.Helper()
	return startLocalAPIFor(t, svc, uid, "")
}

// startLocalAPIAt is startLocalAPI for the agent's own uid, with the
// service's URL that its messages name.
func startLocalAPIAt(t *testing.T, svc sessionAPI, serviceURL string) *launchapi.Client {
	t.Helper()
	return startLocalAPIFor(t, svc, os.Getuid(), serviceURL)
}

func startLocalAPIFor(t *testing.T, svc sessionAPI, uid int, serviceURL string) *launchapi.Client {
	t.Helper()
	// Not t.TempDir: a Unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "kd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &localAPI{socket: filepath.Join(dir, "launcher.sock"), svc: svc, serviceURL: serviceURL, log: testLogger(t), uid: uid, kick: func() {}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the local API did not stop cleanly: %v", err)
		}
	})
	waitForFile(t, l.socket)
	return launchapi.NewClient(l.socket)
}

func TestLocalAPICatalog(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a")
	svc.catalog[0].FileTypes = []string{".nii.gz", "application/dicom"}
	svc.catalog[0].Icon = "itksnap"
	client, _ := svc.client(t, "tok-a")
	lc := startLocalAPI(t, client, os.Getuid())

	list, err := lc.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("catalog has %d apps, want 2: %+v", len(list), list)
	}
	got := list[0]
	want := sessionapi.CatalogApp{ID: "itksnap", Name: "ITK-SNAP", Version: "4.2.2", Icon: "itksnap",
		Categories: []string{"visualization"}, FileTypes: []string{".nii.gz", "application/dicom"}}
	if got.ID != want.ID || got.Name != want.Name || got.Version != want.Version || got.Icon != want.Icon ||
		!slices.Equal(got.Categories, want.Categories) || !slices.Equal(got.FileTypes, want.FileTypes) {
		t.Errorf("catalog[0] = %+v, want %+v", got, want)
	}
}

// The service's refusal reaches the client with its status, code and
// message unchanged; a caller of another uid is refused before the service
// is asked.
func TestLocalAPICatalogErrors(t *testing.T) {
	t.Parallel()
	svc := newFakeService(t, "tok-a")
	stale, _ := svc.client(t, "tok-gone")
	var e *sessionapi.Error
	_, err := startLocalAPI(t, stale, os.Getuid()).Catalog(context.Background())
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != "invalid_token" || e.Message != "The session token is not valid." {
		t.Errorf("stale token: got %#v", err)
	}

	client, _ := svc.client(t, "tok-a")
	_, err = startLocalAPI(t, client, os.Getuid()+1).Catalog(context.Background())
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Code != "forbidden" {
		t.Errorf("another uid: got %#v", err)
	}
}
