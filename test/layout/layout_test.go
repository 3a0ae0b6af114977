package layout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pkg is what `go list -json` says of a package that this test reads.
type pkg struct {
	ImportPath     string
	Dir            string
	Name           string
	GoFiles        []string
	CgoFiles       []string
	TestGoFiles    []string
	XTestGoFiles   []string
	IgnoredGoFiles []string // other GOOS' files: their comments count too
}

func (p pkg) files() []string {
	return slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles, p.TestGoFiles, p.XTestGoFiles)
}

// repoRoot is the module's root: this package is test/layout.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at the repository root %s: %v", root, err)
	}
	return root
}

// goList runs `go list -json args...` at the root and decodes its packages.
func goList(t *testing.T, root string, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s: no packages", strings.Join(args, " "))
	}
	return pkgs
}

// parsed is one Go file with its comments.
type parsed struct {
	rel  string // path from the repository root
	file *ast.File
}

func parseAll(t *testing.T, root string, pkgs []pkg) map[string][]parsed {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string][]parsed{}
	for _, p := range pkgs {
		for _, name := range p.files() {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				t.Fatal(err)
			}
			out[p.ImportPath] = append(out[p.ImportPath], parsed{filepath.ToSlash(rel), f})
		}
	}
	return out
}

// minWords is how many words a package doc's first sentence needs after
// "Package x" to say what x is or owns: "Package config loads the spawner
// service's configuration." has five.
const minWords = 4

// TestPackageDocs: each package has one doc comment, on the package
// clause of one file ("Package name ..." or, for a main package, "Command
// dir ..."), whose first sentence names what the package is.
func TestPackageDocs(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	pkgs := goList(t, root, "./...")
	files := parseAll(t, root, pkgs)
	for _, p := range pkgs {
		var docs []parsed
		for _, f := range files[p.ImportPath] {
			if f.file.Doc != nil {
				docs = append(docs, f)
			}
		}
		rel, _ := filepath.Rel(root, p.Dir)
		switch {
		case len(docs) == 0:
			t.Errorf("%s: no package doc comment; say what the package owns in a doc.go (\"Package %s is ...\")", rel, p.Name)
			continue
		case len(docs) > 1:
			// One doc per package: go doc joins them all, in file order.
			var where []string
			for _, d := range docs {
				where = append(where, d.rel)
			}
			// An external test package (x_test) may have its own.
			if names := docNames(docs); len(names) == len(docs) {
				break
			}
			t.Errorf("%s: package doc comments in %d files (%s); keep one, in doc.go", rel, len(docs), strings.Join(where, ", "))
		}
		for _, d := range docs {
			if err := checkDoc(d.file, filepath.Base(p.Dir)); err != nil {
				t.Errorf("%s: %v", d.rel, err)
			}
		}
	}
}

// docNames lists the distinct package names that carry the docs.
func docNames(docs []parsed) []string {
	var names []string
	for _, d := range docs {
		if !slices.Contains(names, d.file.Name.Name) {
			names = append(names, d.file.Name.Name)
		}
	}
	return names
}

func checkDoc(f *ast.File, dir string) error {
	text := strings.Join(strings.Fields(f.Doc.Text()), " ")
	subject := "Package " + f.Name.Name
	if f.Name.Name == "main" {
		subject = "Command " + dir
	}
	rest, ok := strings.CutPrefix(text, subject+" ")
	if text == subject || strings.HasPrefix(text, subject+".") {
		return fmt.Errorf("the package doc (%q) does not say what the package owns", firstWords(text, 8))
	}
	if !ok {
		return fmt.Errorf("the package doc starts %q, want %q", firstWords(text, 3), subject+" ...")
	}
	sentence, _, _ := strings.Cut(rest, ". ")
	if n := len(strings.Fields(strings.TrimSuffix(sentence, "."))); n < minWords {
		return fmt.Errorf("the package doc's first sentence (%q) does not say what the package owns", subject+" "+sentence)
	}
	return nil
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	return strings.Join(w[:min(n, len(w))], " ")
}

// pathToken is a run of characters a repository path is made of.
var pathToken = regexp.MustCompile(`[A-Za-z0-9_.\-/*{}<>$~@+]+`)

// rootDoc is a top-level document cited by its bare name.
var rootDoc = regexp.MustCompile(`^[A-Z][A-Z0-9_-]*\.md$`)

// TestCitedPathsExist: a path a Go comment cites in the repository (one
// that starts at a top-level folder or file, as docs/architecture.md or
// spawner/internal/api/openapi.yaml; a testdata/ path, beside the file; a
// bare README.md-like name, at the top or beside the file) exists. A Go
// identifier after a package path (spawner/catalog.App) names the
// package's folder. Patterns (*, <x>, {x}, $X) are not paths, and what
// .gitignore anchors at the top (build outputs, test/artifacts) is not in
// a fresh clone.
func TestCitedPathsExist(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	top, ignored := topLevel(t, root)
	files := parseAll(t, root, goList(t, root, "./..."))
	checked := 0
	for _, pf := range files {
		for _, f := range pf {
			dir := filepath.Join(root, filepath.Dir(f.rel))
			for _, group := range f.file.Comments {
				for _, cited := range citedPaths(group.Text(), top) {
					if slices.ContainsFunc(ignored, func(p string) bool { return cited == p || strings.HasPrefix(cited, p+"/") }) {
						continue
					}
					checked++
					if !exists(root, dir, cited) {
						t.Errorf("%s cites %s, which the repository does not have", f.rel, cited)
					}
				}
			}
		}
	}
	// The check must see citations to mean anything.
	if checked < 100 {
		t.Errorf("only %d cited paths found in the Go comments; is the pattern still right?", checked)
	}
}

// goIdent is a package path's last segment followed by an exported
// identifier: catalog.App, sessionapi.Listing.
var goIdent = regexp.MustCompile(`\.[A-Z][A-Za-z0-9_]*$`)

// exists says whether cited is in the repository: from the root, or from
// the citing file's folder for testdata/ and bare names.
func exists(root, dir, cited string) bool {
	bases := []string{root}
	if strings.HasPrefix(cited, "testdata/") {
		bases = []string{dir}
	} else if rootDoc.MatchString(cited) {
		bases = append(bases, dir)
	}
	for _, base := range bases {
		for _, c := range []string{cited, goIdent.ReplaceAllString(cited, "")} {
			if _, err := os.Stat(filepath.Join(base, c)); err == nil {
				return true
			}
		}
	}
	return false
}

// citedPaths picks out of a comment the tokens that name a repository
// path: first segment a top-level name (or testdata), or a bare top-level
// document's name.
func citedPaths(text string, top map[string]bool) []string {
	var out []string
	for _, tok := range pathToken.FindAllString(text, -1) {
		tok = strings.Trim(tok, ".-")
		tok = strings.TrimRight(tok, "/")
		if tok == "" || strings.ContainsAny(tok, "*{}<>$~@+") || strings.Contains(tok, "..") {
			continue
		}
		first, _, hasSlash := strings.Cut(tok, "/")
		switch {
		case hasSlash && (top[first] || first == "testdata"):
			out = append(out, tok)
		case !hasSlash && rootDoc.MatchString(tok):
			out = append(out, tok)
		}
	}
	return out
}

// topLevel is the set of the repository's top-level folders and files,
// less hidden ones and the build outputs, and the paths .gitignore anchors
// at the top (a fresh clone has none of them).
func topLevel(t *testing.T, root string) (top map[string]bool, ignored []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "/") {
			ignored = append(ignored, strings.Trim(line, "/"))
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	top = map[string]bool{}
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, ".") && !slices.Contains(ignored, name) {
			top[name] = true
		}
	}
	return top, ignored
}

// TestAgentLinksNoKubernetes: the binaries that run in a session pod,
// with everything they import, directly or not.
func TestAgentLinksNoKubernetes(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, p := range goList(t, root, "-deps", "./cmd/kubedesk-launcher", "./cmd/launch", "./launcher/...") {
		if strings.HasPrefix(p.ImportPath, "k8s.io/") || strings.HasPrefix(p.ImportPath, "sigs.k8s.io/") {
			t.Errorf("the launcher agent links %s", p.ImportPath)
		}
	}
}

// TestServiceLinksNothingOfLauncher: the service and its binary.
func TestServiceLinksNothingOfLauncher(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, p := range goList(t, root, "-deps", "./spawner/...", "./cmd/kubedesk-spawner") {
		if strings.HasPrefix(p.ImportPath, "kubedesk.dev/kubedesk/launcher/") {
			t.Errorf("the spawner service links %s", p.ImportPath)
		}
	}
}

// TestEveryPackageChecksLeaks: each package with tests has a main_test.go
// whose TestMain hands them to goleak.VerifyTestMain, which fails the run
// when a goroutine outlives the tests. A package a test forgot would leak
// unseen; this one does not forget.
func TestEveryPackageChecksLeaks(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	pkgs := goList(t, root, "./...")
	files := parseAll(t, root, pkgs)
	checked := 0
	for _, p := range pkgs {
		if len(p.TestGoFiles)+len(p.XTestGoFiles) == 0 {
			continue
		}
		checked++
		rel, _ := filepath.Rel(root, p.Dir)
		main := filepath.ToSlash(filepath.Join(rel, "main_test.go"))
		i := slices.IndexFunc(files[p.ImportPath], func(f parsed) bool { return f.rel == main })
		if i < 0 {
			t.Errorf("%s: no main_test.go; add one with func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }", rel)
			continue
		}
		if !verifiesLeaks(files[p.ImportPath][i].file) {
			t.Errorf("%s: its TestMain does not call goleak.VerifyTestMain (go.uber.org/goleak)", main)
		}
	}
	// The check must see packages to mean anything.
	if checked < 10 {
		t.Errorf("only %d packages with tests found; is go list's answer still read right?", checked)
	}
}

// verifiesLeaks says whether f's func TestMain calls VerifyTestMain of
// go.uber.org/goleak, under whatever name f imports it.
func verifiesLeaks(f *ast.File) bool {
	name := ""
	for _, imp := range f.Imports {
		if imp.Path.Value == `"go.uber.org/goleak"` {
			name = "goleak"
			if imp.Name != nil {
				name = imp.Name.Name
			}
		}
	}
	if name == "" {
		return false
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || fn.Name.Name != "TestMain" || fn.Body == nil {
			continue
		}
		found := false
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "VerifyTestMain" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == name {
					found = true
				}
			}
			return !found
		})
		return found
	}
	return false
}
