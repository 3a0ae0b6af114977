package profile

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"kubedesk.dev/kubedesk/spawner/internal/confparse"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// Profile is one entry of KubeSpawner's profile_list.
type Profile struct {
	// Slug identifies the profile in user_options and form field names.
	// Parse derives it from DisplayName when the operator left it out.
	Slug        string `json:"slug,omitempty"`
	DisplayName string `json:"display_name"`
	Description string `json:"description,omitempty"`
	// Default marks the profile chosen when user_options name none; with no
	// profile marked, the first one is the default.
	Default bool `json:"default,omitempty"`
	// Override is applied over the base settings, keyed by podspec.Settings'
	// JSON (KubeSpawner trait) names.
	Override map[string]any `json:"kubespawner_override,omitempty"`
	// Options are further choices within the profile, keyed by the name that
	// user_options and the form use.
	Options map[string]Option `json:"profile_options,omitempty"`

	// optionOrder is the operator's order of Options, which KubeSpawner uses
	// both to show the options and to apply their overrides. Parse fills it;
	// a Profile built in Go falls back to sorted keys.
	optionOrder []string
}

// Option is one entry of a profile's profile_options.
type Option struct {
	DisplayName string            `json:"display_name,omitempty"`
	Choices     map[string]Choice `json:"choices,omitempty"`
	// Unlisted, when enabled, lets the user type a value of their own.
	Unlisted *UnlistedChoice `json:"unlisted_choice,omitempty"`

	// choiceOrder is the operator's order of Choices: the order shown, and
	// the first one is the default when none is marked.
	choiceOrder []string
}

// Choice is one predefined value of an Option.
type Choice struct {
	DisplayName string         `json:"display_name,omitempty"`
	Default     bool           `json:"default,omitempty"`
	Override    map[string]any `json:"kubespawner_override,omitempty"`
}

// UnlistedChoice is the free-text alternative to an Option's Choices.
type UnlistedChoice struct {
	Enabled     bool   `json:"enabled,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	// DisplayNameInChoices labels the entry in the drop-down that selects the
	// free-text field; Parse sets KubeSpawner's "Other..." when it is empty.
	DisplayNameInChoices string `json:"display_name_in_choices,omitempty"`
	// ValidationRegex must match the whole value (see doc.go for why whole).
	ValidationRegex   string `json:"validation_regex,omitempty"`
	ValidationMessage string `json:"validation_message,omitempty"`
	// Override has "{value}" replaced by the user's text in every string,
	// keys included, as KubeSpawner's recursive_format does.
	Override map[string]any `json:"kubespawner_override,omitempty"`
}

const (
	// UnlistedChoiceValue is the value KubeSpawner's form gives the
	// drop-down entry that selects the free-text field.
	UnlistedChoiceValue = "unlisted-choice"
	// UnlistedSuffix ends the user_options key ("<option>--unlisted-choice")
	// that carries the free text.
	UnlistedSuffix = "--unlisted-choice"
	// defaultDisplayNameInChoices is KubeSpawner's default.
	defaultDisplayNameInChoices = "Other..."
)

// OptionKeys returns the keys of p.Options in the operator's order when the
// profile came from Parse, and sorted otherwise.
func (p Profile) OptionKeys() []string {
	return orderedKeys(p.Options, p.optionOrder)
}

// ChoiceKeys returns the keys of o.Choices in the operator's order when the
// option came from Parse, and sorted otherwise.
func (o Option) ChoiceKeys() []string {
	return orderedKeys(o.Choices, o.choiceOrder)
}

func orderedKeys[V any](m map[string]V, order []string) []string {
	keys := make([]string, 0, len(m))
	for _, k := range order {
		if _, ok := m[k]; ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	// Keys added after parsing, or all of them for a Profile built in Go,
	// go last in sorted order so the result is still deterministic.
	var rest []string
	for k := range m {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// defaultProfile is KubeSpawner's rule: the first profile marked default,
// else the first profile.
func defaultProfile(profiles []Profile) int {
	for i, p := range profiles {
		if p.Default {
			return i
		}
	}
	return 0
}

// defaultChoice is KubeSpawner's rule: the first choice marked default, else
// the first choice; "" when the option only has an unlisted choice.
func (o Option) defaultChoice() string {
	keys := o.ChoiceKeys()
	for _, k := range keys {
		if o.Choices[k].Default {
			return k
		}
	}
	if len(keys) > 0 {
		return keys[0]
	}
	return ""
}

func (o Option) unlistedEnabled() bool {
	return o.Unlisted != nil && o.Unlisted.Enabled
}

// Load reads and parses a profile list file; see Parse.
func Load(path string) ([]Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	profiles, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return profiles, nil
}

// Parse decodes a profile list written in YAML or JSON: a Zero to
// JupyterHub singleuser.profileList as is, or KubeSpawner's dict form keyed
// by slug (profiles then sorted by key, as KubeSpawner does). Unknown keys
// are errors, and every problem found is reported, each naming where it is.
// Overrides are checked against the settings by Validate, not here.
func Parse(data []byte) ([]Profile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse profiles: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	d := &decoder{lines: true}
	profiles := d.profileList(doc.Content[0])
	if err := errors.Join(d.errs...); err != nil {
		return nil, err
	}
	return profiles, nil
}

// UnmarshalJSON decodes p with the same strict rules as Parse, so a profile
// list embedded in a larger JSON or YAML config is as strictly checked.
func (p *Profile) UnmarshalJSON(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("parse profile: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	// Line numbers would count within this fragment, not the file the
	// operator edits, so they are left out.
	d := &decoder{}
	parsed := d.profile(doc.Content[0], 0)
	if err := errors.Join(d.errs...); err != nil {
		return err
	}
	*p = parsed
	return nil
}

// decoder walks the YAML node tree by hand, rather than decoding into the
// structs, to keep the operator's key order and to name the location of
// every problem.
type decoder struct {
	lines bool
	errs  []error
}

func (d *decoder) errorf(n *yaml.Node, loc, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if loc != "" {
		msg = loc + ": " + msg
	}
	if d.lines && n != nil && n.Line > 0 {
		msg = fmt.Sprintf("%s (line %d)", msg, n.Line)
	}
	d.errs = append(d.errs, errors.New(msg))
}

func (d *decoder) unknownKey(n *yaml.Node, loc, key string, known []string) {
	d.errorf(n, loc, "unknown key %q%s", key, confparse.Suggest(key, known))
}

func (d *decoder) profileList(n *yaml.Node) []Profile {
	n = confparse.Deref(n)
	var profiles []Profile
	switch {
	case confparse.IsNull(n):
		return nil
	case n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			profiles = append(profiles, d.profile(item, i))
		}
	case n.Kind == yaml.MappingNode:
		pairs := d.pairs(n, "")
		slices.SortStableFunc(pairs, func(a, b confparse.Pair) int { return strings.Compare(a.Key, b.Key) })
		for i, p := range pairs {
			profiles = append(profiles, d.profile(p.Value, i))
		}
	default:
		d.errorf(n, "", "profiles must be a list, got %s", confparse.KindName(n))
	}
	return profiles
}

var (
	profileKeys   = []string{"slug", "display_name", "description", "default", "kubespawner_override", "profile_options"}
	optionKeys    = []string{"display_name", "choices", "unlisted_choice"}
	choiceKeys    = []string{"display_name", "default", "kubespawner_override"}
	unlistedKeys  = []string{"enabled", "display_name", "display_name_in_choices", "validation_regex", "validation_message", "kubespawner_override"}
	overrideField = "kubespawner_override"
)

func (d *decoder) profile(n *yaml.Node, index int) Profile {
	n = confparse.Deref(n)
	var p Profile
	if n.Kind != yaml.MappingNode {
		d.errorf(n, profileLabel(p, index), "must be a mapping, got %s", confparse.KindName(n))
		return p
	}
	pairs := d.pairs(n, profileLabel(p, index))
	// slug and display_name first: every later message names the profile.
	for _, kv := range pairs {
		switch kv.Key {
		case "slug":
			p.Slug = d.str(kv.Value, profileLabel(p, index), kv.Key)
		case "display_name":
			p.DisplayName = d.str(kv.Value, profileLabel(p, index), kv.Key)
		}
	}
	if p.Slug == "" {
		// What KubeSpawner derives with python-slugify, for ASCII names.
		p.Slug = sessionapi.Slug(p.DisplayName)
	}
	loc := profileLabel(p, index)
	for _, kv := range pairs {
		switch kv.Key {
		case "slug", "display_name":
		case "description":
			p.Description = d.str(kv.Value, loc, kv.Key)
		case "default":
			p.Default = d.boolean(kv.Value, loc, kv.Key)
		case overrideField:
			p.Override = d.override(kv.Value, loc)
		case "profile_options":
			p.Options, p.optionOrder = d.options(kv.Value, loc)
		default:
			d.unknownKey(kv.KeyNode, loc, kv.Key, profileKeys)
		}
	}
	return p
}

func profileLabel(p Profile, index int) string {
	if p.Slug != "" {
		return fmt.Sprintf("profile %q", p.Slug)
	}
	return fmt.Sprintf("profile #%d", index+1)
}

func (d *decoder) options(n *yaml.Node, loc string) (map[string]Option, []string) {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, loc, "profile_options must be a mapping, got %s", confparse.KindName(n))
		return nil, nil
	}
	options := map[string]Option{}
	var order []string
	for _, kv := range d.pairs(n, loc+": profile_options") {
		options[kv.Key] = d.option(kv.Value, fmt.Sprintf("%s: option %q", loc, kv.Key))
		order = append(order, kv.Key)
	}
	return options, order
}

func (d *decoder) option(n *yaml.Node, loc string) Option {
	n = confparse.Deref(n)
	var o Option
	if n.Kind != yaml.MappingNode {
		d.errorf(n, loc, "must be a mapping, got %s", confparse.KindName(n))
		return o
	}
	for _, kv := range d.pairs(n, loc) {
		switch kv.Key {
		case "display_name":
			o.DisplayName = d.str(kv.Value, loc, kv.Key)
		case "choices":
			o.Choices, o.choiceOrder = d.choices(kv.Value, loc)
		case "unlisted_choice":
			o.Unlisted = d.unlisted(kv.Value, loc+": unlisted_choice")
		default:
			d.unknownKey(kv.KeyNode, loc, kv.Key, optionKeys)
		}
	}
	return o
}

func (d *decoder) choices(n *yaml.Node, loc string) (map[string]Choice, []string) {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, loc, "choices must be a mapping, got %s", confparse.KindName(n))
		return nil, nil
	}
	choices := map[string]Choice{}
	var order []string
	for _, kv := range d.pairs(n, loc+": choices") {
		choices[kv.Key] = d.choice(kv.Value, fmt.Sprintf("%s: choice %q", loc, kv.Key))
		order = append(order, kv.Key)
	}
	return choices, order
}

func (d *decoder) choice(n *yaml.Node, loc string) Choice {
	n = confparse.Deref(n)
	var c Choice
	if n.Kind != yaml.MappingNode {
		d.errorf(n, loc, "must be a mapping, got %s", confparse.KindName(n))
		return c
	}
	for _, kv := range d.pairs(n, loc) {
		switch kv.Key {
		case "display_name":
			c.DisplayName = d.str(kv.Value, loc, kv.Key)
		case "default":
			c.Default = d.boolean(kv.Value, loc, kv.Key)
		case overrideField:
			c.Override = d.override(kv.Value, loc)
		default:
			d.unknownKey(kv.KeyNode, loc, kv.Key, choiceKeys)
		}
	}
	return c
}

func (d *decoder) unlisted(n *yaml.Node, loc string) *UnlistedChoice {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, loc, "must be a mapping, got %s", confparse.KindName(n))
		return nil
	}
	u := &UnlistedChoice{}
	for _, kv := range d.pairs(n, loc) {
		switch kv.Key {
		case "enabled":
			u.Enabled = d.boolean(kv.Value, loc, kv.Key)
		case "display_name":
			u.DisplayName = d.str(kv.Value, loc, kv.Key)
		case "display_name_in_choices":
			u.DisplayNameInChoices = d.str(kv.Value, loc, kv.Key)
		case "validation_regex":
			u.ValidationRegex = d.str(kv.Value, loc, kv.Key)
		case "validation_message":
			u.ValidationMessage = d.str(kv.Value, loc, kv.Key)
		case overrideField:
			u.Override = d.override(kv.Value, loc)
		default:
			d.unknownKey(kv.KeyNode, loc, kv.Key, unlistedKeys)
		}
	}
	if u.Enabled && u.DisplayNameInChoices == "" {
		u.DisplayNameInChoices = defaultDisplayNameInChoices
	}
	return u
}

// override keeps the values as plain JSON-like data; whether they fit
// podspec.Settings is Validate's question, asked with the base settings.
func (d *decoder) override(n *yaml.Node, loc string) map[string]any {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, loc, "kubespawner_override must be a mapping, got %s", confparse.KindName(n))
		return nil
	}
	v, _ := d.value(n, loc+": kubespawner_override").(map[string]any)
	return v
}

// value converts a node to the types encoding/json produces (with int64 for
// integers), which is what the merge and the settings decoder expect.
func (d *decoder) value(n *yaml.Node, loc string) any {
	n = confparse.Deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, kv := range d.pairs(n, loc) {
			m[kv.Key] = d.value(kv.Value, loc)
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			l = append(l, d.value(item, loc))
		}
		return l
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err == nil {
				return b
			}
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return i
			}
			var f float64
			if err := n.Decode(&f); err == nil {
				return f
			}
		case "!!float":
			var f float64
			if err := n.Decode(&f); err == nil {
				return f
			}
		}
		// Strings, and timestamps or binary kept as the text written, which
		// is what a string setting would want.
		return n.Value
	}
	d.errorf(n, loc, "unsupported YAML node")
	return nil
}

func (d *decoder) str(n *yaml.Node, loc, key string) string {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, loc, "%s must be a string, got %s", key, confparse.KindName(n))
		return ""
	}
	return n.Value
}

func (d *decoder) boolean(n *yaml.Node, loc, key string) bool {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		d.errorf(n, loc, "%s must be true or false, got %s", key, describe(n))
		return false
	}
	return b
}

func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return confparse.KindName(n)
	}
	return fmt.Sprintf("%q", n.Value)
}

// pairs lists a mapping's entries (confparse.Pairs), reporting its problems
// at loc.
func (d *decoder) pairs(n *yaml.Node, loc string) []confparse.Pair {
	return confparse.Pairs(n, func(at *yaml.Node, msg string) { d.errorf(at, loc, "%s", msg) })
}
