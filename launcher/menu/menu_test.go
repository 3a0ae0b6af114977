package menu

import (
	"context"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/catalog"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "testdata/golden"

// toolTimeout bounds each run of an outside tool (desktop-file-validate,
// python).
const toolTimeout = 2 * time.Minute

func loadCatalog(t *testing.T, path string) *sessionapi.Listing {
	t.Helper()
	c, problems := catalog.Load(path)
	require.Empty(t, problems)
	return listingOf(t, c)
}

func testOptions() Options {
	// A launch command with a space and a percent sign, to show the quoting.
	// A desktop that knows .txt and nothing of NIfTI, whatever this host has.
	return Options{Launch: []string{"/opt/kube desk/bin/launch", "--socket=/run/kd%1.sock"},
		KnownFileType: func(ext string) bool { return ext == ".txt" }}
}

// TestRenderGolden compares Render's files with testdata/golden. To
// update them: go test ./launcher/menu -run TestRenderGolden -update
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	files := Render(loadCatalog(t, "testdata/catalog.yaml"), testOptions())
	if *update {
		require.NoError(t, os.RemoveAll(goldenDir))
		for rel, data := range files {
			path := filepath.Join(goldenDir, filepath.FromSlash(rel))
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}
	}
	var golden []string
	require.NoError(t, filepath.WalkDir(goldenDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(goldenDir, path)
			golden = append(golden, filepath.ToSlash(rel))
		}
		return err
	}))
	var rendered []string
	for rel := range files {
		rendered = append(rendered, rel)
	}
	slices.Sort(rendered)
	require.Equal(t, golden, rendered, "the set of files differs; run with -update if the change is intended")
	for _, rel := range rendered {
		want, err := os.ReadFile(filepath.Join(goldenDir, filepath.FromSlash(rel)))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(files[rel]), "%s differs; run with -update if the change is intended", rel)
	}
}

func TestExecQuoting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"plain", []string{"launch", "itksnap", "4.4.0"}, "launch itksnap 4.4.0 %F"},
		{"space", []string{"/opt/kube desk/launch"}, `"/opt/kube desk/launch" %F`},
		{"percent is doubled", []string{"launch", "50%"}, "launch 50%% %F"},
		{"percent in quotes", []string{"a b%"}, `"a b%%" %F`},
		{"quote, dollar and backtick are escaped, backslashes doubled again", []string{`say "$x" ` + "`y`"}, `"say \\"\\$x\\" \\` + "`y\\\\`" + `" %F`},
		{"backslash", []string{`C:\dir`}, `"C:\\\\dir" %F`},
		{"reserved characters", []string{"a;b", "a|b", "~x", "a*"}, `"a;b" "a|b" "~x" "a*" %F`},
		{"empty argument", []string{"launch", ""}, `launch "" %F`},
		{"equals sign needs no quotes", []string{"--socket=/x"}, "--socket=/x %F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, execLine(tt.args, "%F"))
		})
	}
}

func TestEscapeValue(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "ITK-SNAP 4.4.0", "ITK-SNAP 4.4.0"},
		{"newline, tab, return", "a\nb\tc\rd", `a\nb\tc\rd`},
		{"backslash", `C:\x`, `C:\\x`},
		{"leading space only", "  a b", `\s a b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, escapeValue(tt.in))
		})
	}
	assert.Equal(t, `a;b\;c;`, escapeList([]string{"a", "b;c"}))
}

func TestDefaultIconFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ icon, want string }{
		{"", DefaultIcon},
		{"itksnap", "itksnap"},
		{"/opt/icons/fsl.png", "/opt/icons/fsl.png"},
		{"https://example.org/x.png", DefaultIcon},
		{"icons/x.png", DefaultIcon},
	}
	for _, tt := range tests {
		t.Run(tt.icon, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, DefaultIconFor(sessionapi.CatalogApp{Icon: tt.icon}))
		})
	}
}

func TestEntryFileKeepsIDsAndVersionsApart(t *testing.T) {
	t.Parallel()
	a := EntryFile(sessionapi.CatalogApp{ID: "foo-1", Version: "2"})
	b := EntryFile(sessionapi.CatalogApp{ID: "foo", Version: "1-2"})
	assert.Equal(t, "kubedesk-foo-1_2.desktop", a)
	assert.Equal(t, "kubedesk-foo_1-2.desktop", b)
}

func writeTo(t *testing.T, c *sessionapi.Listing) (Options, Changes) {
	t.Helper()
	root := t.TempDir()
	opts := testOptions()
	opts.DataHome = filepath.Join(root, "share")
	opts.ConfigHome = filepath.Join(root, "config")
	ch, err := Write(c, opts)
	require.NoError(t, err)
	return opts, ch
}

// listFiles lists the files under root, relative, with dot-files too.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	}))
	return out
}

func TestWrite(t *testing.T) {
	t.Parallel()
	c := loadCatalog(t, "testdata/catalog.yaml")
	opts, first := writeTo(t, c)
	root := filepath.Dir(opts.DataHome)
	files := Render(c, opts)
	assert.Len(t, first.Written, len(files))
	assert.Empty(t, first.Removed)
	for rel, data := range files {
		base := opts.DataHome
		if strings.HasPrefix(rel, "menus/") {
			base = opts.ConfigHome
		}
		got, err := os.ReadFile(filepath.Join(base, rel))
		require.NoError(t, err)
		assert.Equal(t, string(data), string(got), rel)
	}
	assert.Contains(t, listFiles(t, root), "config/menus/applications-merged/kubedesk-apps.menu", "the menu goes to the config home")

	t.Run("again changes nothing", func(t *testing.T) {
		info, err := os.Stat(filepath.Join(opts.ConfigHome, MergedMenusDir, MenuFile))
		require.NoError(t, err)
		ch, err := Write(c, opts)
		require.NoError(t, err)
		assert.Empty(t, ch.Written)
		assert.Empty(t, ch.Removed)
		again, err := os.Stat(filepath.Join(opts.ConfigHome, MergedMenusDir, MenuFile))
		require.NoError(t, err)
		assert.True(t, os.SameFile(info, again), "an unchanged file is not replaced")
	})
}

func TestWriteReplacesOnlyItsOwnFiles(t *testing.T) {
	t.Parallel()
	c := loadCatalog(t, "testdata/catalog.yaml")
	opts, _ := writeTo(t, c)
	root := filepath.Dir(opts.DataHome)
	// Files that are not ours, and a temporary file left by a crash.
	others := map[string]string{
		"share/applications/firefox.desktop":                  "[Desktop Entry]\n",
		"share/applications/kubedesk-notes.txt":               "not a desktop entry\n",
		"share/desktop-directories/other.directory":           "[Desktop Entry]\n",
		"config/menus/applications-merged/kubedesk-base.menu": "<Menu/>\n",
		"config/menus/applications-merged/user.menu":          "<Menu/>\n",
	}
	for rel, text := range others {
		require.NoError(t, os.WriteFile(filepath.Join(root, rel), []byte(text), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(opts.DataHome, ApplicationsDir, ".kubedesk-123.tmp"), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(opts.ConfigHome, MergedMenusDir, ".kubedesk-456.tmp"), nil, 0o600))

	// itksnap 3.8.0 and xterm leave the catalog; fsl-shell changes.
	smaller, problems := catalog.Parse([]byte(`
- {id: itksnap, name: ITK-SNAP, version: 4.4.0, icon: itksnap, categories: [visualization], image: "vnmd/itksnap_4.4.0:20260117", command: [itksnap]}
- {id: fsl-shell, name: FSL shell, version: 6.0.7.19, categories: [functional imaging], image: "vnmd/fsl_6.0.7.19:20260217", command: [/bin/bash], terminal: true}
`), "smaller.yaml")
	require.Empty(t, problems)
	ch, err := Write(listingOf(t, smaller), opts)
	require.NoError(t, err)

	rel := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			r, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(r))
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, []string{
		"share/applications/kubedesk-itksnap_3.8.0.desktop",
		"share/applications/kubedesk-xterm_1.desktop",
		"share/desktop-directories/kubedesk-app-xterm.directory",
		"share/desktop-directories/kubedesk-category-image-segmentation.directory",
		"share/desktop-directories/kubedesk-category-other.directory",
		// No app of the smaller catalog opens files.
		"share/mime/packages/kubedesk.xml",
	}, rel(ch.Removed))
	assert.Equal(t, []string{
		"config/menus/applications-merged/kubedesk-apps.menu",
		"share/applications/kubedesk-fsl-shell_6.0.7.19.desktop",
		"share/applications/kubedesk-itksnap_4.4.0.desktop",
		// fsl-shell lost its icon, so its submenu has the default one.
		"share/desktop-directories/kubedesk-app-fsl-shell.directory",
	}, rel(ch.Written))
	assert.Equal(t, []string{
		"config/menus/applications-merged/kubedesk-apps.menu",
		"config/menus/applications-merged/kubedesk-base.menu",
		"config/menus/applications-merged/user.menu",
		"share/applications/firefox.desktop",
		"share/applications/kubedesk-fsl-shell_6.0.7.19.desktop",
		"share/applications/kubedesk-itksnap_4.4.0.desktop",
		"share/applications/kubedesk-notes.txt",
		"share/desktop-directories/kubedesk-app-fsl-shell.directory",
		"share/desktop-directories/kubedesk-app-itksnap.directory",
		"share/desktop-directories/kubedesk-category-functional-imaging.directory",
		"share/desktop-directories/kubedesk-category-visualization.directory",
		"share/desktop-directories/kubedesk.directory",
		"share/desktop-directories/other.directory",
	}, listFiles(t, root))
	for rel, text := range others {
		got, err := os.ReadFile(filepath.Join(root, rel))
		require.NoError(t, err)
		assert.Equal(t, text, string(got), "%s is not ours and must be left alone", rel)
	}
}

func TestWriteEmptyCatalog(t *testing.T) {
	t.Parallel()
	empty, _ := sessionapi.NewListing()
	opts, ch := writeTo(t, empty)
	assert.Len(t, ch.Written, 2, "the top directory and an empty menu")
	menu, err := os.ReadFile(filepath.Join(opts.ConfigHome, MergedMenusDir, MenuFile))
	require.NoError(t, err)
	assert.Contains(t, string(menu), "<Name>Kubedesk Apps</Name>")
}

// A launcher that cannot reach the service leaves a notice in the menu; the
// next Write without one removes it.
func TestWriteNotice(t *testing.T) {
	t.Parallel()
	empty, _ := sessionapi.NewListing()
	root := t.TempDir()
	opts := Options{DataHome: filepath.Join(root, "share"), ConfigHome: filepath.Join(root, "config"),
		Notice: "Apps are unavailable: the service said \"no\"; 100% sure."}
	_, err := Write(empty, opts)
	require.NoError(t, err)
	entry, err := os.ReadFile(filepath.Join(opts.DataHome, ApplicationsDir, NoticeFile))
	require.NoError(t, err)
	assert.Contains(t, string(entry), "Name=Why are there no apps?\n")
	// Exec quoting (a double-quoted argument, \" inside) and %% for a
	// literal percent sign, as the Desktop Entry specification says.
	assert.Contains(t, string(entry), `Exec=xmessage -center -buttons OK:0 "Apps are unavailable: the service said \\"no\\"; 100%% sure."`+"\n")
	menu, err := os.ReadFile(filepath.Join(opts.ConfigHome, MergedMenusDir, MenuFile))
	require.NoError(t, err)
	assert.Contains(t, string(menu), "<Filename>"+NoticeFile+"</Filename>")

	opts.Notice = ""
	ch, err := Write(loadCatalog(t, "testdata/catalog.yaml"), opts)
	require.NoError(t, err)
	assert.Contains(t, ch.Removed, filepath.Join(opts.DataHome, ApplicationsDir, NoticeFile))
	menu, err = os.ReadFile(filepath.Join(opts.ConfigHome, MergedMenusDir, MenuFile))
	require.NoError(t, err)
	assert.NotContains(t, string(menu), NoticeFile)
}

func TestWriteNeedsAbsoluteHomes(t *testing.T) {
	t.Parallel()
	empty, _ := sessionapi.NewListing()
	_, err := Write(empty, Options{DataHome: "share", ConfigHome: "/config"})
	require.EqualError(t, err, `write menu: DataHome "share" and ConfigHome "/config" must be absolute paths`)
}

func TestDefaultOptions(t *testing.T) {
	// Not parallel: it sets environment variables.
	t.Setenv("HOME", "/home/jovyan")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "relative/is/ignored")
	o, err := DefaultOptions()
	require.NoError(t, err)
	assert.Equal(t, "/home/jovyan/.local/share", o.DataHome)
	assert.Equal(t, "/home/jovyan/.config", o.ConfigHome)

	t.Setenv("XDG_DATA_HOME", "/data")
	t.Setenv("XDG_CONFIG_HOME", "/conf")
	o, err = DefaultOptions()
	require.NoError(t, err)
	assert.Equal(t, Options{DataHome: "/data", ConfigHome: "/conf"}, o)
}

// desktopFileValidate finds desktop-file-validate, or skips: a unit test
// installs nothing. hack/desktop-env.sh apt (part of make deps, which make
// test runs first) installs it from hack/test-packages.txt.
func desktopFileValidate(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("desktop-file-validate")
	if err != nil {
		t.Skip("needs desktop-file-validate (Debian's desktop-file-utils: hack/desktop-env.sh apt installs it)")
	}
	return path
}

// TestDesktopFileValidate runs the freedesktop validator on every entry
// and .directory file, for the golden catalog and the examples. Its hints
// (such as "no registered main category", which is on purpose: the apps
// belong in kubedesk's own submenu only) are allowed; errors and warnings
// are not.
func TestDesktopFileValidate(t *testing.T) {
	t.Parallel()
	validator := desktopFileValidate(t)
	for _, path := range []string{"testdata/catalog.yaml", "../../examples/catalog/neurodesk-subset.yaml"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			opts, _ := writeTo(t, loadCatalog(t, path))
			var files []string
			for _, dir := range []string{ApplicationsDir, DesktopDirectoriesDir} {
				matches, err := filepath.Glob(filepath.Join(opts.DataHome, dir, "kubedesk*"))
				require.NoError(t, err)
				files = append(files, matches...)
			}
			require.NotEmpty(t, files)
			ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
			defer cancel()
			out, err := exec.CommandContext(ctx, validator, files...).CombinedOutput()
			require.NoError(t, err, "desktop-file-validate:\n%s", out)
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if line != "" && !strings.Contains(line, ": hint: ") {
					t.Errorf("desktop-file-validate: %s", line)
				}
			}
		})
	}
}

// TestGarconMenu loads the written menu with XFCE's own menu library,
// garcon (the session image's desktop is XFCE 4.18), and checks the tree
// it builds. It skips where /usr/bin/python3 lacks python3-gi or
// gir1.2-garcon-1.0.
func TestGarconMenu(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	probe := exec.Command(python, "-c", "import gi; gi.require_version('Garcon', '1.0'); from gi.repository import Garcon")
	if err := probe.Run(); err != nil {
		t.Skip("needs /usr/bin/python3 with python3-gi and gir1.2-garcon-1.0 (apt-get install python3-gi gir1.2-garcon-1.0)")
	}
	opts, _ := writeTo(t, loadCatalog(t, "testdata/catalog.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/garcon_tree.py")
	cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+opts.DataHome,
		"XDG_CONFIG_HOME="+opts.ConfigHome,
		// The session image's own menu tweaks come first, as in the image.
		"XDG_CONFIG_DIRS=../../images/desktop/xdg:/etc/xdg",
		"XDG_DATA_DIRS=/usr/share",
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// garcon gives the Exec value unexpanded, so "%%" is still doubled.
	launch := `"/opt/kube desk/bin/launch" --socket=/run/kd%%1.sock `
	assert.Equal(t, strings.Join([]string{
		"[Kubedesk Apps]",
		"  [Functional imaging]",
		"    [FSL shell]",
		"      FSL shell 6.0.7.19 :: " + launch + "fsl-shell 6.0.7.19 %F",
		// The newest version's categories place every version.
		"  [Image segmentation]",
		"    [ITK-SNAP]",
		"      ITK-SNAP 4.4.0 :: " + launch + "itksnap 4.4.0 %F",
		"      ITK-SNAP 3.8.0 :: " + launch + "itksnap 3.8.0 %F",
		"  [Other]",
		"    [XTerm]",
		"      XTerm 1 :: " + launch + "xterm 1 %F",
		"  [Visualization]",
		"    [ITK-SNAP]",
		"      ITK-SNAP 4.4.0 :: " + launch + "itksnap 4.4.0 %F",
		"      ITK-SNAP 3.8.0 :: " + launch + "itksnap 3.8.0 %F",
		"",
	}, "\n"), string(out), "no kubedesk entry is left unplaced (in Other)")
}
