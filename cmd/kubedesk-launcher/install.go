package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installed are the programs `kubedesk-launcher install` copies: itself
// and the launch CLI, found next to it.
var installed = []string{"kubedesk-launcher", "launch"}

// install copies the programs in installed from srcDir into dstDir
// (created if missing), each through a temporary file renamed into place,
// mode 0755, so a desktop container that starts while it runs never sees
// half a binary. It is what the launcher image's init container runs: the
// image is distroless, with no shell or cp.
func install(srcDir, dstDir string) error {
	if dstDir == "" {
		return errors.New("install: no destination directory")
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	for _, name := range installed {
		if err := copyFile(filepath.Join(srcDir, name), filepath.Join(dstDir, name)); err != nil {
			return fmt.Errorf("install %s: %w", name, err)
		}
	}
	return nil
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return err
	}
	if err = tmp.Chmod(0o755); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// runInstall is `kubedesk-launcher install DIR`: it copies the programs
// from the directory of the running executable.
func runInstall(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: kubedesk-launcher install DIR")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := install(filepath.Dir(self), args[0]); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "kubedesk-launcher: installed %v into %s\n", installed, args[0])
	return err
}
