package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// defaultPath is the PATH a container starts with, Docker's default.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imageRow is one row of images.yaml: what an image "is" on this host.
type imageRow struct {
	// Image is a path.Match pattern against the normalised image reference.
	Image string `json:"image"`
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// Env is the image's ENV; ${REPO} and ${PATH} are expanded at load.
	Env map[string]string `json:"env,omitempty"`
	// WorkingDir is the image's WORKDIR.
	WorkingDir string `json:"workingDir,omitempty"`
}

type imageFile struct {
	Images []imageRow `json:"images"`
}

// parseImageTable reads the table and resolves it against the repository:
// repo-relative entrypoints become absolute, env values are expanded.
func parseImageTable(data []byte, repo string) ([]imageRow, error) {
	var f imageFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	for i := range f.Images {
		r := &f.Images[i]
		if r.Image == "" {
			return nil, fmt.Errorf("row %d: no image pattern", i+1)
		}
		if _, err := path.Match(r.Image, ""); err != nil {
			return nil, fmt.Errorf("row %d: image pattern %q: %w", i+1, r.Image, err)
		}
		if len(r.Entrypoint) == 0 && len(r.Cmd) == 0 {
			return nil, fmt.Errorf("row %d (%s): neither entrypoint nor cmd", i+1, r.Image)
		}
		r.Entrypoint = slices.Clone(r.Entrypoint)
		r.Cmd = slices.Clone(r.Cmd)
		if len(r.Entrypoint) > 0 {
			r.Entrypoint[0] = repoPath(r.Entrypoint[0], repo)
		} else {
			r.Cmd[0] = repoPath(r.Cmd[0], repo)
		}
		for k, v := range r.Env {
			r.Env[k] = os.Expand(v, func(name string) string {
				switch name {
				case "REPO":
					return repo
				case "PATH":
					return defaultPath
				}
				return "${" + name + "}"
			})
		}
	}
	return f.Images, nil
}

// repoPath makes a word with a slash that is not absolute relative to the
// repository ("images/desktop/entrypoint.sh"); bare names stay PATH lookups.
func repoPath(word, repo string) string {
	if strings.Contains(word, "/") && !filepath.IsAbs(word) {
		return filepath.Join(repo, word)
	}
	return word
}

// normalizeImage adds ":latest" to a reference without tag or digest, so
// that "kubedesk/desktop" matches "kubedesk/desktop:*" as Docker would pull
// kubedesk/desktop:latest.
func normalizeImage(ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") {
		return ref + ":latest"
	}
	return ref
}

func lookupImage(rows []imageRow, image string) (imageRow, bool) {
	ref := normalizeImage(image)
	for _, r := range rows {
		if ok, _ := path.Match(r.Image, ref); ok {
			return r, true
		}
	}
	return imageRow{}, false
}

// argv applies Docker's rules: a container command replaces ENTRYPOINT and
// drops CMD; container args replace CMD.
func (r imageRow) argv(command, args []string) []string {
	if len(command) > 0 {
		return slices.Concat(command, args)
	}
	cmd := r.Cmd
	if len(args) > 0 {
		cmd = args
	}
	return slices.Concat(r.Entrypoint, cmd)
}

// imageTable is images.yaml, re-read when its modification time changes so
// that a row added while the dev node runs takes effect on the next retry.
type imageTable struct {
	path, repo string

	mu    sync.Mutex
	mtime time.Time
	rows  []imageRow
	err   error
}

func newImageTable(path, repo string) (*imageTable, error) {
	t := &imageTable{path: path, repo: repo}
	if _, err := t.get(); err != nil {
		return nil, err
	}
	return t, nil
}

// get returns the current rows. A file that stops parsing keeps the last
// good rows (and reports the error) rather than fail every pod.
func (t *imageTable) get() ([]imageRow, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil {
		return t.rows, fmt.Errorf("image table %s: %w", t.path, err)
	}
	if fi.ModTime().Equal(t.mtime) {
		return t.rows, t.err
	}
	data, err := os.ReadFile(t.path)
	if err == nil {
		var rows []imageRow
		rows, err = parseImageTable(data, t.repo)
		if err == nil {
			t.rows = rows
		}
	}
	if err != nil {
		err = fmt.Errorf("image table %s: %w", t.path, err)
	}
	t.mtime, t.err = fi.ModTime(), err
	return t.rows, err
}
