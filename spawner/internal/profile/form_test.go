package profile

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestRenderFormGolden(t *testing.T) {
	t.Parallel()
	got, err := RenderForm(testdataProfiles(t))
	require.NoError(t, err)
	golden := filepath.Join("testdata", "form.golden.html")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "run go test -update to accept a change")
}

func TestRenderFormEmpty(t *testing.T) {
	t.Parallel()
	got, err := RenderForm(nil)
	require.NoError(t, err)
	assert.Empty(t, got, "no profiles, no form: the hub then spawns directly")
}

func TestRenderFormStructure(t *testing.T) {
	t.Parallel()
	doc := renderDoc(t, testdataProfiles(t))

	var radios []string
	var checked []string
	for _, in := range findAll(doc, atom.Input) {
		if attr(in, "type") == "radio" {
			assert.Equal(t, "profile", attr(in, "name"))
			radios = append(radios, attr(in, "value"))
			if hasAttr(in, "checked") {
				checked = append(checked, attr(in, "value"))
			}
		}
	}
	assert.Equal(t, []string{"desktop", "gpu", "custom-image"}, radios)
	assert.Equal(t, []string{"desktop"}, checked, "the default profile is preselected")

	selects := map[string]*html.Node{}
	for _, s := range findAll(doc, atom.Select) {
		selects[attr(s, "name")] = s
	}
	require.Len(t, selects, 2)
	values, selected := selectOptions(selects["profile-option-custom-image--image"])
	assert.Equal(t, []string{"xfce", "kde", "unlisted-choice"}, values)
	assert.Equal(t, "xfce", selected)
	values, selected = selectOptions(selects["profile-option-custom-image--size"])
	assert.Equal(t, []string{"small", "large"}, values, "choices keep the operator's order")
	assert.Equal(t, "small", selected)

	text := byName(doc, "profile-option-custom-image--image--unlisted-choice")
	require.NotNil(t, text)
	assert.Equal(t, "text", attr(text, "type"))
	assert.False(t, hasAttr(text, "pattern"), "see RenderForm for why")
	help := byID(doc, attr(text, "aria-describedby"))
	require.NotNil(t, help, "the validation message describes the field")
	assert.Equal(t, "Use an image reference such as ghcr.io/org/image:tag (lower case, no spaces).", textOf(help))

	// Every control has a label tied to it, for screen readers and for a
	// bigger click target.
	labels := map[string]string{}
	for _, l := range findAll(doc, atom.Label) {
		labels[attr(l, "for")] = textOf(l)
	}
	for _, c := range append(findAll(doc, atom.Input), findAll(doc, atom.Select)...) {
		id := attr(c, "id")
		assert.NotEmpty(t, id, "control %q has an id", attr(c, "name"))
		assert.NotEmpty(t, labels[id], "control %q has a label", id)
	}
	assert.Equal(t, "Image name", labels["profile-option-custom-image--image--unlisted-choice"])

	// Profile text is escaped, not markup.
	assert.Empty(t, findAll(doc, atom.Lookup([]byte("visualisation"))))
	assert.Equal(t, "One NVIDIA GPU, for CUDA work & <visualisation>.", textOf(byID(doc, "profile-item-gpu-description")))
}

func TestRenderFormEscapes(t *testing.T) {
	t.Parallel()
	profiles := []Profile{{
		Slug:        `x" onclick="alert(1)`,
		DisplayName: "<script>alert(1)</script>",
		Options: map[string]Option{"o": {Choices: map[string]Choice{
			`"><b>`: {DisplayName: "<i>choice</i>"},
		}}},
	}}
	got, err := RenderForm(profiles)
	require.NoError(t, err)
	assert.NotContains(t, got, "<script>alert")
	assert.NotContains(t, got, "<i>choice")
	assert.NotContains(t, got, `" onclick="`)

	doc := renderDoc(t, profiles)
	radio := byName(doc, "profile")
	require.NotNil(t, radio)
	assert.Equal(t, `x" onclick="alert(1)`, attr(radio, "value"), "the value survives escaping intact")
	assert.False(t, hasAttr(radio, "onclick"))
}

func TestFromForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		form map[string][]string
		want map[string]any
	}{
		{
			name: "KubeSpawner's docstring example",
			form: map[string][]string{"profile": {"demo-1"}, "profile-option-demo-1--image": {"minimal"}},
			want: map[string]any{"profile": "demo-1", "image": "minimal"},
		},
		{
			name: "other profiles' fields and unknown fields are dropped",
			form: map[string][]string{
				"profile":                   {"gpu"},
				"profile-option-gpu--image": {"tf"},
				"profile-option-gpu--image--unlisted-choice": {""},
				"profile-option-cpu--image":                  {"base"},
				"_xsrf":                                      {"token"},
			},
			want: map[string]any{"profile": "gpu", "image": "tf", "image--unlisted-choice": ""},
		},
		{
			name: "the first of several values",
			form: map[string][]string{"profile": {"a", "b"}, "profile-option-a--x": {"1", "2"}},
			want: map[string]any{"profile": "a", "x": "1"},
		},
		{
			name: "no profile",
			form: map[string][]string{"profile-option-a--x": {"1"}},
			want: map[string]any{},
		},
		{
			name: "empty profile",
			form: map[string][]string{"profile": {""}},
			want: map[string]any{},
		},
		{
			name: "nil form",
			want: map[string]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, FromForm(tt.form))
		})
	}
}

// TestFormRoundTrip submits the rendered form as a browser would and
// checks that FromForm and Resolve give what the user picked.
func TestFormRoundTrip(t *testing.T) {
	t.Parallel()
	profiles := testdataProfiles(t)
	tests := []struct {
		name    string
		changes map[string]string
		want    map[string]any
	}{
		{
			name: "defaults",
			want: map[string]any{},
		},
		{
			name:    "another profile",
			changes: map[string]string{"profile": "gpu"},
			want:    map[string]any{"profile": "gpu"},
		},
		{
			name: "choices",
			changes: map[string]string{
				"profile":                            "custom-image",
				"profile-option-custom-image--image": "kde",
				"profile-option-custom-image--size":  "large",
			},
			want: map[string]any{"profile": "custom-image", "image": "kde", "size": "large"},
		},
		{
			name: "unlisted choice",
			changes: map[string]string{
				"profile":                            "custom-image",
				"profile-option-custom-image--image": "unlisted-choice",
				"profile-option-custom-image--image--unlisted-choice": "quay.io/me/desktop:v1",
			},
			want: map[string]any{"profile": "custom-image", "image--unlisted-choice": "quay.io/me/desktop:v1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := submit(t, renderDoc(t, profiles), tt.changes)
			got, err := Resolve(baseSettings(), profiles, FromForm(form))
			require.NoError(t, err)
			want, err := Resolve(baseSettings(), profiles, tt.want)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestPublic(t *testing.T) {
	t.Parallel()
	data, err := json.MarshalIndent(Public(testdataProfiles(t)), "", "  ")
	require.NoError(t, err)
	got := string(data) + "\n"
	golden := filepath.Join("testdata", "public.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "run go test -update to accept a change")

	assert.NotContains(t, got, "kubespawner_override")
	assert.NotContains(t, got, "nvidia-tesla-t4", "overrides' values stay private")
	assert.Less(t, strings.Index(got, `"xfce"`), strings.Index(got, `"kde"`), "choices keep the operator's order")
}

func TestPublicDefaults(t *testing.T) {
	t.Parallel()
	public := Public([]Profile{
		{Slug: "a", Options: map[string]Option{"o": {Choices: map[string]Choice{"x": {}, "y": {Default: true}}}}},
		{Slug: "b"},
	})
	require.Len(t, public, 2)
	assert.True(t, public[0].Default, "with none marked, the first profile is the default")
	assert.False(t, public[1].Default)
	assert.False(t, public[0].Options.Values["o"].Choices.Values["x"].Default)
	assert.True(t, public[0].Options.Values["o"].Choices.Values["y"].Default)

	data, err := json.Marshal(Public([]Profile{{Slug: "a", DisplayName: "A"}}))
	require.NoError(t, err)
	assert.JSONEq(t, `[{"slug": "a", "display_name": "A", "description": "", "default": true, "profile_options": {}}]`, string(data))
}

func renderDoc(t *testing.T, profiles []Profile) *html.Node {
	t.Helper()
	out, err := RenderForm(profiles)
	require.NoError(t, err)
	doc, err := html.Parse(strings.NewReader("<form>" + out + "</form>"))
	require.NoError(t, err)
	return doc
}

// submit builds the form data a browser would post after the user made
// changes (control name to value; for "profile", the radio to check).
func submit(t *testing.T, doc *html.Node, changes map[string]string) map[string][]string {
	t.Helper()
	form := map[string][]string{}
	used := map[string]bool{}
	for _, n := range findAll(doc, atom.Input) {
		name := attr(n, "name")
		value := attr(n, "value")
		switch attr(n, "type") {
		case "radio":
			want, changed := changes[name]
			if changed && want == value || !changed && hasAttr(n, "checked") {
				form[name] = append(form[name], value)
				used[name] = true
			}
		default:
			if v, ok := changes[name]; ok {
				value = v
				used[name] = true
			}
			form[name] = append(form[name], value)
		}
	}
	for _, s := range findAll(doc, atom.Select) {
		name := attr(s, "name")
		values, selected := selectOptions(s)
		if v, ok := changes[name]; ok {
			require.Contains(t, values, v, "select %q offers %q", name, v)
			selected = v
			used[name] = true
		}
		form[name] = append(form[name], selected)
	}
	for name := range changes {
		require.True(t, used[name], "the form has a control %q with that value", name)
	}
	return form
}

func selectOptions(s *html.Node) (values []string, selected string) {
	for _, o := range findAll(s, atom.Option) {
		values = append(values, attr(o, "value"))
		if hasAttr(o, "selected") {
			selected = attr(o, "value")
		}
	}
	if selected == "" && len(values) > 0 {
		selected = values[0]
	}
	return values, selected
}

func findAll(n *html.Node, a atom.Atom) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (d.DataAtom == a || a == 0 && d.DataAtom == 0) {
			out = append(out, d)
		}
	}
	return out
}

func byName(doc *html.Node, name string) *html.Node {
	for d := range doc.Descendants() {
		if d.Type == html.ElementNode && attr(d, "name") == name {
			return d
		}
	}
	return nil
}

func byID(doc *html.Node, id string) *html.Node {
	for d := range doc.Descendants() {
		if d.Type == html.ElementNode && attr(d, "id") == id {
			return d
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}
