package profile

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse: an operator's profile list, broken in any way, is refused
// with words or parsed; a list that also passes Validate renders its form
// and public view and resolves the defaults ({}) without error. The seeds
// are the tests' files, good and bad.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	require.NoError(f, err)
	invalid, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	require.NoError(f, err)
	require.NotEmpty(f, invalid)
	for _, p := range append(files, invalid...) {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	for _, seed := range []string{"", "[]", "{}", "a: {display_name: A}", "- &a {slug: a, display_name: *a}", "- {display_name: x, profile_options: {o: {choices: {}}}}"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		profiles, err := Parse(data)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		if Validate(baseSettings(), profiles) != nil {
			return
		}
		_ = Public(profiles)
		_, err = RenderForm(profiles)
		require.NoError(t, err)
		_, err = Resolve(baseSettings(), profiles, map[string]any{})
		require.NoError(t, err, "the defaults of a valid list")
	})
}

// FuzzResolve: whatever user_options a hub sends (JSON) or a spawn form
// posts, Resolve of a valid profile list answers a selection or a
// *ValidationError, the 400 a user reads; never another error (a 500) or a
// panic. A selection's own user options resolve to the same selection.
func FuzzResolve(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "profiles.yaml"))
	require.NoError(f, err)
	profiles, err := Parse(data)
	require.NoError(f, err)
	require.NoError(f, Validate(baseSettings(), profiles))
	for _, seed := range []string{
		`{}`, `{"profile": "gpu"}`, `{"profile": ""}`, `{"profile": 3}`, `{"profile": null}`, `{"profile": ["a"]}`,
		`{"profile": "gpu", "image": "x"}`, `{"profile": "gpu", "image": {"a": 1}}`, `{"image--unlisted-choice": "x"}`,
		`{"profile": "custom", "image--unlisted-choice": "bad image\u0000"}`, `{"unknown": true}`,
	} {
		f.Add([]byte(seed), "")
	}
	f.Add([]byte(`null`), "profile=gpu&profile-option-gpu--image=x")
	f.Add([]byte(`null`), "profile=custom&profile-option-custom--image--unlisted-choice=a%00b")
	f.Fuzz(func(t *testing.T, options []byte, form string) {
		var userOptions map[string]any
		if json.Unmarshal(options, &userOptions) != nil {
			return
		}
		if q, err := url.ParseQuery(form); err == nil && form != "" {
			userOptions = FromForm(q)
		}
		sel, err := Resolve(baseSettings(), profiles, userOptions)
		if err != nil {
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "not a validation error: %v", err)
			require.NotEmpty(t, ve.Error())
			return
		}
		again, err := Resolve(baseSettings(), profiles, sel.UserOptions())
		require.NoError(t, err, "the selection's own user options %v", sel.UserOptions())
		require.Equal(t, sel.UserOptions(), again.UserOptions())
	})
}
