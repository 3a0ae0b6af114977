package menu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/catalog"
)

// The demo's three kinds of app: a viewer that names one MIME type for
// extensions the desktop does not know (MRIcron: NIfTI), an editor of
// files every desktop knows (mtPaint: PNG), and an app that names no MIME
// type for its own files (Veusz).
const mimeCatalog = `
- {id: mricron, version: "1", image: m, command: [mricron], file_types: [.nii, .nii.gz, .hdr, application/x-nifti]}
- {id: mtpaint, version: "3", image: p, command: [mtpaint], file_types: [.png, .jpg, image/png, image/jpeg]}
- {id: veusz, version: "3", image: v, command: [veusz], file_types: [.vsz]}
- {id: other-viewer, version: "1", image: o, command: [o], file_types: [.NII, .vsz]}
`

func TestMIMEPackageTypesOnlyUnknownExtensions(t *testing.T) {
	t.Parallel()
	c, problems := catalog.Parse([]byte(mimeCatalog), "apps.yaml")
	require.Empty(t, problems)
	known := func(ext string) bool { return ext == ".png" || ext == ".jpg" || ext == ".hdr" }
	files := Render(listingOf(t, c), Options{KnownFileType: known})

	pkg := string(files[MIMEPackagesDir+"/"+MIMEPackage])
	assert.Equal(t, `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by kubedesk's launcher from the app catalog: the file types its apps open that this desktop does not know. -->
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="application/x-kubedesk-vsz">
    <comment>.vsz file</comment>
    <glob pattern="*.vsz"/>
  </mime-type>
  <mime-type type="application/x-nifti">
    <comment>.nii, .nii.gz file</comment>
    <sub-class-of type="application/gzip"/>
    <glob pattern="*.nii"/>
    <glob pattern="*.nii.gz"/>
  </mime-type>
</mime-info>
`, pkg, ".png, .jpg and .hdr keep the desktop's types")

	mimeLine := func(entry string) string {
		for _, l := range strings.Split(string(files[ApplicationsDir+"/"+entry]), "\n") {
			if v, ok := strings.CutPrefix(l, "MimeType="); ok {
				return v
			}
		}
		return ""
	}
	assert.Equal(t, "application/x-nifti;", mimeLine("kubedesk-mricron_1.desktop"))
	assert.Equal(t, "image/png;image/jpeg;", mimeLine("kubedesk-mtpaint_3.desktop"))
	assert.Equal(t, "application/x-kubedesk-vsz;", mimeLine("kubedesk-veusz_3.desktop"))
	assert.Equal(t, "application/x-nifti;application/x-kubedesk-vsz;", mimeLine("kubedesk-other-viewer_1.desktop"),
		"an app that names a typed extension (in any case) lists that type")
}

// With every extension known there is no package, and Write removes the
// one it wrote before.
func TestMIMEPackageGoesWhenNotNeeded(t *testing.T) {
	t.Parallel()
	c, _ := catalog.Parse([]byte(mimeCatalog), "apps.yaml")
	l := listingOf(t, c)
	root := t.TempDir()
	opts := Options{DataHome: filepath.Join(root, "share"), ConfigHome: filepath.Join(root, "config"),
		KnownFileType: func(string) bool { return false }}
	_, err := Write(l, opts)
	require.NoError(t, err)
	pkg := filepath.Join(opts.DataHome, MIMEPackagesDir, MIMEPackage)
	require.FileExists(t, pkg)

	opts.KnownFileType = func(string) bool { return true }
	ch, err := Write(l, opts)
	require.NoError(t, err)
	assert.Contains(t, ch.Removed, pkg)
	assert.NoFileExists(t, pkg)
}

func TestSystemGlobs(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "mime"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mime", "globs2"), []byte(
		"# comment\n50:image/png:*.png\n50:text/x-readme:README*\n60:application/x-veusz:*.VSZ:cs\n"), 0o644))
	t.Setenv("XDG_DATA_DIRS", dir)
	known := SystemGlobs()
	assert.True(t, known(".png"))
	assert.True(t, known(".vsz"), "globs match whatever the case")
	assert.False(t, known(".nii.gz"))
	assert.False(t, known("README"), "only extension globs count")
}
