package profile

import (
	"bytes"
	"encoding/json"
)

// PublicProfile is a profile as GET /api/v1/profiles shows it to any
// authenticated client: everything needed to offer the choices, and no
// overrides, which can hold operator details (node names, secrets' names,
// images not otherwise offered).
type PublicProfile struct {
	Slug        string                `json:"slug"`
	DisplayName string                `json:"display_name"`
	Description string                `json:"description"`
	Default     bool                  `json:"default"`
	Options     Ordered[PublicOption] `json:"profile_options"`
}

// PublicOption is an Option without overrides.
type PublicOption struct {
	DisplayName string                `json:"display_name"`
	Choices     Ordered[PublicChoice] `json:"choices"`
	Unlisted    *PublicUnlisted       `json:"unlisted_choice,omitempty"`
}

// PublicChoice is a Choice without its override.
type PublicChoice struct {
	DisplayName string `json:"display_name"`
	Default     bool   `json:"default"`
}

// PublicUnlisted is an UnlistedChoice without its override.
type PublicUnlisted struct {
	Enabled              bool   `json:"enabled"`
	DisplayName          string `json:"display_name"`
	DisplayNameInChoices string `json:"display_name_in_choices,omitempty"`
	ValidationRegex      string `json:"validation_regex,omitempty"`
	ValidationMessage    string `json:"validation_message,omitempty"`
}

// Ordered is a JSON object that keeps its keys in the operator's order, so
// a client building its own form (and JavaScript or Python reading it)
// shows options and choices in the order KubeSpawner's form would.
type Ordered[V any] struct {
	Keys   []string
	Values map[string]V
}

// MarshalJSON writes the keys in order; an empty Ordered is {}.
func (o Ordered[V]) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.Keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(o.Values[k])
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Public returns the client view of profiles, with the effective defaults
// marked: the first profile or choice when the operator marked none.
func Public(profiles []Profile) []PublicProfile {
	def := defaultProfile(profiles)
	out := make([]PublicProfile, 0, len(profiles))
	for i, p := range profiles {
		pp := PublicProfile{
			Slug:        p.Slug,
			DisplayName: p.DisplayName,
			Description: p.Description,
			Default:     i == def,
			Options:     Ordered[PublicOption]{Keys: p.OptionKeys(), Values: map[string]PublicOption{}},
		}
		for _, key := range pp.Options.Keys {
			o := p.Options[key]
			po := PublicOption{
				DisplayName: orKey(o.DisplayName, key),
				Choices:     Ordered[PublicChoice]{Keys: o.ChoiceKeys(), Values: map[string]PublicChoice{}},
			}
			defChoice := o.defaultChoice()
			for _, ck := range po.Choices.Keys {
				po.Choices.Values[ck] = PublicChoice{DisplayName: orKey(o.Choices[ck].DisplayName, ck), Default: ck == defChoice}
			}
			if u := o.Unlisted; u != nil {
				po.Unlisted = &PublicUnlisted{
					Enabled:              u.Enabled,
					DisplayName:          u.DisplayName,
					DisplayNameInChoices: u.DisplayNameInChoices,
					ValidationRegex:      u.ValidationRegex,
					ValidationMessage:    u.ValidationMessage,
				}
			}
			pp.Options.Values[key] = po
		}
		out = append(out, pp)
	}
	return out
}
