package profile

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// Validate checks profiles as KubeSpawner would use them, and more: every
// override, of a profile, a choice or an unlisted choice, is merged over
// base and decoded strictly, so a typo such as cpu_limt fails when the
// service loads instead of when a user spawns; so does a privileged field
// (a hostPath volume, ...) that allow_privileged_fields does not name. All problems are reported,
// joined, each naming the profile, option and choice it is in.
func Validate(base podspec.Settings, profiles []Profile) error {
	baseMap, err := toMap(base)
	if err != nil {
		return err
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	slugs := map[string]int{}
	var defaults []string
	for i, p := range profiles {
		loc := profileLabel(p, i)
		switch first, dup := slugs[p.Slug]; {
		case p.Slug == "":
			add(fmt.Errorf("%s: needs a slug, or a display_name to derive one from", loc))
		case dup:
			add(fmt.Errorf("profile #%d: slug %q is already used by profile #%d", i+1, p.Slug, first+1))
		default:
			slugs[p.Slug] = i
		}
		if p.DisplayName == "" {
			add(fmt.Errorf("%s: display_name is required", loc))
		}
		if p.Default {
			defaults = append(defaults, fmt.Sprintf("%q", p.Slug))
		}

		profileErr := checkOverride(baseMap, loc, p.Override)
		add(profileErr)
		// Choices are checked over the profile's override, as they apply;
		// over the bare base when that override is itself broken, so its
		// errors are not repeated for every choice.
		optionBase := baseMap
		if profileErr == nil {
			optionBase = clone(baseMap).(map[string]any)
			apply(optionBase, p.Override)
		}
		for _, key := range p.OptionKeys() {
			add(validateOption(optionBase, fmt.Sprintf("%s: option %q", loc, key), key, p.Options[key]))
		}
	}
	if len(defaults) > 1 {
		add(fmt.Errorf("profiles %s are all marked default; mark at most one", strings.Join(defaults, ", ")))
	}
	return errors.Join(errs...)
}

func validateOption(base map[string]any, loc, key string, o Option) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// These names would be ambiguous in user_options, where "profile" and
	// the "--unlisted-choice" suffix already mean something.
	if key == "profile" || strings.HasSuffix(key, UnlistedSuffix) || key == "" {
		add(fmt.Errorf("%s: the option name cannot be empty, %q, or end in %q", loc, "profile", UnlistedSuffix))
	}
	if len(o.Choices) == 0 && !o.unlistedEnabled() {
		add(fmt.Errorf("%s: needs choices, or an enabled unlisted_choice", loc))
	}
	var defaults []string
	for _, ck := range o.ChoiceKeys() {
		c := o.Choices[ck]
		cloc := fmt.Sprintf("%s: choice %q", loc, ck)
		if ck == UnlistedChoiceValue || ck == "" {
			add(fmt.Errorf("%s: a choice cannot be named %q: the form uses that value for the unlisted choice", cloc, ck))
		}
		if c.Default {
			defaults = append(defaults, fmt.Sprintf("%q", ck))
		}
		add(checkOverride(base, cloc, c.Override))
	}
	if len(defaults) > 1 {
		add(fmt.Errorf("%s: choices %s are all marked default; mark at most one", loc, strings.Join(defaults, ", ")))
	}
	if u := o.Unlisted; u != nil {
		uloc := loc + ": unlisted_choice"
		if _, err := compileFull(u.ValidationRegex); err != nil {
			add(fmt.Errorf("%s: validation_regex: %w", uloc, err))
		}
		// Substitution only changes the text inside strings, so the
		// placeholder itself stands in for any value a user may type.
		add(checkOverride(base, uloc, u.Override))
	}
	return errors.Join(errs...)
}

// compileFull compiles a validation_regex to match the whole value, as the
// browser's pattern attribute would; nil for an empty expression.
func compileFull(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}
