package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestImageTableFile(t *testing.T) {
	// The table in the repository parses and has the rows the demo and the
	// tests rely on.
	data, err := os.ReadFile("images.yaml")
	require.NoError(t, err)
	rows, err := parseImageTable(data, "/repo")
	require.NoError(t, err)
	for image, argv0 := range map[string]string{
		"kubedesk/desktop:latest":      "/repo/images/desktop/entrypoint.sh",
		"kubedesk/desktop":             "/repo/images/desktop/entrypoint.sh",
		"kubedesk/example-xterm:1.2":   "xterm",
		"kubedesk/example-xeyes:1":     "xeyes",
		"kubedesk/test-shell:anything": "/bin/sh",
	} {
		row, ok := lookupImage(rows, image)
		require.True(t, ok, image)
		require.Equal(t, argv0, row.argv(nil, nil)[0], image)
	}
	desktop, _ := lookupImage(rows, "kubedesk/desktop:1")
	require.Equal(t, "/repo/.cache/desktop-bin:/repo/.cache/venv-desktop/bin:"+defaultPath, desktop.Env["PATH"], "the launcher binaries, then the desktop's Python")
	for _, image := range []string{"kubedesk/desktopx:1", "docker.io/library/busybox", "kubedesk/test-shell-2:1", ""} {
		_, ok := lookupImage(rows, image)
		require.False(t, ok, image)
	}
}

func TestDockerCommandSemantics(t *testing.T) {
	row := imageRow{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"default", "cmd"}}
	require.Equal(t, []string{"/entry", "-x", "default", "cmd"}, row.argv(nil, nil), "ENTRYPOINT + CMD")
	require.Equal(t, []string{"/entry", "-x", "a"}, row.argv(nil, []string{"a"}), "args replace CMD")
	require.Equal(t, []string{"sh"}, row.argv([]string{"sh"}, nil), "command replaces ENTRYPOINT and drops CMD")
	require.Equal(t, []string{"sh", "-c", "x"}, row.argv([]string{"sh"}, []string{"-c", "x"}))
	cmdOnly := imageRow{Cmd: []string{"bash"}}
	require.Equal(t, []string{"-l"}, cmdOnly.argv(nil, []string{"-l"}), "args replace a CMD-only image's command, as in Docker")
}

func TestParseImageTable(t *testing.T) {
	rows, err := parseImageTable([]byte(`
images:
  - image: "a/*:*"
    entrypoint: [bin/run.sh, --flag]
    env: {HOME: "${REPO}/home", KEEP: "${OTHER}"}
    workingDir: /w
  - image: "b:*"
    cmd: [scripts/b.sh]
`), "/r")
	require.NoError(t, err)
	require.Equal(t, []string{"/r/bin/run.sh", "--flag"}, rows[0].Entrypoint)
	require.Equal(t, "/r/home", rows[0].Env["HOME"])
	require.Equal(t, "${OTHER}", rows[0].Env["KEEP"], "only REPO and PATH expand")
	require.Equal(t, []string{"/r/scripts/b.sh"}, rows[1].Cmd)
	row, ok := lookupImage(rows, "a/x:1")
	require.True(t, ok)
	require.Equal(t, "/w", row.WorkingDir)

	for name, bad := range map[string]string{
		"unknown field": "images: [{image: x, entrypoint: [y], user: root}]",
		"no command":    "images: [{image: x}]",
		"no pattern":    "images: [{entrypoint: [y]}]",
		"bad pattern":   "images: [{image: '[', entrypoint: [y]}]",
	} {
		_, err := parseImageTable([]byte(bad), "/r")
		require.Error(t, err, name)
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"kubedesk/desktop":            "kubedesk/desktop:latest",
		"kubedesk/desktop:1":          "kubedesk/desktop:1",
		"localhost:5000/desktop":      "localhost:5000/desktop:latest",
		"localhost:5000/desktop:2":    "localhost:5000/desktop:2",
		"kubedesk/desktop@sha256:abc": "kubedesk/desktop@sha256:abc",
	} {
		require.Equal(t, want, normalizeImage(in), in)
	}
}

func TestImageTableReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "images.yaml")
	require.NoError(t, os.WriteFile(path, []byte("images: [{image: 'a:*', entrypoint: [x]}]"), 0o644))
	table, err := newImageTable(path, "/r")
	require.NoError(t, err)
	rows, _ := table.get()
	_, ok := lookupImage(rows, "b:1")
	require.False(t, ok)

	require.NoError(t, os.WriteFile(path, []byte("images: [{image: 'b:*', entrypoint: [x]}]"), 0o644))
	bumpMtime(t, path)
	rows, err = table.get()
	require.NoError(t, err)
	_, ok = lookupImage(rows, "b:1")
	require.True(t, ok, "a changed table is read again")

	require.NoError(t, os.WriteFile(path, []byte("images: [{"), 0o644))
	bumpMtime(t, path)
	rows, err = table.get()
	require.Error(t, err)
	_, ok = lookupImage(rows, "b:1")
	require.True(t, ok, "a broken table keeps the last good rows")
}

func bumpMtime(t *testing.T, path string) {
	fi, err := os.Stat(path)
	require.NoError(t, err)
	later := fi.ModTime().Add(2e9)
	require.NoError(t, os.Chtimes(path, later, later))
}
