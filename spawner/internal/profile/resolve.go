package profile

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// ValidationError is a problem with user_options, which come from the user
// (the spawn form, or JSON to the hub's REST API); the HTTP layer answers it
// with 400 and both fields.
type ValidationError struct {
	// Field is the user_options key at fault ("profile", "image",
	// "image--unlisted-choice").
	Field string `json:"field"`
	// Message is for the person who made the request.
	Message string `json:"message"`
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("user option %q: %s", e.Field, e.Message)
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Selection is what user_options resolved to.
type Selection struct {
	// Profile is the chosen profile's slug; empty when none are configured.
	Profile string
	// Options maps each of the profile's options to the chosen choice key,
	// or to UnlistedChoiceValue when the user typed a value of their own.
	Options map[string]string
	// Unlisted maps the options answered with free text to that text.
	Unlisted map[string]string
	// Settings are base with the profile's and the choices' overrides.
	Settings podspec.Settings
}

// UserOptions gives the selection back as complete user_options, in the
// shape both Resolve and KubeSpawner accept, for the hub to store: a later
// spawn then gets the same result even if the defaults change.
func (s Selection) UserOptions() map[string]any {
	out := map[string]any{}
	if s.Profile != "" {
		out["profile"] = s.Profile
	}
	for k, v := range s.Options {
		out[k] = v
	}
	for k, v := range s.Unlisted {
		out[k+UnlistedSuffix] = v
	}
	return out
}

// Resolve applies user_options to base: the profile's override, then each
// option's choice override in the profile's option order (KubeSpawner's
// order; sorted for profiles built in Go). Missing or empty values take the
// defaults, so {} gives the default profile with its default choices.
//
// A problem with userOptions is a *ValidationError. Any other error means
// the profiles were not checked with Validate.
func Resolve(base podspec.Settings, profiles []Profile, userOptions map[string]any) (Selection, error) {
	opts := make(map[string]string, len(userOptions))
	keys := make([]string, 0, len(userOptions))
	for k := range userOptions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := optionValue(userOptions[k])
		if err != nil {
			return Selection{}, invalid(k, "%s", err)
		}
		opts[k] = v
	}

	merged, err := toMap(base)
	if err != nil {
		return Selection{}, err
	}
	if len(profiles) == 0 {
		for _, k := range keys {
			if opts[k] != "" {
				return Selection{}, invalid(k, "no profiles are configured, so there is nothing to choose")
			}
		}
		settings, err := decodeSettings(merged)
		if err != nil {
			return Selection{}, fmt.Errorf("base settings: %w", err)
		}
		return Selection{Settings: settings}, nil
	}

	p, err := selectProfile(profiles, opts["profile"])
	if err != nil {
		return Selection{}, err
	}
	for _, k := range keys {
		if err := checkKey(p, k); err != nil {
			return Selection{}, err
		}
	}

	sel := Selection{Profile: p.Slug, Options: map[string]string{}, Unlisted: map[string]string{}}
	apply(merged, p.Override)
	for _, key := range p.OptionKeys() {
		override, err := chooseOption(&sel, p, key, opts[key], opts[key+UnlistedSuffix])
		if err != nil {
			return Selection{}, err
		}
		apply(merged, override)
	}
	sel.Settings, err = decodeSettings(merged)
	if err != nil {
		return Selection{}, fmt.Errorf("profile %q: apply overrides: %w", p.Slug, err)
	}
	return sel, nil
}

func selectProfile(profiles []Profile, slug string) (Profile, error) {
	if slug == "" {
		return profiles[defaultProfile(profiles)], nil
	}
	var slugs []string
	for _, p := range profiles {
		if p.Slug == slug {
			return p, nil
		}
		slugs = append(slugs, p.Slug)
	}
	return Profile{}, invalid("profile", "there is no profile %q; choose one of %s", slug, quoteList(slugs))
}

// checkKey refuses user_options the profile does not use. KubeSpawner
// ignores them, but then a client's misspelt option silently spawns the
// default, which is worse than being told.
func checkKey(p Profile, key string) error {
	if key == "profile" {
		return nil
	}
	option, _ := strings.CutSuffix(key, UnlistedSuffix)
	if _, ok := p.Options[option]; ok {
		return nil
	}
	if len(p.Options) == 0 {
		return invalid(key, "profile %q has no options", p.Slug)
	}
	return invalid(key, "profile %q has no option %q; its options are %s", p.Slug, option, quoteList(p.OptionKeys()))
}

// chooseOption records the choice for one option in sel and returns the
// override it brings. A listed choice wins over free text sent with it: the
// form posts its text field whatever the drop-down says (KubeSpawner's
// form renames fields with a script instead), so text left behind there
// must not beat the choice the user made last.
func chooseOption(sel *Selection, p Profile, key, choice, text string) (map[string]any, error) {
	o := p.Options[key]
	textField := key + UnlistedSuffix
	if !o.unlistedEnabled() && (text != "" || choice == UnlistedChoiceValue) {
		field := textField
		if text == "" {
			field = key
		}
		return nil, invalid(field, "option %q of profile %q takes no value of your own; choose one of %s", key, p.Slug, quoteList(o.ChoiceKeys()))
	}
	switch {
	case choice == UnlistedChoiceValue || choice == "" && text != "":
		return chooseUnlisted(sel, key, o, text)
	case choice != "":
		c, ok := o.Choices[choice]
		if !ok {
			msg := fmt.Sprintf("option %q of profile %q has no choice %q; choose one of %s", key, p.Slug, choice, quoteList(o.ChoiceKeys()))
			if o.unlistedEnabled() {
				msg += fmt.Sprintf(", or %q with your own value in %q", UnlistedChoiceValue, textField)
			}
			return nil, invalid(key, "%s", msg)
		}
		sel.Options[key] = choice
		return c.Override, nil
	}
	def := o.defaultChoice()
	if def == "" {
		// Only an unlisted choice, so there is no default to fall back on.
		return nil, invalid(textField, "option %q of profile %q needs a value", key, p.Slug)
	}
	sel.Options[key] = def
	return o.Choices[def].Override, nil
}

func chooseUnlisted(sel *Selection, key string, o Option, text string) (map[string]any, error) {
	field := key + UnlistedSuffix
	if text == "" {
		return nil, invalid(field, "enter a value for option %q", key)
	}
	re, err := compileFull(o.Unlisted.ValidationRegex)
	if err != nil {
		return nil, fmt.Errorf("option %q: validation_regex: %w", key, err)
	}
	if re != nil && !re.MatchString(text) {
		if o.Unlisted.ValidationMessage != "" {
			return nil, invalid(field, "%s", o.Unlisted.ValidationMessage)
		}
		return nil, invalid(field, "%q does not match the pattern %s", text, o.Unlisted.ValidationRegex)
	}
	sel.Options[key] = UnlistedChoiceValue
	sel.Unlisted[key] = text
	override, _ := substitute(o.Unlisted.Override, text).(map[string]any)
	return override, nil
}

// optionValue accepts what user_options hold: a string from the REST API,
// or a list of one from raw form data; null, "" and [] mean "not chosen".
// Numbers are taken as their text, for choices named "4" or "16".
func optionValue(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []string:
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			return v[0], nil
		}
		return "", fmt.Errorf("expected one value, got %d", len(v))
	case []any:
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			if _, nested := v[0].([]any); !nested {
				return optionValue(v[0])
			}
		default:
			return "", fmt.Errorf("expected one value, got %d", len(v))
		}
	case bool:
		return "", fmt.Errorf("expected a string, got %t", v)
	case int:
		return strconv.Itoa(v), nil
	case json.Number, int64, uint64, float64:
		s, _ := numberText(v)
		return s, nil
	}
	return "", fmt.Errorf("expected a string, got %s", describeValue(v))
}

func describeValue(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a nested list"
	}
	return fmt.Sprintf("%T", v)
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
