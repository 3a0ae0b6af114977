package catalog

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// app is a small valid fixture; opts adjust it.
func app(id, version string, opts ...func(*App)) App {
	a := App{ID: id, Version: version, Image: "example/app:" + version, Command: []string{id}}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func withCategories(c ...string) func(*App) { return func(a *App) { a.Categories = c } }
func withProfiles(p ...string) func(*App)   { return func(a *App) { a.Profiles = p } }

func testCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, problems := New(
		app("itksnap", "3.8.0", withCategories("image segmentation", "visualization")),
		app("itksnap", "4.10.0", withCategories("image segmentation", "visualization")),
		app("itksnap", "4.4.0", withCategories("image segmentation", "visualization")),
		app("itksnap2", "1"),
		app("fsleyes", "6.0.7.19", withCategories("visualization")),
		app("spm12", "r7771", withCategories("functional imaging")),
		app("slicer", "5.10.0", withProfiles("gpu")),
	)
	require.Empty(t, problems)
	return c
}

func TestLookup(t *testing.T) {
	t.Parallel()
	c := testCatalog(t)
	tests := []struct {
		name, id, version string
		want              string
		wantErr           string
	}{
		{name: "newest by version order", id: "itksnap", want: "itksnap 4.10.0"},
		{name: "a given version", id: "itksnap", version: "3.8.0", want: "itksnap 3.8.0"},
		{name: "only version", id: "spm12", want: "spm12 r7771"},
		{name: "unknown version lists the versions", id: "itksnap", version: "9", wantErr: `app "itksnap" has no version "9" (it has 4.10.0, 4.4.0, 3.8.0)`},
		{name: "typo", id: "itksnp", wantErr: `app "itksnp" is not in the catalog (did you mean "itksnap" or "itksnap2"?)`},
		{name: "case", id: "FSLeyes", wantErr: `app "FSLeyes" is not in the catalog (did you mean "fsleyes"?)`},
		{name: "part of an id", id: "slice", wantErr: `app "slice" is not in the catalog (did you mean "slicer"?)`},
		{name: "nothing near", id: "matlab", wantErr: `app "matlab" is not in the catalog`},
		{name: "empty id", id: "", wantErr: `app "" is not in the catalog`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Lookup(tt.id, tt.version)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				var nf *NotFoundError
				require.True(t, errors.As(err, &nf))
				assert.Equal(t, tt.id, nf.ID)
				assert.Equal(t, tt.version, nf.Version)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

func TestQueries(t *testing.T) {
	t.Parallel()
	c := testCatalog(t)
	assert.Equal(t, 7, c.Len())
	assert.Equal(t, []string{"fsleyes", "itksnap", "itksnap2", "slicer", "spm12"}, c.IDs())
	assert.Equal(t, []string{"4.10.0", "4.4.0", "3.8.0"}, c.Versions("itksnap"))
	assert.Nil(t, c.Versions("nope"))
	assert.Equal(t, []string{"functional imaging", "image segmentation", "visualization"}, c.Categories())
	assert.Equal(t, []string{"fsleyes 6.0.7.19", "itksnap 4.10.0", "itksnap 4.4.0", "itksnap 3.8.0", "itksnap2 1", "slicer 5.10.0", "spm12 r7771"}, ids(c))

	var forDesktop, forGPU []string
	for _, a := range c.ForProfile("desktop") {
		forDesktop = append(forDesktop, a.ID)
	}
	for _, a := range c.ForProfile("gpu") {
		forGPU = append(forGPU, a.ID)
	}
	assert.NotContains(t, forDesktop, "slicer")
	assert.Contains(t, forGPU, "slicer")
	assert.Len(t, forGPU, 7)
}

func TestAppsAreCopies(t *testing.T) {
	t.Parallel()
	c := testCatalog(t)
	a, err := c.Lookup("itksnap", "")
	require.NoError(t, err)
	a.Command[0] = "rm"
	a.Categories[0] = "changed"
	again, err := c.Lookup("itksnap", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"itksnap"}, again.Command)
	assert.Equal(t, "image segmentation", again.Categories[0])
}

func TestNew(t *testing.T) {
	t.Parallel()
	c, problems := New(
		app("ok", "1"),
		app("Bad", "1"),
		app("ok", "1"),
		App{ID: "nocmd", Version: "1", Image: "x/y"},
	)
	assert.Equal(t, []Problem{
		{App: "Bad 1", Message: `id: "Bad" must be a DNS label (lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters), since it names pods and labels`},
		{App: "ok 1", Message: "duplicate of entry 1; this entry is skipped"},
		{App: "nocmd 1", Message: "command: is required"},
	}, problems)
	assert.Equal(t, []string{"ok 1"}, ids(c))
	a, err := c.Lookup("ok", "")
	require.NoError(t, err)
	assert.Equal(t, "ok", a.Name, "name defaults to the id")
}

func TestMerge(t *testing.T) {
	t.Parallel()
	own, problems := Parse([]byte("- {id: itksnap, version: 4.4.0, image: mirror/itksnap:4.4.0, command: [itksnap]}\n"), "apps.yaml")
	require.Empty(t, problems)
	imported, problems := ImportNeurodesk([]byte(`{"itksnap": {"apps": {
		"itksnapGUI-itksnap 4.4.0": {"version": "20260117", "exec": "itksnap"},
		"itksnapGUI-itksnap 4.2.2": {"version": "20250805", "exec": "itksnap"}}}}`), "apps.json", NeurodeskOptions{})
	require.Empty(t, problems)

	c, problems := Merge(own, nil, imported)
	assert.Equal(t, []Problem{
		{Source: "apps.json", Line: 2, App: "itksnap 4.4.0", Message: "also defined at apps.yaml:1, which is kept"},
	}, problems)
	assert.Equal(t, []string{"itksnap 4.4.0", "itksnap 4.2.2"}, ids(c))
	a, err := c.Lookup("itksnap", "4.4.0")
	require.NoError(t, err)
	assert.Equal(t, "mirror/itksnap:4.4.0", a.Image, "the first catalog wins")
}

// TestListing: what a session reads of an app is what its menus show, and
// a catalog entry needs more than that: New checks the listing's rules and
// the pod's, reported in the order of App's fields.
func TestListing(t *testing.T) {
	t.Parallel()
	a := App{
		ID: "xterm", Name: "XTerm", Version: "1", Description: "A terminal", Icon: "xterm",
		Categories: []string{"System"}, FileTypes: []string{".txt"}, Terminal: true,
		Image: "registry.example/xterm:1", Command: []string{"xterm"}, Args: []string{"{file}"},
		Env: map[string]string{"LICENSE_SERVER": "secret-host:27000"}, Resources: Resources{CPU: "1"},
		Placement: Placement{NodeSelector: map[string]string{"pool": "gpu"}}, Profiles: []string{"gpu"},
	}
	assert.Equal(t, sessionapi.CatalogApp{
		ID: "xterm", Name: "XTerm", Version: "1", Description: "A terminal", Icon: "xterm",
		Categories: []string{"System"}, FileTypes: []string{".txt"}, Terminal: true,
	}, a.Listing())

	_, problems := New(App{ID: "Bad", Version: "1", FileTypes: []string{"txt"}, Env: map[string]string{"1x": ""}})
	var got []string
	for _, p := range problems {
		field, _, _ := strings.Cut(p.Message, ":")
		got = append(got, field)
	}
	assert.Equal(t, []string{"id", "image", "command", "file_types[0]", "env"}, got, "%v", problems)
}
