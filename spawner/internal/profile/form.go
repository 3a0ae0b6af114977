package profile

import (
	_ "embed"
	"html/template"
	"strings"
)

//go:embed form.html.tmpl
var formSource string

var formTemplate = template.Must(template.New("form").Parse(formSource))

// RenderForm returns the spawn page's options form: the HTML fragment
// JupyterHub puts inside its own <form>, with KubeSpawner's field names so
// FromForm (and the hub shim's copy of it) read it back. Defaults are
// preselected. It returns "" for no profiles, which makes the hub spawn
// without showing a form, as KubeSpawner does.
//
// The free-text field carries no pattern attribute: browsers now compile
// it in the strict "v" mode, which rejects common expressions such as
// [a-z0-9./:_-], and a hidden field failing it would block the submit with
// nothing on screen. Resolve checks the value and the hub shows its message.
func RenderForm(profiles []Profile) (string, error) {
	if len(profiles) == 0 {
		return "", nil
	}
	var b strings.Builder
	if err := formTemplate.Execute(&b, formData(profiles)); err != nil {
		return "", err
	}
	return b.String(), nil
}

type formProfile struct {
	Slug, DisplayName, Description string
	Checked                        bool
	Options                        []formOption
}

type formOption struct {
	Field, Label string
	Choices      []formChoice
	Unlisted     *formUnlisted
}

type formChoice struct {
	Value, Label string
	Selected     bool
}

type formUnlisted struct {
	Field, Label, Help string
}

func formData(profiles []Profile) []formProfile {
	def := defaultProfile(profiles)
	out := make([]formProfile, 0, len(profiles))
	for i, p := range profiles {
		fp := formProfile{Slug: p.Slug, DisplayName: p.DisplayName, Description: p.Description, Checked: i == def}
		for _, key := range p.OptionKeys() {
			o := p.Options[key]
			fo := formOption{Field: "profile-option-" + p.Slug + "--" + key, Label: orKey(o.DisplayName, key)}
			defChoice := o.defaultChoice()
			for _, ck := range o.ChoiceKeys() {
				fo.Choices = append(fo.Choices, formChoice{Value: ck, Label: orKey(o.Choices[ck].DisplayName, ck), Selected: ck == defChoice})
			}
			if o.unlistedEnabled() {
				fo.Choices = append(fo.Choices, formChoice{
					Value:    UnlistedChoiceValue,
					Label:    orKey(o.Unlisted.DisplayNameInChoices, defaultDisplayNameInChoices),
					Selected: defChoice == "",
				})
				fo.Unlisted = &formUnlisted{
					Field: fo.Field + UnlistedSuffix,
					Label: orKey(o.Unlisted.DisplayName, fo.Label),
					Help:  o.Unlisted.ValidationMessage,
				}
			}
			fp.Options = append(fp.Options, fo)
		}
		out = append(out, fp)
	}
	return out
}

func orKey(name, key string) string {
	if name != "" {
		return name
	}
	return key
}

// FromForm turns the posted spawn form into user_options exactly as
// KubeSpawner's options_from_form does: "profile", and the chosen profile's
// fields with their "profile-option-<slug>--" prefix removed. Other
// profiles' fields and unknown fields are dropped.
func FromForm(form map[string][]string) map[string]any {
	out := map[string]any{}
	slug := ""
	if v := form["profile"]; len(v) > 0 {
		slug = v[0]
	}
	if slug == "" {
		return out
	}
	out["profile"] = slug
	prefix := "profile-option-" + slug + "--"
	for k, v := range form {
		if option, ok := strings.CutPrefix(k, prefix); ok && len(v) > 0 {
			out[option] = v[0]
		}
	}
	return out
}
