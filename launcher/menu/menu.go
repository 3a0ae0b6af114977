package menu

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// The names this package owns. Write replaces and removes files with these
// prefixes and leaves every other file alone.
const (
	// Prefix starts every file Write creates.
	Prefix = "kubedesk"
	// MenuFile is the merged menu, in ConfigHome/menus/applications-merged.
	MenuFile = "kubedesk-apps.menu"
	// TopDirectory describes the "Kubedesk Apps" submenu.
	TopDirectory = "kubedesk.directory"
	// MainCategory is in every entry's Categories.
	MainCategory = "X-Kubedesk"
	// OtherCategory holds apps without categories.
	OtherCategory = "Other"
	// DefaultIcon is used for apps without an icon, or with an icon URL
	// (which a desktop entry cannot name).
	DefaultIcon = "application-x-executable"
	// TopIcon is the icon of the "Kubedesk Apps" submenu.
	TopIcon = "applications-science"
	// NoticeFile is the entry that says why there are no apps (Options.Notice).
	NoticeFile = "kubedesk-unavailable.desktop"
	// NoticeName is its label in the menu.
	NoticeName = "Why are there no apps?"
)

// The folders, relative to Options' homes, as the XDG Base Directory and
// Desktop Menu specifications name them.
const (
	ApplicationsDir       = "applications"              // in DataHome
	DesktopDirectoriesDir = "desktop-directories"       // in DataHome
	MergedMenusDir        = "menus/applications-merged" // in ConfigHome
)

// Options say where the menu goes and what its entries run.
type Options struct {
	// DataHome is $XDG_DATA_HOME, usually ~/.local/share: desktop entries
	// go to its applications/ folder and submenu descriptions to
	// desktop-directories/.
	DataHome string
	// ConfigHome is $XDG_CONFIG_HOME, usually ~/.config: the merged menu
	// goes to menus/applications-merged/, which is where desktops look for
	// it (menus are configuration, not data, in the menu specification).
	ConfigHome string
	// Launch is the command an entry runs, followed by the app's id, its
	// version and the files (%F). Empty means ["launch"], the launcher
	// agent's CLI on PATH.
	Launch []string
	// Icon chooses an entry's icon; nil means DefaultIconFor. A launcher
	// that caches icon URLs as files can map them here.
	Icon func(sessionapi.CatalogApp) string
	// Notice, when set, is a sentence that says why apps are missing or
	// cannot start (the launcher cannot reach the service, say): the menu
	// gets an entry NoticeName, first in "Kubedesk Apps", that shows it in
	// a window (NoticeCommand).
	Notice string
	// NoticeCommand shows the notice: the sentence is its last argument.
	// Empty means xmessage (the desktop image has it, x11-utils).
	NoticeCommand []string
	// KnownFileType reports whether the desktop already has a MIME type for
	// a file extension (".png"); the menu's MIME package (mime.go) types the
	// others. Nil means SystemGlobs().
	KnownFileType func(ext string) bool
}

// DefaultOptions finds DataHome and ConfigHome as the XDG Base Directory
// specification does: $XDG_DATA_HOME and $XDG_CONFIG_HOME when they are
// absolute paths, else ~/.local/share and ~/.config.
func DefaultOptions() (Options, error) {
	home, err := os.UserHomeDir()
	dir := func(env, fallback string) (string, error) {
		if v := os.Getenv(env); filepath.IsAbs(v) {
			return v, nil
		}
		if err != nil {
			return "", fmt.Errorf("find the home directory for %s: %w", env, err)
		}
		return filepath.Join(home, fallback), nil
	}
	var o Options
	if o.DataHome, err = dir("XDG_DATA_HOME", ".local/share"); err != nil {
		return o, err
	}
	if o.ConfigHome, err = dir("XDG_CONFIG_HOME", ".config"); err != nil {
		return o, err
	}
	return o, nil
}

// DefaultIconFor is the app's Icon when it is an icon name or an absolute
// path, and DefaultIcon otherwise.
func DefaultIconFor(a sessionapi.CatalogApp) string {
	if a.Icon == "" || strings.Contains(a.Icon, "://") || (strings.ContainsRune(a.Icon, '/') && !filepath.IsAbs(a.Icon)) {
		return DefaultIcon
	}
	return a.Icon
}

// EntryFile is the desktop entry's file name for an app. An ID holds no
// "_" and a version may hold "-", so "_" keeps "foo-1 2" and "foo 1-2"
// apart.
func EntryFile(a sessionapi.CatalogApp) string {
	return Prefix + "-" + a.ID + "_" + a.Version + ".desktop"
}

// CategoryDirectory is the .directory file of a category's submenu.
func CategoryDirectory(slug string) string {
	return Prefix + "-category-" + slug + ".directory"
}

// AppDirectory is the .directory file of an app's submenu, which lists its
// versions.
func AppDirectory(id string) string {
	return Prefix + "-app-" + id + ".directory"
}

// Render returns the files of the menu for the catalog's apps, keyed by
// their path relative to the homes: "applications/…",
// "desktop-directories/…" and "mime/packages/…" (DataHome),
// "menus/applications-merged/…" (ConfigHome). It touches no file; Write
// does.
func Render(c *sessionapi.Listing, opts Options) map[string][]byte {
	if len(opts.Launch) == 0 {
		opts.Launch = []string{"launch"}
	}
	if opts.Icon == nil {
		opts.Icon = DefaultIconFor
	}
	if opts.KnownFileType == nil {
		opts.KnownFileType = SystemGlobs()
	}
	files := map[string][]byte{}
	apps := c.Apps()
	types := mimeTable(apps, opts.KnownFileType)
	for _, a := range apps {
		files[ApplicationsDir+"/"+EntryFile(a)] = desktopEntry(a, mimeTypesOf(a, types), opts)
	}
	if pkg := mimePackage(types); pkg != nil {
		files[MIMEPackagesDir+"/"+MIMEPackage] = pkg
	}
	files[DesktopDirectoriesDir+"/"+TopDirectory] = directoryEntry("Kubedesk Apps", "Applications that open in their own pod", TopIcon)
	if opts.Notice != "" {
		files[ApplicationsDir+"/"+NoticeFile] = noticeEntry(opts)
	}
	tree := buildTree(apps)
	for _, cat := range tree {
		files[DesktopDirectoriesDir+"/"+CategoryDirectory(cat.slug)] = directoryEntry(cat.label, "", "")
		for _, app := range cat.apps {
			files[DesktopDirectoriesDir+"/"+AppDirectory(app.id)] = directoryEntry(app.name, "", opts.Icon(app.newest))
		}
	}
	files[MergedMenusDir+"/"+MenuFile] = menuXML(tree, opts.Notice != "")
	return files
}

// noticeEntry is the entry that shows Options.Notice.
func noticeEntry(opts Options) []byte {
	show := opts.NoticeCommand
	if len(show) == 0 {
		show = []string{"xmessage", "-center", "-buttons", "OK:0"}
	}
	var b bytes.Buffer
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	b.WriteString("[Desktop Entry]\n")
	kv("Type", "Application")
	kv("Version", "1.4")
	kv("Name", NoticeName)
	kv("Comment", escapeValue(oneLine(opts.Notice)))
	kv("Icon", "dialog-warning")
	kv("Exec", execLine(append(slices.Clone(show), oneLine(opts.Notice))))
	kv("Terminal", "false")
	kv("Categories", MainCategory)
	return b.Bytes()
}

// desktopEntry is an app version's entry; mimes are the types it opens.
func desktopEntry(a sessionapi.CatalogApp, mimes []string, opts Options) []byte {
	var b bytes.Buffer
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, v) }
	b.WriteString("[Desktop Entry]\n")
	kv("Type", "Application")
	kv("Version", "1.4")
	kv("Name", escapeValue(oneLine(a.Name+" "+a.Version)))
	if a.Description != "" {
		kv("Comment", escapeValue(a.Description))
	}
	kv("Icon", escapeValue(oneLine(opts.Icon(a))))
	kv("Exec", execLine(append(slices.Clone(opts.Launch), a.ID, a.Version), "%F"))
	kv("Terminal", fmt.Sprint(a.Terminal))
	cats := []string{MainCategory}
	for _, cat := range categoriesOf(a) {
		cats = append(cats, MainCategory+"-"+cat.slug)
	}
	kv("Categories", escapeList(slices.Compact(cats)))
	if len(mimes) > 0 {
		kv("MimeType", escapeList(mimes))
	}
	kv("X-Kubedesk-App", a.ID)
	kv("X-Kubedesk-Version", a.Version)
	return b.Bytes()
}

func directoryEntry(name, comment, icon string) []byte {
	var b bytes.Buffer
	b.WriteString("[Desktop Entry]\nType=Directory\nVersion=1.4\n")
	fmt.Fprintf(&b, "Name=%s\n", escapeValue(oneLine(name)))
	if comment != "" {
		fmt.Fprintf(&b, "Comment=%s\n", escapeValue(comment))
	}
	if icon != "" {
		fmt.Fprintf(&b, "Icon=%s\n", escapeValue(oneLine(icon)))
	}
	return b.Bytes()
}

// oneLine drops control characters, which the catalog refuses anyway.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

type category struct {
	slug, label string
}

// categoriesOf lists an app's categories by slug, Other for none.
func categoriesOf(a sessionapi.CatalogApp) []category {
	var out []category
	for _, c := range a.Categories {
		slug := sessionapi.Slug(c)
		if !slices.ContainsFunc(out, func(x category) bool { return x.slug == slug }) {
			out = append(out, category{slug: slug, label: label(c)})
		}
	}
	if len(out) == 0 {
		out = append(out, category{slug: sessionapi.Slug(OtherCategory), label: OtherCategory})
	}
	return out
}

// label capitalises a category for the menu: Neurodesk's are lower case.
func label(c string) string {
	c = strings.Join(strings.Fields(c), " ")
	r, size := utf8.DecodeRuneInString(c)
	return string(unicode.ToUpper(r)) + c[size:]
}

type menuCategory struct {
	category
	apps []*menuApp
}

type menuApp struct {
	id, name string
	newest   sessionapi.CatalogApp
	entries  []string // newest first
}

// buildTree groups the apps (by ID, newest version first, as Listing.Apps
// gives them) into categories sorted by label, and each category's apps by
// name. Categories with the same slug are one; the first label in sorted
// order names it.
func buildTree(apps []sessionapi.CatalogApp) []*menuCategory {
	byID := map[string]*menuApp{}
	var ids []string
	for _, a := range apps {
		m, ok := byID[a.ID]
		if !ok {
			m = &menuApp{id: a.ID, name: a.Name, newest: a}
			byID[a.ID] = m
			ids = append(ids, a.ID)
		}
		m.entries = append(m.entries, EntryFile(a))
	}
	cats := map[string]*menuCategory{}
	for _, id := range ids {
		m := byID[id]
		// Every version of an app is listed under the newest one's
		// categories, so the versions stay together.
		for _, c := range categoriesOf(m.newest) {
			mc, ok := cats[c.slug]
			if !ok {
				mc = &menuCategory{category: c}
				cats[c.slug] = mc
			} else if c.label < mc.label {
				mc.label = c.label
			}
			mc.apps = append(mc.apps, m)
		}
	}
	out := make([]*menuCategory, 0, len(cats))
	for _, mc := range cats {
		slices.SortFunc(mc.apps, func(x, y *menuApp) int {
			if c := strings.Compare(strings.ToLower(x.name), strings.ToLower(y.name)); c != 0 {
				return c
			}
			return strings.Compare(x.id, y.id)
		})
		out = append(out, mc)
	}
	slices.SortFunc(out, func(x, y *menuCategory) int { return strings.Compare(x.label, y.label) })
	return out
}

const menuHeader = `<!DOCTYPE Menu PUBLIC "-//freedesktop//DTD Menu 1.0//EN"
 "http://www.freedesktop.org/standards/menu-spec/1.0/menu.dtd">
<!-- Written by the kubedesk launcher from the app catalog, and rewritten
     when the catalog changes: edits here are lost. -->
`

// menuXML is the merged menu: "Kubedesk Apps", a submenu per category, a
// submenu per app inside it, and the app's versions, newest first. The
// root's name is ignored when a desktop merges the file; "Xfce" matches
// images/desktop's kubedesk-base.menu.
func menuXML(tree []*menuCategory, notice bool) []byte {
	var b bytes.Buffer
	b.WriteString(menuHeader)
	w := func(depth int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	w(0, "<Menu>")
	w(1, "<Name>Xfce</Name>")
	w(1, "<Menu>")
	w(2, "<Name>Kubedesk Apps</Name>")
	w(2, "<Directory>%s</Directory>", xmlText(TopDirectory))
	if notice {
		w(2, "<Include>")
		w(3, "<Filename>%s</Filename>", NoticeFile)
		w(2, "</Include>")
	}
	for _, cat := range tree {
		w(2, "<Menu>")
		w(3, "<Name>%s</Name>", xmlText(strings.TrimSuffix(CategoryDirectory(cat.slug), ".directory")))
		w(3, "<Directory>%s</Directory>", xmlText(CategoryDirectory(cat.slug)))
		for _, app := range cat.apps {
			w(3, "<Menu>")
			w(4, "<Name>%s</Name>", xmlText(strings.TrimSuffix(AppDirectory(app.id), ".directory")))
			w(4, "<Directory>%s</Directory>", xmlText(AppDirectory(app.id)))
			w(4, "<Include>")
			for _, e := range app.entries {
				w(5, "<Filename>%s</Filename>", xmlText(e))
			}
			w(4, "</Include>")
			w(4, "<Layout>")
			for _, e := range app.entries {
				w(5, "<Filename>%s</Filename>", xmlText(e))
			}
			w(5, `<Merge type="all"/>`)
			w(4, "</Layout>")
			w(3, "</Menu>")
		}
		w(2, "</Menu>")
	}
	w(1, "</Menu>")
	w(0, "</Menu>")
	return b.Bytes()
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Changes lists what Write did, as absolute paths.
type Changes struct {
	Written []string
	Removed []string
}

// Write brings the menu files in DataHome and ConfigHome in line with the
// catalog. Files whose content is already right are not touched, so
// running it again with the same catalog changes nothing (and the desktop
// does not reload its menu). Each changed file is written to a temporary
// file in the same folder and renamed over the old one, so a reader never
// sees half a file. Entries and submenu descriptions are written before
// the menu that refers to them; then desktop entries and .directory files
// with this package's prefix that the catalog no longer has are removed.
// Other files are left alone.
func Write(c *sessionapi.Listing, opts Options) (Changes, error) {
	var ch Changes
	if !filepath.IsAbs(opts.DataHome) || !filepath.IsAbs(opts.ConfigHome) {
		return ch, fmt.Errorf("write menu: DataHome %q and ConfigHome %q must be absolute paths", opts.DataHome, opts.ConfigHome)
	}
	files := Render(c, opts)
	abs := func(rel string) string {
		if strings.HasPrefix(rel, MergedMenusDir+"/") {
			return filepath.Join(opts.ConfigHome, filepath.FromSlash(rel))
		}
		return filepath.Join(opts.DataHome, filepath.FromSlash(rel))
	}
	rels := make([]string, 0, len(files))
	for rel := range files {
		rels = append(rels, rel)
	}
	// The menu last: it names the other files.
	slices.SortFunc(rels, func(a, b string) int {
		am, bm := strings.HasPrefix(a, MergedMenusDir), strings.HasPrefix(b, MergedMenusDir)
		if am != bm {
			if am {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, dir := range []string{
		filepath.Join(opts.DataHome, ApplicationsDir),
		filepath.Join(opts.DataHome, DesktopDirectoriesDir),
		filepath.Join(opts.DataHome, filepath.FromSlash(MIMEPackagesDir)),
		filepath.Join(opts.ConfigHome, filepath.FromSlash(MergedMenusDir)),
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return ch, fmt.Errorf("write menu: %w", err)
		}
	}
	keep := map[string]bool{}
	for _, rel := range rels {
		path := abs(rel)
		keep[path] = true
		changed, err := writeIfChanged(path, files[rel])
		if err != nil {
			return ch, fmt.Errorf("write menu: %w", err)
		}
		if changed {
			ch.Written = append(ch.Written, path)
		}
	}
	var errs []error
	for _, stale := range []struct{ dir, suffix string }{
		{filepath.Join(opts.DataHome, ApplicationsDir), ".desktop"},
		{filepath.Join(opts.DataHome, DesktopDirectoriesDir), ".directory"},
		{filepath.Join(opts.DataHome, filepath.FromSlash(MIMEPackagesDir)), ".xml"},
		// Only MenuFile is ours there, and it is always kept: this only
		// sweeps temporary files.
		{filepath.Join(opts.ConfigHome, filepath.FromSlash(MergedMenusDir)), "/"},
	} {
		entries, err := os.ReadDir(stale.dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			name := e.Name()
			ours := strings.HasPrefix(name, Prefix) && strings.HasSuffix(name, stale.suffix)
			leftover := strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
			path := filepath.Join(stale.dir, name)
			if !e.Type().IsRegular() || keep[path] || !(ours || leftover) {
				continue
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			if ours {
				ch.Removed = append(ch.Removed, path)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ch, fmt.Errorf("write menu: remove old entries: %w", err)
	}
	return ch, nil
}

// Temporary files start with a dot, so no desktop reads them; a crash can
// leave one, which the next Write removes.
const (
	tempPrefix = "." + Prefix + "-"
	tempSuffix = ".tmp"
)

func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix+"*"+tempSuffix)
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return false, err
	}
	return true, nil
}
