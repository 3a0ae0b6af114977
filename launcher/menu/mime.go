package menu

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// A file manager offers an app for a file by the file's MIME type: the
// type comes from shared-mime-info's globs, the app's from its entry's
// MimeType. The catalog names extensions (.nii.gz) and MIME types
// (application/x-nifti), but a desktop may know neither NIfTI nor Veusz's
// files, and would then offer nothing for them. So the menu carries a
// shared-mime-info package with the catalog's extensions the desktop does
// not know, each given the app's one declared MIME type, or a type of its
// own (application/x-kubedesk-<extension>) when no app declares exactly
// one. Extensions the desktop knows keep the desktop's type: the
// catalog never redefines a file type.
const (
	// MIMEPackagesDir holds shared-mime-info packages, in DataHome; after a
	// change, update-mime-database DataHome/mime rebuilds the user's
	// database from them (the launcher agent runs it).
	MIMEPackagesDir = "mime/packages"
	// MIMEPackage is the catalog's package there.
	MIMEPackage = "kubedesk.xml"
)

// mimeTable maps each extension of the catalog that the desktop does not
// know to its type: the MIME type of an app that declares exactly one (in
// catalog order), else application/x-kubedesk-<extension>, so the type of
// a file never depends on which apps name it.
func mimeTable(apps []sessionapi.CatalogApp, known func(ext string) bool) map[string]string {
	table := map[string]string{}
	for _, a := range apps {
		exts, mimes := splitFileTypes(a)
		for _, ext := range exts {
			if _, ok := table[ext]; !ok && len(mimes) == 1 && !known(ext) {
				table[ext] = mimes[0]
			}
		}
	}
	for _, a := range apps {
		exts, _ := splitFileTypes(a)
		for _, ext := range exts {
			if _, ok := table[ext]; !ok && !known(ext) {
				table[ext] = "application/x-kubedesk-" + strings.ReplaceAll(strings.TrimPrefix(ext, "."), ".", "-")
			}
		}
	}
	return table
}

// splitFileTypes parts an app's file types into extensions (lower case,
// with the dot) and MIME types.
func splitFileTypes(a sessionapi.CatalogApp) (exts, mimes []string) {
	for _, ft := range a.FileTypes {
		switch {
		case strings.ContainsRune(ft, '/'):
			mimes = append(mimes, ft)
		case strings.HasPrefix(ft, "."):
			exts = append(exts, strings.ToLower(ft))
		}
	}
	return exts, mimes
}

// mimeTypesOf are the MIME types an app's entry lists: those it declares,
// and the types the table gave its extensions.
func mimeTypesOf(a sessionapi.CatalogApp, table map[string]string) []string {
	exts, mimes := splitFileTypes(a)
	out := slices.Clone(mimes)
	for _, ext := range exts {
		if t, ok := table[ext]; ok && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// mimePackage is the shared-mime-info package of the table; nil when it is
// empty.
func mimePackage(table map[string]string) []byte {
	if len(table) == 0 {
		return nil
	}
	byType := map[string][]string{}
	for ext, t := range table {
		byType[t] = append(byType[t], ext)
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	slices.Sort(types)
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	b.WriteString("<!-- Written by kubedesk's launcher from the app catalog: the file types its apps open that this desktop does not know. -->\n")
	b.WriteString("<mime-info xmlns=\"http://www.freedesktop.org/standards/shared-mime-info\">\n")
	for _, t := range types {
		exts := byType[t]
		slices.Sort(exts)
		b.WriteString("  <mime-type type=\"" + xmlText(t) + "\">\n")
		b.WriteString("    <comment>" + xmlText(strings.Join(exts, ", ")+" file") + "</comment>\n")
		for _, parent := range compressedParents(exts) {
			b.WriteString("    <sub-class-of type=\"" + parent + "\"/>\n")
		}
		for _, ext := range exts {
			b.WriteString("    <glob pattern=\"*" + xmlText(ext) + "\"/>\n")
		}
		b.WriteString("  </mime-type>\n")
	}
	b.WriteString("</mime-info>\n")
	return b.Bytes()
}

// SystemGlobs reports whether the desktop's own shared-mime-info database
// (globs2 in XDG_DATA_DIRS, /usr/share by default) knows an extension.
// The user's database (XDG_DATA_HOME) is left out: the catalog's package
// is in it. The files are read at the first question, once: the image's
// database does not change while a session runs.
func SystemGlobs() func(ext string) bool {
	var once sync.Once
	var known map[string]bool
	return func(ext string) bool {
		once.Do(func() { known = readGlobs(filepath.SplitList(os.Getenv("XDG_DATA_DIRS"))) })
		return known[strings.ToLower(ext)]
	}
}

// readGlobs reads the extension globs ("*.png") of the globs2 files in dirs.
func readGlobs(dirs []string) map[string]bool {
	if len(dirs) == 0 {
		dirs = []string{"/usr/local/share", "/usr/share"}
	}
	known := map[string]bool{}
	for _, d := range dirs {
		f, err := os.Open(filepath.Join(d, "mime", "globs2"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// weight:type:glob[:flags]
			parts := strings.Split(sc.Text(), ":")
			if len(parts) >= 3 && strings.HasPrefix(parts[2], "*.") {
				known[strings.ToLower(parts[2][1:])] = true
			}
		}
		f.Close()
	}
	return known
}

// compressions are the compressed formats a file manager sniffs by their
// content: a file "brain.nii.gz" reads as application/gzip unless its type
// says it is a kind of gzip, so the name's type wins over the content's.
var compressions = []struct{ suffix, mime string }{
	{".gz", "application/gzip"},
	{".bz2", "application/x-bzip2"},
	{".xz", "application/x-xz"},
	{".zst", "application/zstd"},
}

// compressedParents are the compressed formats of a type's extensions.
func compressedParents(exts []string) []string {
	var out []string
	for _, c := range compressions {
		if slices.ContainsFunc(exts, func(e string) bool { return strings.HasSuffix(e, c.suffix) }) {
			out = append(out, c.mime)
		}
	}
	return out
}
