package profile

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// settingsWith returns baseSettings changed by edit, so each case states
// only what its selection changes.
func settingsWith(edit func(s *podspec.Settings)) podspec.Settings {
	s := baseSettings()
	edit(&s)
	return s
}

func TestResolve(t *testing.T) {
	t.Parallel()
	desktop := settingsWith(func(s *podspec.Settings) {
		s.CPULimit, s.CPUGuarantee, s.MemLimit, s.MemGuarantee = "2", "0.5", "4G", "1G"
		s.Environment["DESKTOP_SESSION"] = "xfce"
	})
	gpu := settingsWith(func(s *podspec.Settings) {
		s.Image = "ghcr.io/example/desktop-cuda:2024.06"
		s.MemLimit = "16G"
		s.ExtraResourceLimits = map[string]string{"nvidia.com/gpu": "1"}
		s.NodeSelector = map[string]string{"pool": "users", "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
		s.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpEqual, Value: "present", Effect: corev1.TaintEffectNoSchedule}}
		s.Environment["NVIDIA_DRIVER_CAPABILITIES"] = "all"
	})
	custom := func(image, mem string, edit func(s *podspec.Settings)) podspec.Settings {
		return settingsWith(func(s *podspec.Settings) {
			s.DefaultURL = "/desktop"
			s.Image = image
			s.CPULimit, s.MemLimit = "1", "2G"
			if mem != "" {
				s.MemGuarantee = mem
			}
			if edit != nil {
				edit(s)
			}
		})
	}
	customLabel := func(s *podspec.Settings) {
		s.ExtraLabels = map[string]string{"kubedesk.dev/custom-image": "true"}
	}
	tests := []struct {
		name         string
		userOptions  map[string]any
		wantProfile  string
		wantOptions  map[string]string
		wantUnlisted map[string]string
		want         podspec.Settings
	}{
		{
			name:        "empty selects the default profile",
			userOptions: map[string]any{},
			wantProfile: "desktop",
			want:        desktop,
		},
		{
			name:        "nil selects the default profile",
			wantProfile: "desktop",
			want:        desktop,
		},
		{
			name:        "empty profile selects the default profile",
			userOptions: map[string]any{"profile": ""},
			wantProfile: "desktop",
			want:        desktop,
		},
		{
			name:        "scalar profile from the REST API",
			userOptions: map[string]any{"profile": "gpu"},
			wantProfile: "gpu",
			want:        gpu,
		},
		{
			name:        "list of one from raw form data",
			userOptions: map[string]any{"profile": []any{"gpu"}},
			wantProfile: "gpu",
			want:        gpu,
		},
		{
			name:        "list of one as []string",
			userOptions: map[string]any{"profile": []string{"gpu"}},
			wantProfile: "gpu",
			want:        gpu,
		},
		{
			name:        "default choices, the first in the operator's order where none is marked",
			userOptions: map[string]any{"profile": "custom-image"},
			wantProfile: "custom-image",
			wantOptions: map[string]string{"image": "xfce", "size": "small"},
			want:        custom("ghcr.io/example/desktop-xfce:2024.06", "", nil),
		},
		{
			name:        "choices override the profile, which overrides the base",
			userOptions: map[string]any{"profile": "custom-image", "image": "kde", "size": []any{"large"}},
			wantProfile: "custom-image",
			wantOptions: map[string]string{"image": "kde", "size": "large"},
			want: custom("ghcr.io/example/desktop-kde:2024.06", "2G", func(s *podspec.Settings) {
				s.CPULimit, s.MemLimit = "4", "8G"
			}),
		},
		{
			name:         "unlisted choice as the form posts it",
			userOptions:  map[string]any{"profile": "custom-image", "image": "unlisted-choice", "image--unlisted-choice": "quay.io/me/desktop:v1"},
			wantProfile:  "custom-image",
			wantOptions:  map[string]string{"image": "unlisted-choice", "size": "small"},
			wantUnlisted: map[string]string{"image": "quay.io/me/desktop:v1"},
			want:         custom("quay.io/me/desktop:v1", "", customLabel),
		},
		{
			name:         "unlisted choice as KubeSpawner's scripted form posts it",
			userOptions:  map[string]any{"profile": "custom-image", "image--unlisted-choice": []any{"quay.io/me/desktop:v1"}},
			wantProfile:  "custom-image",
			wantOptions:  map[string]string{"image": "unlisted-choice", "size": "small"},
			wantUnlisted: map[string]string{"image": "quay.io/me/desktop:v1"},
			want:         custom("quay.io/me/desktop:v1", "", customLabel),
		},
		{
			name:        "a listed choice wins over free text left in the form",
			userOptions: map[string]any{"profile": "custom-image", "image": "kde", "image--unlisted-choice": "quay.io/me/desktop:v1"},
			wantProfile: "custom-image",
			wantOptions: map[string]string{"image": "kde", "size": "small"},
			want:        custom("ghcr.io/example/desktop-kde:2024.06", "2G", nil),
		},
		{
			name:        "empty and null option values take the default",
			userOptions: map[string]any{"profile": "custom-image", "image": "", "image--unlisted-choice": "", "size": nil},
			wantProfile: "custom-image",
			wantOptions: map[string]string{"image": "xfce", "size": "small"},
			want:        custom("ghcr.io/example/desktop-xfce:2024.06", "", nil),
		},
	}
	profiles := testdataProfiles(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sel, err := Resolve(baseSettings(), profiles, tt.userOptions)
			require.NoError(t, err)
			assert.Equal(t, tt.wantProfile, sel.Profile)
			assert.Equal(t, orEmpty(tt.wantOptions), sel.Options)
			assert.Equal(t, orEmpty(tt.wantUnlisted), sel.Unlisted)
			assert.Equal(t, tt.want, sel.Settings)

			again, err := Resolve(baseSettings(), profiles, sel.UserOptions())
			require.NoError(t, err, "UserOptions must resolve")
			assert.Equal(t, sel, again, "UserOptions must give the same selection")
		})
	}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// TestResolveMerge covers KubeSpawner's merge rules end to end, on
// profiles written for them.
func TestResolveMerge(t *testing.T) {
	t.Parallel()
	profiles, err := Parse([]byte(`
- display_name: Merge
  kubespawner_override:
    environment: {TZ: Europe/Paris, EDITOR: vim}
    node_selector: null
    image: null
    cmd: [start-desktop, --profile]
  profile_options:
    a:
      choices:
        one:
          kubespawner_override:
            environment: {EDITOR: null, A: "1"}
            cmd: [start-desktop]
            uid: null
    b:
      choices:
        two:
          kubespawner_override:
            environment: {A: "2", B: 2}
            mem_guarantee: 1073741824
`))
	require.NoError(t, err)
	require.NoError(t, Validate(baseSettings(), profiles))

	sel, err := Resolve(baseSettings(), profiles, nil)
	require.NoError(t, err)
	want := settingsWith(func(s *podspec.Settings) {
		s.Image = ""         // null deleted the base value
		s.NodeSelector = nil // the whole mapping, too
		s.UID = nil
		s.Environment = map[string]string{"LANG": "C.UTF-8", "TZ": "Europe/Paris", "A": "2", "B": "2"}
		s.Cmd = []string{"start-desktop"} // lists replace
		s.MemGuarantee = "1073741824"
	})
	assert.Equal(t, want, sel.Settings)
}

func TestResolveDoesNotChangeInputs(t *testing.T) {
	t.Parallel()
	profiles := testdataProfiles(t)
	base := baseSettings()
	_, err := Resolve(base, profiles, map[string]any{"profile": "custom-image", "image--unlisted-choice": "a/b:c"})
	require.NoError(t, err)
	assert.Equal(t, baseSettings(), base)
	assert.Equal(t, testdataProfiles(t), profiles)
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	profiles := testdataProfiles(t)
	extra, err := Parse([]byte(`
- display_name: Free
  profile_options:
    tag:
      display_name: Tag
      unlisted_choice:
        enabled: true
        validation_regex: '[0-9]+'
        kubespawner_override: {image: "example/desktop:{value}"}
    size:
      choices: {s: {}}
`))
	require.NoError(t, err)
	profiles = append(profiles, extra...)
	require.NoError(t, Validate(baseSettings(), profiles))

	tests := []struct {
		name        string
		profiles    []Profile
		userOptions map[string]any
		want        ValidationError
	}{
		{
			name:        "unknown profile",
			userOptions: map[string]any{"profile": "gpux"},
			want:        ValidationError{"profile", `there is no profile "gpux"; choose one of "desktop", "gpu", "custom-image", "free"`},
		},
		{
			name:        "unknown choice",
			userOptions: map[string]any{"profile": "custom-image", "image": "gnome"},
			want:        ValidationError{"image", `option "image" of profile "custom-image" has no choice "gnome"; choose one of "xfce", "kde", or "unlisted-choice" with your own value in "image--unlisted-choice"`},
		},
		{
			name:        "unknown choice without an unlisted choice",
			userOptions: map[string]any{"profile": "custom-image", "size": "huge"},
			want:        ValidationError{"size", `option "size" of profile "custom-image" has no choice "huge"; choose one of "small", "large"`},
		},
		{
			name:        "option the profile does not have",
			userOptions: map[string]any{"profile": "custom-image", "imag": "kde"},
			want:        ValidationError{"imag", `profile "custom-image" has no option "imag"; its options are "image", "size"`},
		},
		{
			name:        "option for a profile without options",
			userOptions: map[string]any{"profile": "gpu", "image": "kde"},
			want:        ValidationError{"image", `profile "gpu" has no options`},
		},
		{
			name:        "option for the default profile",
			userOptions: map[string]any{"image--unlisted-choice": "x"},
			want:        ValidationError{"image--unlisted-choice", `profile "desktop" has no options`},
		},
		{
			name:        "unlisted value failing the regex shows the operator's message",
			userOptions: map[string]any{"profile": "custom-image", "image": "unlisted-choice", "image--unlisted-choice": "My Image"},
			want:        ValidationError{"image--unlisted-choice", "Use an image reference such as ghcr.io/org/image:tag (lower case, no spaces)."},
		},
		{
			name:        "the regex must match the whole value",
			userOptions: map[string]any{"profile": "free", "tag--unlisted-choice": "12; rm -rf"},
			want:        ValidationError{"tag--unlisted-choice", `"12; rm -rf" does not match the pattern [0-9]+`},
		},
		{
			name:        "unlisted choice selected without text",
			userOptions: map[string]any{"profile": "custom-image", "image": "unlisted-choice", "image--unlisted-choice": ""},
			want:        ValidationError{"image--unlisted-choice", `enter a value for option "image"`},
		},
		{
			name:        "option with only an unlisted choice left empty",
			userOptions: map[string]any{"profile": "free"},
			want:        ValidationError{"tag--unlisted-choice", `option "tag" of profile "free" needs a value`},
		},
		{
			name:        "unlisted text where the option takes none",
			userOptions: map[string]any{"profile": "custom-image", "size--unlisted-choice": "medium"},
			want:        ValidationError{"size--unlisted-choice", `option "size" of profile "custom-image" takes no value of your own; choose one of "small", "large"`},
		},
		{
			name:        "unlisted marker where the option takes none",
			userOptions: map[string]any{"profile": "custom-image", "size": "unlisted-choice"},
			want:        ValidationError{"size", `option "size" of profile "custom-image" takes no value of your own; choose one of "small", "large"`},
		},
		{
			name:        "list of two",
			userOptions: map[string]any{"profile": []any{"gpu", "desktop"}},
			want:        ValidationError{"profile", "expected one value, got 2"},
		},
		{
			name:        "object",
			userOptions: map[string]any{"profile": map[string]any{"slug": "gpu"}},
			want:        ValidationError{"profile", "expected a string, got an object"},
		},
		{
			name:        "boolean",
			userOptions: map[string]any{"profile": true},
			want:        ValidationError{"profile", "expected a string, got true"},
		},
		{
			name:        "options when no profiles are configured",
			profiles:    []Profile{},
			userOptions: map[string]any{"profile": "gpu"},
			want:        ValidationError{"profile", "no profiles are configured, so there is nothing to choose"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			list := profiles
			if tt.profiles != nil {
				list = tt.profiles
			}
			_, err := Resolve(baseSettings(), list, tt.userOptions)
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Equal(t, tt.want, *verr)
		})
	}
}

func TestResolveWithoutProfiles(t *testing.T) {
	t.Parallel()
	sel, err := Resolve(baseSettings(), nil, map[string]any{"profile": ""})
	require.NoError(t, err)
	assert.Equal(t, Selection{Settings: baseSettings()}, sel)
	assert.Empty(t, sel.UserOptions())
}

func TestValidationErrorJSON(t *testing.T) {
	t.Parallel()
	err := &ValidationError{Field: "profile", Message: `there is no profile "x"`}
	assert.EqualError(t, err, `user option "profile": there is no profile "x"`)
	data, jerr := json.Marshal(err)
	require.NoError(t, jerr)
	assert.JSONEq(t, `{"field": "profile", "message": "there is no profile \"x\""}`, string(data))
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		dst      map[string]any
		override map[string]any
		want     map[string]any
	}{
		{
			name:     "mappings merge recursively",
			dst:      map[string]any{"a": map[string]any{"b": map[string]any{"c": 1, "d": 2}, "e": 3}},
			override: map[string]any{"a": map[string]any{"b": map[string]any{"d": 20, "f": 4}}},
			want:     map[string]any{"a": map[string]any{"b": map[string]any{"c": 1, "d": 20, "f": 4}, "e": 3}},
		},
		{
			name:     "null deletes at any depth",
			dst:      map[string]any{"a": map[string]any{"b": 1, "c": 2}, "d": "x"},
			override: map[string]any{"a": map[string]any{"b": nil}, "d": nil, "missing": nil},
			want:     map[string]any{"a": map[string]any{"c": 2}},
		},
		{
			name:     "lists and scalars replace",
			dst:      map[string]any{"l": []any{1, 2}, "s": "old"},
			override: map[string]any{"l": []any{3}, "s": "new"},
			want:     map[string]any{"l": []any{3}, "s": "new"},
		},
		{
			name:     "a mapping replaces a scalar, dropping its nulls",
			dst:      map[string]any{"a": "scalar"},
			override: map[string]any{"a": map[string]any{"b": 1, "c": nil}},
			want:     map[string]any{"a": map[string]any{"b": 1}},
		},
		{
			name:     "a scalar replaces a mapping",
			dst:      map[string]any{"a": map[string]any{"b": 1}},
			override: map[string]any{"a": "scalar"},
			want:     map[string]any{"a": "scalar"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			apply(tt.dst, tt.override)
			assert.Equal(t, tt.want, tt.dst)
		})
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	override := map[string]any{
		"image":        "example/{value}:latest",
		"extra_labels": map[string]any{"image-{value}": "{value}", "other": "{other}"},
		"args":         []any{"--image", "{value}"},
		"port":         int64(8888),
	}
	got := substitute(override, "tf")
	assert.Equal(t, map[string]any{
		"image":        "example/tf:latest",
		"extra_labels": map[string]any{"image-tf": "tf", "other": "{other}"},
		"args":         []any{"--image", "tf"},
		"port":         int64(8888),
	}, got)
	assert.Equal(t, "example/{value}:latest", override["image"], "the profile's override is not changed")
}
