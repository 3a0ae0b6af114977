package sessionapi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/validation"
)

// TestNewListing: the agent's menu takes the session's catalog as the
// service hands it and still refuses what a menu entry could not carry.
// Tried: a bare entry, a bad ID, a control character in the name, a file
// type that is neither, a repeat; the rest comes back by ID, newest
// version first.
func TestNewListing(t *testing.T) {
	t.Parallel()
	l, problems := NewListing(
		CatalogApp{ID: "xterm", Version: "1", FileTypes: []string{".txt"}},
		CatalogApp{ID: "Bad_ID", Version: "1"},
		CatalogApp{ID: "a", Version: "1", Name: "two\nlines"},
		CatalogApp{ID: "b", Version: "1", FileTypes: []string{"txt"}},
		CatalogApp{ID: "xterm", Version: "1"},
		CatalogApp{ID: "itksnap", Version: "3.8.0"},
		CatalogApp{ID: "itksnap", Version: "4.10.0"},
		CatalogApp{ID: "itksnap", Version: "4.4.0"},
	)
	var got []string
	for _, a := range l.Apps() {
		got = append(got, a.String()+"="+a.Name)
	}
	assert.Equal(t, []string{"itksnap 4.10.0=itksnap", "itksnap 4.4.0=itksnap", "itksnap 3.8.0=itksnap", "xterm 1=xterm"}, got,
		"named by their IDs, by ID and newest version first")
	want := []string{
		`Bad_ID 1: id: "Bad_ID" must be a DNS label`,
		"a 1: name: contains the control character U+000A",
		`b 1: file_types[0]: "txt" is neither`,
		"xterm 1: duplicate of entry 1; this entry is skipped",
	}
	if assert.Len(t, problems, len(want), "%v", problems) {
		for i, p := range problems {
			assert.True(t, strings.HasPrefix(p.Error(), want[i]), "problem %d %q, want %q…", i, p.Error(), want[i])
		}
	}

	empty, problems := NewListing()
	assert.Empty(t, problems)
	assert.Empty(t, empty.Apps())
}

func TestListingAppsAreCopies(t *testing.T) {
	t.Parallel()
	l, _ := NewListing(CatalogApp{ID: "a", Version: "1", Categories: []string{"one"}})
	l.Apps()[0].Categories[0] = "changed"
	assert.Equal(t, "one", l.Apps()[0].Categories[0])
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		app  CatalogApp
		want []string // the fields at fault, in order
	}{
		{"valid", CatalogApp{ID: "fsl-shell", Version: "6.0.7.19", Name: "FSL", Description: "two\nlines\tok",
			Categories: []string{"Image segmentation"}, FileTypes: []string{".nii.gz", "image/png"}}, nil},
		{"required", CatalogApp{}, []string{"id", "version"}},
		{"names", CatalogApp{ID: "-x", Version: "1.0-"}, []string{"id", "version"}},
		{"one-line texts", CatalogApp{ID: "x", Version: "1", Name: "a\tb", Icon: "i\x00", Description: "d\x1b"}, []string{"name", "description", "icon"}},
		{"categories", CatalogApp{ID: "x", Version: "1", Categories: []string{" ", "a;b", "!!", "ok"}}, []string{"categories[0]", "categories[1]", "categories[2]"}},
		{"file types", CatalogApp{ID: "x", Version: "1", FileTypes: []string{"nii", "image/", ".ok"}}, []string{"file_types[0]", "file_types[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, e := range tt.app.Check() {
				assert.True(t, strings.HasPrefix(e.Message, e.Field+": "), "%q starts with its field", e.Message)
				got = append(got, e.Field)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Desktop", "desktop"},
		{"GPU Server (A100)", "gpu-server-a100"},
		{"  --Big__&__Fast--  ", "big-fast"},
		{"R 4.3", "r-4-3"},
		{"Image segmentation", "image-segmentation"},
		{"!!!", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Slug(tt.in), tt.in)
	}
}

// nameSeeds are IDs and versions around the edges of Kubernetes' rules.
var nameSeeds = []string{
	"", "a", "A", "0", "-", "_", ".", "a-b", "a_b", "a.b", "-a", "a-", "_a", "a_", ".a", "a.",
	"itksnap", "ITK-SNAP", "4.4.0", "4.4.0-rc1", "v1_2", "20260117", "é", "a\n", "a b",
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("1", 63) + "-",
}

// TestNamesAgreeWithKubernetes: this package checks IDs and versions
// itself, so that the agent and the launch CLI link nothing of Kubernetes;
// its rules are those of k8s.io/apimachinery, which builds the app pods'
// names and labels from them.
func TestNamesAgreeWithKubernetes(t *testing.T) {
	t.Parallel()
	for _, s := range nameSeeds {
		agreeWithKubernetes(t, s)
	}
}

func FuzzNamesAgreeWithKubernetes(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(agreeWithKubernetes)
}

func agreeWithKubernetes(t *testing.T, s string) {
	if got, want := isDNSLabel(s), len(validation.IsDNS1123Label(s)) == 0; got != want {
		t.Errorf("isDNSLabel(%q) = %v, apimachinery says %v", s, got, want)
	}
	if got, want := isLabelValue(s), len(validation.IsValidLabelValue(s)) == 0; got != want {
		t.Errorf("isLabelValue(%q) = %v, apimachinery says %v", s, got, want)
	}
}
