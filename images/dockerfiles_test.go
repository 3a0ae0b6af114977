package images

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rules a Dockerfile can break.
const (
	rulePinnedBase = "pinned base"
	ruleNonRoot    = "non-root user"
	ruleEntrypoint = "entrypoint"
	ruleCopySource = "copy source"
)

// violation is one broken rule of one Dockerfile.
type violation struct {
	file, rule, detail string
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, COPY...
	args string
}

func parseDockerfile(data []byte) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// words splits an instruction's arguments: the JSON form, or by spaces.
func words(args string) []string {
	if strings.HasPrefix(args, "[") {
		var list []string
		if json.Unmarshal([]byte(args), &list) == nil {
			return list
		}
	}
	return strings.Fields(args)
}

// exactVersion is a tag that names at least major.minor (12.11-slim,
// v1.2.3, 3.1.3-r0): not latest, not a bare major (12, 12-slim).
var exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+`)

// checkBase checks one FROM's image reference; stages are the names of
// earlier stages, args the ARG defaults declared before the first FROM.
// A base from an ARG (`ARG BASE=…@sha256:…` then `FROM ${BASE}`, so a
// builder that cannot pull passes --build-arg BASE=<a local image>) is
// judged by its default: the default must be pinned, and an ARG without
// one fails.
func checkBase(ref string, stages []string, args map[string]string) string {
	orig := ref
	var unset []string
	ref = os.Expand(ref, func(k string) string {
		v, ok := args[k]
		if !ok || v == "" {
			unset = append(unset, k)
		}
		return v
	})
	if len(unset) > 0 {
		return fmt.Sprintf("%s: ARG %s has no default before the first FROM; give it a pinned one", orig, strings.Join(unset, ", "))
	}
	if ref != orig {
		if msg := checkBase(ref, stages, nil); msg != "" {
			return fmt.Sprintf("%s (the ARG's default): %s", orig, msg)
		}
		return ""
	}
	switch {
	case ref == "scratch" || slices.Contains(stages, ref):
		return ""
	case strings.Contains(ref, "@sha256:"):
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(ref) {
			return fmt.Sprintf("%s: malformed digest", ref)
		}
		return ""
	}
	name := ref
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		name = ref[i+1:]
	}
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok || tag == "":
		return fmt.Sprintf("%s: no tag (means latest); pin a digest or an exact version", ref)
	case !exactVersion.MatchString(tag):
		return fmt.Sprintf("%s: tag %q is not an exact version (latest, a bare major or a name); pin a digest or major.minor at least", ref, tag)
	}
	return ""
}

// contextDir is the Dockerfile's build context: the repository root when
// the Dockerfile says so (and then it has a Dockerfile.dockerignore beside
// it, so the root's gigabytes are not sent), else its own directory.
func contextDir(root, dockerfile string, data []byte) string {
	if bytes.Contains(data, []byte("build context is the repository root")) {
		return root
	}
	return filepath.Dir(dockerfile)
}

// builtBinary matches a COPY source that `make image-binaries` builds.
var builtBinary = regexp.MustCompile(`^_output/bin/linux_\$\{?TARGETARCH\}?/([a-z0-9-]+)$`)

// makeBuildsBinary checks that the Makefile's image-binaries target builds
// the command: it builds every ./cmd/... main package into
// _output/bin/<os>_<arch>/.
func makeBuildsBinary(root, name string) string {
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "no Makefile: " + err.Error()
	}
	for _, want := range []string{"IMAGE_BIN := _output/bin", "image-binaries-%:", "-o $(IMAGE_BIN)/$*/ ./cmd/..."} {
		if !bytes.Contains(makefile, []byte(want)) {
			return fmt.Sprintf("_output/bin/.../%s: the Makefile's image-binaries target no longer has %q", name, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", name, "main.go")); err != nil {
		return fmt.Sprintf("_output/bin/.../%s: `make image-binaries` builds ./cmd/..., which has no cmd/%s", name, name)
	}
	return ""
}

// checkDockerfile returns every rule path breaks; root is the repository.
func checkDockerfile(root, path string) []violation {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return []violation{{path, "readable", err.Error()}}
	}
	rel, _ := filepath.Rel(root, path)
	var out []violation
	add := func(rule string, line int, format string, a ...any) {
		out = append(out, violation{rel, rule, fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, a...)})
	}
	ctx := contextDir(root, path, data)
	args := map[string]string{}
	var stages []string
	var froms int
	// Of the final stage: its last USER, and whether it has an
	// ENTRYPOINT or CMD.
	var user string
	var userLine, fromLine int
	var entrypoint bool
	for _, in := range parseDockerfile(data) {
		switch in.cmd {
		case "ARG":
			if froms == 0 {
				k, v, _ := strings.Cut(in.args, "=")
				args[k] = strings.Trim(v, `"`)
			}
		case "FROM":
			froms++
			fields := strings.Fields(in.args)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(fields) == 0 {
				add(rulePinnedBase, in.line, "FROM without an image")
				continue
			}
			if msg := checkBase(fields[0], stages, args); msg != "" {
				add(rulePinnedBase, in.line, "%s", msg)
			}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				stages = append(stages, fields[2])
			}
			user, userLine, fromLine, entrypoint = "", 0, in.line, false
		case "USER":
			user, userLine = in.args, in.line
		case "ENTRYPOINT", "CMD":
			entrypoint = len(words(in.args)) > 0
		case "COPY", "ADD":
			w := words(in.args)
			var srcs []string
			fromStage := false
			for _, f := range w {
				if strings.HasPrefix(f, "--") {
					fromStage = fromStage || strings.HasPrefix(f, "--from=")
					continue
				}
				srcs = append(srcs, f)
			}
			if fromStage || len(srcs) < 2 {
				continue
			}
			for _, src := range srcs[:len(srcs)-1] {
				if strings.Contains(src, "://") {
					continue // ADD of a URL: pinned by its checksum, not checked here
				}
				if m := builtBinary.FindStringSubmatch(src); m != nil {
					if ctx != root {
						add(ruleCopySource, in.line, "%s: a build output, but the context is %s, not the repository root", src, ctx)
					} else if msg := makeBuildsBinary(root, m[1]); msg != "" {
						add(ruleCopySource, in.line, "%s", msg)
					}
					continue
				}
				if strings.Contains(src, "$") {
					add(ruleCopySource, in.line, "%s: a variable in a source path is not checked; use a literal path", src)
					continue
				}
				matches, err := filepath.Glob(filepath.Join(ctx, src))
				if err != nil || len(matches) == 0 {
					relCtx, _ := filepath.Rel(root, ctx)
					add(ruleCopySource, in.line, "%s: not in the build context %s/", src, relCtx)
				}
			}
		}
	}
	if froms == 0 {
		add(rulePinnedBase, 1, "no FROM")
	}
	u, _, _ := strings.Cut(user, ":")
	switch {
	case user == "":
		add(ruleNonRoot, fromLine, "the final stage sets no USER: it runs as root")
	case u == "root" || u == "0" || strings.Trim(u, "0") == "":
		add(ruleNonRoot, userLine, "USER %s is root", user)
	case strings.Contains(u, "$"):
		add(ruleNonRoot, userLine, "USER %s: a variable; name the user", user)
	}
	if !entrypoint {
		add(ruleEntrypoint, fromLine, "the final stage has no ENTRYPOINT or CMD")
	}
	return out
}

// dockerfiles lists the Dockerfiles under dir, testdata excluded.
func dockerfiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "Dockerfile" || strings.HasSuffix(d.Name(), ".Dockerfile")) {
			out = append(out, path)
		}
		return nil
	}))
	return out
}

func table(vs []violation) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FILE\tRULE\tPROBLEM")
	for _, v := range vs {
		fmt.Fprintf(w, "%s\t%s\t%s\n", v.file, v.rule, v.detail)
	}
	w.Flush()
	return b.String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// TestDockerfilePolicies checks every Dockerfile of the images.
func TestDockerfilePolicies(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files := dockerfiles(t, filepath.Join(root, "images"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(filepath.Dir(f)))
	}
	// The images issue 6 asks for; a removed one fails here, not silently.
	for _, want := range []string{"desktop", "example-apps", "launcher", "spawner", "xpra-sidecar"} {
		assert.Contains(t, names, want, "images/%s/Dockerfile", want)
	}
	var all []violation
	for _, f := range files {
		all = append(all, checkDockerfile(root, f)...)
	}
	if len(all) > 0 {
		t.Errorf("Dockerfiles break the image policies:\n%s", table(all))
	}
}

// TestDockerfilePoliciesFire runs the checks on testdata/bad: each
// Dockerfile there breaks the rules its case names, and only those.
func TestDockerfilePoliciesFire(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, tc := range []struct {
		dir   string
		rules []string
	}{
		{"latest", []string{rulePinnedBase}},
		{"no-tag", []string{rulePinnedBase}},
		{"bare-major", []string{rulePinnedBase}},
		{"arg-base", []string{rulePinnedBase}},
		{"arg-no-default", []string{rulePinnedBase}},
		{"arg-unpinned-default", []string{rulePinnedBase}},
		{"root-user", []string{ruleNonRoot}},
		{"uid-zero", []string{ruleNonRoot}},
		{"no-user", []string{ruleNonRoot}},
		{"user-in-builder-only", []string{ruleNonRoot}},
		{"no-entrypoint", []string{ruleEntrypoint}},
		{"missing-copy-source", []string{ruleCopySource}},
		{"unbuilt-binary", []string{ruleCopySource}},
		{"everything", []string{rulePinnedBase, ruleNonRoot, ruleEntrypoint, ruleCopySource}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			vs := checkDockerfile(root, filepath.Join("testdata", "bad", tc.dir, "Dockerfile"))
			var rules []string
			for _, v := range vs {
				if !slices.Contains(rules, v.rule) {
					rules = append(rules, v.rule)
				}
			}
			slices.Sort(rules)
			want := slices.Clone(tc.rules)
			slices.Sort(want)
			assert.Equal(t, want, rules, "\n%s", table(vs))
		})
	}
}

// TestDockerfilePoliciesPass: a good multi-stage Dockerfile breaks none.
func TestDockerfilePoliciesPass(t *testing.T) {
	t.Parallel()
	vs := checkDockerfile(repoRoot(t), filepath.Join("testdata", "good", "Dockerfile"))
	assert.Empty(t, vs, "\n%s", table(vs))
}

func TestCheckBase(t *testing.T) {
	t.Parallel()
	digest := "@sha256:" + strings.Repeat("a", 64)
	for ref, ok := range map[string]bool{
		"debian:12.11-slim":                 true,
		"quay.io/jupyterhub/k8s-hub:4.2.0":  true,
		"gcr.io/distroless/static" + digest: true,
		"localhost:5000/img:1.2":            true,
		"scratch":                           true,
		"builder":                           true,
		"debian":                            false,
		"debian:latest":                     false,
		"debian:12":                         false,
		"debian:12-slim":                    false,
		"debian:bookworm":                   false,
		"localhost:5000/img":                false,
		"debian@sha256:abc":                 false,
	} {
		msg := checkBase(ref, []string{"builder"}, nil)
		assert.Equal(t, ok, msg == "", "%s: %s", ref, msg)
	}
	// From an ARG: its default decides.
	args := map[string]string{
		"PINNED":   "gcr.io/distroless/static-debian12:nonroot" + digest,
		"VERSION":  "12.11-slim",
		"LATEST":   "debian:latest",
		"BAREMAJ":  "12",
		"EMPTY":    "",
		"BUILDER":  "builder",
		"REGISTRY": "gcr.io",
	}
	for ref, ok := range map[string]bool{
		"${PINNED}":                              true,
		"$PINNED":                                true,
		"debian:${VERSION}":                      true,
		"${REGISTRY}/distroless/static" + digest: true,
		"${BUILDER}":                             true,
		"${LATEST}":                              false,
		"debian:${BAREMAJ}":                      false,
		"${EMPTY}":                               false,
		"${UNDECLARED}":                          false,
		"${REGISTRY}/distroless/static":          false,
	} {
		msg := checkBase(ref, []string{"builder"}, args)
		assert.Equal(t, ok, msg == "", "%s: %s", ref, msg)
	}
}
