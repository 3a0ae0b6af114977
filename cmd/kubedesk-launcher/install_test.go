package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallCopiesBothPrograms(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "kubedesk", "bin")
	for _, name := range installed {
		require.NoError(t, os.WriteFile(filepath.Join(src, name), []byte("binary of "+name), 0o500))
	}
	require.NoError(t, install(src, dst))
	// Again, over the first copy: an init container that restarts.
	require.NoError(t, install(src, dst))

	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	require.Len(t, entries, len(installed), "no temporary files left")
	for _, name := range installed {
		data, err := os.ReadFile(filepath.Join(dst, name))
		require.NoError(t, err)
		assert.Equal(t, "binary of "+name, string(data))
		info, err := os.Stat(filepath.Join(dst, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), info.Mode().Perm(), "executable by the desktop's user")
	}
}

func TestInstallMissingProgramFails(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "kubedesk-launcher"), []byte("x"), 0o500))
	err := install(src, dst)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "install launch")
	_, statErr := os.Stat(filepath.Join(dst, "launch"))
	assert.True(t, os.IsNotExist(statErr))
}

func TestRunInstallUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	assert.ErrorContains(t, runInstall(nil, &out), "usage: kubedesk-launcher install DIR")
	assert.ErrorContains(t, runInstall([]string{"a", "b"}, &out), "usage")
	assert.ErrorContains(t, install(t.TempDir(), ""), "no destination")
}
