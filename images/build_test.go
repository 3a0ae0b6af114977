package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The images' build test: hack/images.sh (`make images`) builds every
// Dockerfile with buildah, and each built image is inspected against its
// Dockerfile. It needs root (buildah's chroot isolation and overlay
// storage) and, on a fresh machine, Debian's and PyPI's mirrors. A cold
// build takes about 6.5 minutes on 2 cores (plus the binaries and the
// JupyterLab extension's wheel), a warm one seconds, so it runs in
// `make test`; it is skipped under -short, when not root, and with
// KUBEDESK_IMAGES_TEST=0.

// build is one line of `hack/images.sh plan`.
type build struct {
	dockerfile, context string
	tags                []string
	flags               []string
}

func imagesScript(t *testing.T) string {
	return filepath.Join(repoRoot(t), "hack", "images.sh")
}

func runScript(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, imagesScript(t), args...)
	cmd.Dir = repoRoot(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func buildPlan(t *testing.T) []build {
	t.Helper()
	out, err := runScript(t, time.Minute, "plan")
	require.NoError(t, err, out)
	var plan []build
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 4, "plan line %q", line)
		plan = append(plan, build{f[0], f[1], strings.Split(f[2], ","), strings.Fields(f[3])})
	}
	return plan
}

// imageIDs are the IDs of every tag the plan builds.
func imageIDs(t *testing.T, plan []build) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, b := range plan {
		for _, tag := range b.tags {
			out, err := buildah(t, "inspect", "--type", "image", "--format", "{{.FromImageID}}", tag)
			require.NoError(t, err, "buildah inspect %s: %s", tag, out)
			ids[tag] = strings.TrimSpace(out)
		}
	}
	return ids
}

// buildah runs buildah on the project's image storage.
func buildah(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runScript(t, 5*time.Minute, append([]string{"buildah"}, args...)...)
}

// imageConfig is the part of `buildah inspect --type image` checked here.
type imageConfig struct {
	OCIv1 struct {
		Config struct {
			User       string   `json:"User"`
			Entrypoint []string `json:"Entrypoint"`
			Cmd        []string `json:"Cmd"`
			WorkingDir string   `json:"WorkingDir"`
			Env        []string `json:"Env"`
		} `json:"config"`
	} `json:"OCIv1"`
}

// finalStage is what a Dockerfile's last stage says about the image.
type finalStage struct {
	user                  string
	entrypoint, cmd       []string
	entrypointSet, cmdSet bool
	copies                []copyInstr
}

type copyInstr struct {
	line      int
	from      string // --from=..., "" for the build context
	chmod     string
	srcs      []string
	dest      string
	workdir   string
	laterRuns []string // the stage's RUN arguments after it, for removals
}

// execForm is an ENTRYPOINT/CMD as the image stores it.
func execForm(args string) []string {
	if strings.HasPrefix(args, "[") {
		var list []string
		if json.Unmarshal([]byte(args), &list) == nil {
			return list
		}
	}
	return []string{"/bin/sh", "-c", args}
}

func parseFinalStage(data []byte) finalStage {
	var st finalStage
	workdir := "/"
	for _, in := range parseDockerfile(data) {
		switch in.cmd {
		case "FROM":
			st, workdir = finalStage{}, "/"
		case "USER":
			st.user = in.args
		case "WORKDIR":
			workdir = path.Join(workdir, in.args)
		case "ENTRYPOINT":
			st.entrypoint, st.entrypointSet = execForm(in.args), true
		case "CMD":
			st.cmd, st.cmdSet = execForm(in.args), true
		case "RUN":
			for i := range st.copies {
				st.copies[i].laterRuns = append(st.copies[i].laterRuns, in.args)
			}
		case "COPY", "ADD":
			c := copyInstr{line: in.line, workdir: workdir}
			var rest []string
			for _, w := range words(in.args) {
				switch {
				case strings.HasPrefix(w, "--from="):
					c.from = strings.TrimPrefix(w, "--from=")
				case strings.HasPrefix(w, "--chmod="):
					c.chmod = strings.TrimPrefix(w, "--chmod=")
				case strings.HasPrefix(w, "--"):
				default:
					rest = append(rest, w)
				}
			}
			if len(rest) < 2 {
				continue
			}
			c.srcs, c.dest = rest[:len(rest)-1], rest[len(rest)-1]
			st.copies = append(st.copies, c)
		}
	}
	return st
}

// ignored reports whether a .dockerignore pattern list excludes name (a
// top-level entry of the context; enough for the images' own files).
func ignored(patterns []string, name string) bool {
	out := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if ok, _ := filepath.Match(p, name); ok || p == "*" {
			out = !neg
		}
	}
	return out
}

func readIgnore(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// expectedPaths lists the paths (globs) in the image that a COPY puts
// there, with the mode --chmod asks for ("" if none). Sources a later RUN
// of the stage removes are left out.
func expectedPaths(ctxDir, arch string, c copyInstr) map[string]string {
	dest := c.dest
	if !path.IsAbs(dest) {
		dest = path.Join(c.workdir, dest)
	}
	intoDir := strings.HasSuffix(c.dest, "/") || len(c.srcs) > 1
	out := map[string]string{}
	for _, src := range c.srcs {
		src = strings.NewReplacer("${TARGETARCH}", arch, "$TARGETARCH", arch).Replace(src)
		if c.from == "" && (src == "." || src == "./") {
			// The whole context: each of its top-level entries, less
			// what .dockerignore keeps out.
			ign := readIgnore(filepath.Join(ctxDir, ".dockerignore"))
			entries, _ := os.ReadDir(ctxDir)
			for _, e := range entries {
				if e.Name() == ".dockerignore" || ignored(ign, e.Name()) {
					continue
				}
				out[path.Join(dest, e.Name())] = ""
			}
			continue
		}
		p := dest
		if intoDir {
			p = path.Join(dest, path.Base(src))
		}
		removed := false
		for _, run := range c.laterRuns {
			// `rm … PATH` within one command of the RUN (not across && or ;).
			for _, cmd := range regexp.MustCompile(`&&|\|\||;|\|`).Split(run, -1) {
				if f := strings.Fields(cmd); len(f) > 1 && f[0] == "rm" && slices.Contains(f[1:], p) {
					removed = true
				}
			}
		}
		if !removed {
			out[p] = c.chmod
		}
	}
	return out
}

// TestImagesBuild builds every image and checks each against its
// Dockerfile: the USER is not root, Entrypoint and Cmd are the
// Dockerfile's, the files it COPYs are there (with --chmod's mode); and it
// runs a few programs in the images (jupyter-lab and kubedesk-launcher in
// the desktop). Cold and warm build times and sizes are logged.
func TestImagesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images (-short)")
	}
	if os.Getenv("KUBEDESK_IMAGES_TEST") == "0" {
		t.Skip("KUBEDESK_IMAGES_TEST=0")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah's chroot isolation and overlay storage need root")
	}
	root := repoRoot(t)

	start := time.Now()
	out, err := runScript(t, 40*time.Minute)
	require.NoError(t, err, "hack/images.sh:\n%s", out)
	first := time.Since(start)
	t.Logf("first build (cold, or warm from an earlier cache): %s\n%s", first.Round(time.Second), out)
	plan := buildPlan(t)
	require.NotEmpty(t, plan)
	before := imageIDs(t, plan)

	start = time.Now()
	out, err = runScript(t, 20*time.Minute)
	require.NoError(t, err, "hack/images.sh (again):\n%s", out)
	t.Logf("warm build (nothing changed): %s (timed, not asserted)\n%s", time.Since(start).Round(time.Second), out)
	// Nothing changed: every step comes from the layer cache, so every
	// image is the very same image.
	assert.Equal(t, before, imageIDs(t, plan), "a rebuild with nothing changed makes the same images")

	for _, b := range plan {
		for _, tag := range b.tags {
			t.Run(strings.NewReplacer("/", "_", ":", "_").Replace(tag), func(t *testing.T) {
				checkImage(t, root, b, tag)
			})
		}
	}
}

// runsIn are programs run in an image, by tag prefix, and what their
// output must contain.
var runsIn = map[string][][]string{
	"kubedesk/desktop:": {
		{"jupyter-lab --version", "4."},
		{"kubedesk-launcher --help", "kubedesk-launcher"},
		{"xpra --version", "xpra v3.1."},
	},
	"kubedesk/xpra-sidecar:":  {{"xpra --version", "xpra v3.1."}},
	"kubedesk/example-xterm:": {{"xterm -version", "XTerm"}},
	"kubedesk/launcher:":      {{"/usr/local/bin/kubedesk-launcher --help", "kubedesk-launcher"}},
}

// filesIn are files an image must have besides what its Dockerfile copies,
// by tag prefix: the static base's (hack/images-static.Dockerfile), which
// stands in for distroless static.
var filesIn = map[string][]string{
	"kubedesk/launcher:": {"/etc/passwd", "/etc/group", "/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/Europe/Berlin", "/tmp", "/home/nonroot"},
	"kubedesk/spawner:":  {"/etc/passwd", "/etc/group", "/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/Europe/Berlin", "/tmp", "/home/nonroot"},
}

func checkImage(t *testing.T, root string, b build, tag string) {
	ref := tag
	if !strings.Contains(strings.SplitN(tag, "/", 2)[0], ".") {
		ref = "docker.io/" + tag
	}
	out, err := buildah(t, "inspect", "--type", "image", ref)
	require.NoError(t, err, out)
	var img imageConfig
	require.NoError(t, json.Unmarshal([]byte(out), &img))
	cfg := img.OCIv1.Config

	data, err := os.ReadFile(filepath.Join(root, b.dockerfile))
	require.NoError(t, err)
	st := parseFinalStage(data)

	// USER: the Dockerfile's, and not root.
	assert.Equal(t, st.user, cfg.User, "USER")
	uid, _, _ := strings.Cut(cfg.User, ":")
	assert.NotContains(t, []string{"", "0", "root"}, uid, "the image runs as root")

	// ENTRYPOINT and CMD as the Dockerfile says (an ENTRYPOINT without a
	// CMD clears the base's CMD, as Docker does).
	if st.entrypointSet {
		assert.Equal(t, st.entrypoint, cfg.Entrypoint, "Entrypoint")
	}
	switch {
	case st.cmdSet:
		assert.Equal(t, st.cmd, cfg.Cmd, "Cmd")
	case st.entrypointSet:
		assert.Empty(t, cfg.Cmd, "Cmd (ENTRYPOINT without CMD)")
	}

	// A build arg the final stage bakes into ENV (example-apps' APP) has
	// this build's value: buildah 1.28's layer cache keys `ENV K=${K}` by
	// its text, so a Dockerfile that declares the ARG after its last RUN
	// would hand one build's value to the other.
	for _, f := range b.flags {
		kv, ok := strings.CutPrefix(f, "--build-arg=")
		if !ok {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		for _, in := range parseDockerfile(data) {
			if in.cmd == "ENV" && (strings.Contains(in.args, k+"=${"+k+"}") || strings.Contains(in.args, k+"=$"+k)) {
				assert.Contains(t, cfg.Env, kv, "ENV from --build-arg %s", kv)
			}
		}
	}

	// The files the final stage copies are in the image.
	// Named, so hack/images.sh's clean-up of build containers leaves it.
	name := fmt.Sprintf("kubedesk-images-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	cid, err := buildah(t, "from", "--pull=never", "--name", name, ref)
	require.NoError(t, err, cid)
	cid = strings.TrimSpace(lastLine(cid))
	t.Cleanup(func() { _, _ = buildah(t, "rm", cid) })
	mnt, err := buildah(t, "mount", cid)
	require.NoError(t, err, mnt)
	mnt = strings.TrimSpace(lastLine(mnt))
	ctxDir := filepath.Join(root, b.context)
	var checked []string
	for _, c := range st.copies {
		for p, mode := range expectedPaths(ctxDir, runtime.GOARCH, c) {
			checked = append(checked, p)
			matches, _ := filepath.Glob(filepath.Join(mnt, p))
			if !assert.NotEmpty(t, matches, "line %d: %s is not in the image", c.line, p) {
				continue
			}
			if mode != "" {
				fi, err := os.Stat(matches[0])
				require.NoError(t, err)
				var want os.FileMode
				_, _ = fmt.Sscanf(mode, "%o", &want)
				assert.Equal(t, want, fi.Mode().Perm(), "line %d: %s's mode", c.line, p)
			}
		}
	}

	t.Logf("USER %s, Entrypoint %q, Cmd %q; copied files checked: %s", cfg.User, cfg.Entrypoint, cfg.Cmd, strings.Join(checked, " "))

	for prefix, files := range filesIn {
		if !strings.HasPrefix(tag, prefix) {
			continue
		}
		for _, f := range files {
			_, err := os.Stat(filepath.Join(mnt, f))
			assert.NoError(t, err, "%s: from the static base", f)
		}
		passwd, _ := os.ReadFile(filepath.Join(mnt, "etc", "passwd"))
		assert.Contains(t, string(passwd), "nonroot:x:65532:65532:", "/etc/passwd")
		if fi, err := os.Stat(filepath.Join(mnt, "tmp")); assert.NoError(t, err) {
			assert.Equal(t, os.ModeSticky|0o777, fi.Mode()&(os.ModeSticky|os.ModePerm), "/tmp's mode")
		}
	}

	// Programs run in the image, as its USER.
	for prefix, runs := range runsIn {
		if !strings.HasPrefix(tag, prefix) {
			continue
		}
		for _, r := range runs {
			args := append([]string{"run", "--isolation", "chroot", cid, "--"}, strings.Fields(r[0])...)
			out, err := buildah(t, args...)
			if assert.NoError(t, err, "%s: %s", r[0], out) {
				assert.Contains(t, out, r[1], r[0])
				t.Logf("%s: %s", r[0], firstLine(out))
			}
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// TestExpectedPaths: what the build test looks for in the desktop image,
// from its Dockerfile: copied files, not those a later RUN removes.
func TestExpectedPaths(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	ctx := filepath.Join(root, "images", "desktop")
	data, err := os.ReadFile(filepath.Join(ctx, "Dockerfile"))
	require.NoError(t, err)
	st := parseFinalStage(data)
	got := map[string]string{}
	for _, c := range st.copies {
		for p, mode := range expectedPaths(ctx, "amd64", c) {
			got[p] = mode
		}
	}
	for _, want := range []string{
		"/opt/kubedesk/requirements.txt",
		"/usr/local/bin/kubedesk-launcher",
		"/usr/local/bin/launch",
		"/opt/kubedesk/desktop/entrypoint.sh",
		"/opt/kubedesk/desktop/xstartup",
	} {
		assert.Contains(t, got, want)
	}
	for _, removed := range []string{
		"/tmp/apt-packages.txt",                    // rm -rf … /tmp/apt-packages.txt
		"/tmp/kubedesk_jupyterlab-*.whl",           // rm /tmp/kubedesk_jupyterlab-*.whl
		"/opt/kubedesk/desktop/test_entrypoint.py", // .dockerignore
	} {
		assert.NotContains(t, got, removed)
	}
	assert.Equal(t, "1000:100", st.user)
	assert.Equal(t, []string{"jupyterhub-singleuser"}, st.cmd)

	ctx = filepath.Join(root, "images", "launcher")
	data, err = os.ReadFile(filepath.Join(ctx, "Dockerfile"))
	require.NoError(t, err)
	st = parseFinalStage(data)
	got = map[string]string{}
	for _, c := range st.copies {
		for p, mode := range expectedPaths(root, "arm64", c) {
			got[p] = mode
		}
	}
	assert.Equal(t, map[string]string{"/usr/local/bin/kubedesk-launcher": "0555", "/usr/local/bin/launch": "0555"}, got)
}

// TestImagesBuildFails: a failing step fails hack/images.sh, and its
// output is what the script prints (testdata/fails/Dockerfile).
func TestImagesBuildFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image (-short)")
	}
	if os.Getenv("KUBEDESK_IMAGES_TEST") == "0" {
		t.Skip("KUBEDESK_IMAGES_TEST=0")
	}
	if os.Geteuid() != 0 {
		t.Skip("buildah's chroot isolation and overlay storage need root")
	}
	dir := filepath.Join("testdata", "fails")
	out, err := runScript(t, 20*time.Minute, "dockerfile",
		filepath.Join(repoRoot(t), "images", dir, "Dockerfile"), filepath.Join(repoRoot(t), "images", dir),
		"localhost/kubedesk-test/fails:1")
	require.Error(t, err, out)
	assert.Contains(t, out, "STEP 3/5: RUN echo kubedesk-failing-step-output", "the failed step")
	assert.Contains(t, out, "\nkubedesk-failing-step-output\n", "its output")
	assert.NotContains(t, out, "kubedesk-step-one", "an earlier step's output")
	assert.Contains(t, out, "failed")
}
