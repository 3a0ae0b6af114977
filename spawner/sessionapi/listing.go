package sessionapi

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// FieldError is one rule an entry breaks: the field, as a path such as
// "categories[1]", and a message that starts with it.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Message }

// Check lists the rules of the session catalog that a breaks, in the order
// of its fields: the ID is a DNS label and the version a Kubernetes label
// value, since they name pods, labels and the menu's files; texts hold no
// NUL byte, and one-line texts no control character, since they go into
// desktop entries; each category has a letter or digit (its Slug) and no
// ";"; each file type is an extension or a MIME type. The service's
// catalog (spawner/catalog) checks every entry by these rules and more, so
// an entry it lists passes them; the launcher agent checks them again
// (NewListing) before it writes files named by IDs and versions.
func (a CatalogApp) Check() []FieldError {
	c := &checker{}
	switch {
	case a.ID == "":
		c.add("id", "is required")
	case !isDNSLabel(a.ID):
		c.add("id", "%q must be a DNS label (lower-case letters, digits and \"-\", starting and ending with a letter or digit, at most 63 characters), since it names pods and labels", a.ID)
	}
	switch {
	case a.Version == "":
		c.add("version", "is required")
	case !isLabelValue(a.Version):
		c.add("version", "%q must be a label value (letters, digits, \".\", \"_\" and \"-\", starting and ending with a letter or digit, at most 63 characters)", a.Version)
	}
	c.text("name", a.Name, false)
	c.text("description", a.Description, true)
	c.text("icon", a.Icon, false)
	for i, cat := range a.Categories {
		field := fmt.Sprintf("categories[%d]", i)
		switch {
		case strings.TrimSpace(cat) == "":
			c.add(field, "must not be empty")
		case strings.ContainsRune(cat, ';'):
			c.add(field, "%q must not contain \";\"", cat)
		case Slug(cat) == "":
			c.add(field, "%q needs at least one letter or digit", cat)
		default:
			c.text(field, cat, false)
		}
	}
	for i, ft := range a.FileTypes {
		if !fileExt.MatchString(ft) && !mimeType.MatchString(ft) {
			c.add(fmt.Sprintf("file_types[%d]", i), "%q is neither a file name extension such as \".nii.gz\" nor a MIME type such as \"image/png\"", ft)
		}
	}
	return c.errs
}

type checker struct{ errs []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Message: field + ": " + fmt.Sprintf(format, args...)})
}

// text refuses NUL bytes everywhere and other control characters in
// one-line texts.
func (c *checker) text(field, s string, multiline bool) {
	for _, r := range s {
		if r == 0 {
			c.add(field, "contains a NUL byte")
			return
		}
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			c.add(field, "contains the control character %U", r)
			return
		}
	}
}

var (
	// fileExt is ".nii", ".nii.gz", ".tar.gz": a dot, then dot-separated
	// words.
	fileExt = regexp.MustCompile(`^(?:\.[A-Za-z0-9_+-]+)+$`)
	// mimeType is RFC 6838's type/subtype, without parameters.
	mimeType = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$`)
)

// maxLabel is the most characters of a DNS label and of a Kubernetes label
// value.
const maxLabel = 63

// isDNSLabel is RFC 1123's label, as Kubernetes names take it: lower-case
// ASCII letters, digits and "-", a letter or digit at either end.
func isDNSLabel(s string) bool {
	return len(s) <= maxLabel && isLabelOf(s, func(b byte) bool { return isLower(b) || isDigit(b) || b == '-' })
}

// isLabelValue is a Kubernetes label value: empty, or letters, digits,
// "-", "_" and "." with a letter or digit at either end.
func isLabelValue(s string) bool {
	if s == "" {
		return true
	}
	return len(s) <= maxLabel && isLabelOf(s, func(b byte) bool {
		return isLower(b) || isUpper(b) || isDigit(b) || b == '-' || b == '_' || b == '.'
	})
}

// isLabelOf reports whether s is non-empty, made of bytes that allowed
// takes, and starts and ends with a letter or digit.
func isLabelOf(s string, allowed func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !allowed(s[i]) {
			return false
		}
	}
	alnum := func(b byte) bool { return isLower(b) || isUpper(b) || isDigit(b) }
	return alnum(s[0]) && alnum(s[len(s)-1])
}

func isLower(b byte) bool { return b >= 'a' && b <= 'z' }
func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

// Slug is s in lower case with each run of characters other than ASCII
// letters and digits turned into one "-", none at either end ("Image
// segmentation" → "image-segmentation"). Categories with the same slug are
// one submenu, named in the menu's file names. For ASCII names it is what
// python-slugify gives, which is why the service also derives a profile's
// missing slug with it, as KubeSpawner does; other letters become
// separators, where python-slugify would transliterate them ("é" → "e").
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// Listing is a session's catalog as its menus use it: entries that pass
// Check, each ID and version once, by ID and newest version first. It is
// not changed after it is built; the apps it returns are copies.
type Listing struct {
	apps []CatalogApp
}

// Problem is an entry NewListing left out, and why.
type Problem struct {
	// App names the entry: its ID and version ("itksnap 4.4.0") where
	// known, else its position ("entry 3").
	App string
	// Message says what is wrong, naming the field ("id: ...").
	Message string
}

func (p Problem) Error() string { return p.App + ": " + p.Message }

// NewListing builds a Listing from the entries of a session's catalog. An
// entry that fails Check, or repeats an earlier entry's ID and version, is
// left out and reported. An empty Name becomes the ID.
func NewListing(apps ...CatalogApp) (*Listing, []Problem) {
	var (
		out      []CatalogApp
		problems []Problem
		first    = map[string]int{} // ID and version → entry number
	)
	for i, a := range apps {
		a = a.clone()
		if a.Name == "" {
			a.Name = a.ID
		}
		label := entryLabel(a.ID, a.Version, i)
		if errs := a.Check(); len(errs) > 0 {
			for _, e := range errs {
				problems = append(problems, Problem{App: label, Message: e.Message})
			}
			continue
		}
		if n, dup := first[a.String()]; dup {
			problems = append(problems, Problem{App: label, Message: fmt.Sprintf("duplicate of entry %d; this entry is skipped", n)})
			continue
		}
		first[a.String()] = i + 1
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(x, y CatalogApp) int {
		if c := strings.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		return CompareVersions(y.Version, x.Version)
	})
	return &Listing{apps: out}, problems
}

// Apps lists every app, by ID, newest version first.
func (l *Listing) Apps() []CatalogApp {
	out := make([]CatalogApp, 0, len(l.apps))
	for _, a := range l.apps {
		out = append(out, a.clone())
	}
	return out
}

// entryLabel is Problem.App.
func entryLabel(id, version string, index int) string {
	switch {
	case id != "" && version != "":
		return id + " " + version
	case id != "":
		return id
	}
	return fmt.Sprintf("entry %d", index+1)
}

// clone returns a deep copy, so callers cannot change a Listing's apps.
func (a CatalogApp) clone() CatalogApp {
	a.Categories = slices.Clone(a.Categories)
	a.FileTypes = slices.Clone(a.FileTypes)
	return a
}
