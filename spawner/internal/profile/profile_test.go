package profile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// baseSettings stands in for the service's defaults; podspec has no
// Defaults() yet, and these tests only need values to override.
func baseSettings() podspec.Settings {
	uid := int64(1000)
	return podspec.Settings{
		Image:        "ghcr.io/example/desktop:base",
		CPULimit:     "1",
		MemLimit:     "2G",
		Port:         8888,
		UID:          &uid,
		Environment:  map[string]string{"LANG": "C.UTF-8", "TZ": "UTC"},
		NodeSelector: map[string]string{"pool": "users"},
	}
}

// testdataProfiles is the realistic pasted profileList, parsed.
func testdataProfiles(t *testing.T) []Profile {
	t.Helper()
	profiles, err := Load(filepath.Join("testdata", "profiles.yaml"))
	require.NoError(t, err)
	return profiles
}

func TestParseTestdata(t *testing.T) {
	t.Parallel()
	profiles := testdataProfiles(t)
	require.NoError(t, Validate(baseSettings(), profiles))

	var slugs []string
	for _, p := range profiles {
		slugs = append(slugs, p.Slug)
	}
	assert.Equal(t, []string{"desktop", "gpu", "custom-image"}, slugs, "the first slug is derived from display_name")

	custom := profiles[2]
	assert.Equal(t, []string{"image", "size"}, custom.OptionKeys(), "the operator's option order is kept")
	assert.Equal(t, []string{"xfce", "kde"}, custom.Options["image"].ChoiceKeys(), "the operator's choice order is kept")
	assert.Equal(t, []string{"small", "large"}, custom.Options["size"].ChoiceKeys())
	assert.Equal(t, "small", custom.Options["size"].defaultChoice(), "with none marked, the first choice is the default")
	assert.Equal(t, &UnlistedChoice{
		Enabled:              true,
		DisplayName:          "Image name",
		DisplayNameInChoices: "Other...",
		ValidationRegex:      `^[a-z0-9./:_-]+$`,
		ValidationMessage:    "Use an image reference such as ghcr.io/org/image:tag (lower case, no spaces).",
		Override: map[string]any{
			"image":        "{value}",
			"extra_labels": map[string]any{"kubedesk.dev/custom-image": "true"},
		},
	}, custom.Options["image"].Unlisted)
	assert.Equal(t, map[string]any{"nvidia.com/gpu": "1"}, profiles[1].Override["extra_resource_limits"])
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join("testdata", "invalid", "not-a-bool.yaml"))
	require.EqualError(t, err, `testdata/invalid/not-a-bool.yaml: profile "desktop": default must be true or false, got "maybe" (line 2)`)

	_, err = Load(filepath.Join("testdata", "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestInvalidFiles holds the error text operators see; it is part of the
// contract, so each case asserts all of it.
func TestInvalidFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want string
	}{
		{"choice-override-typo.yaml", `profile "gpu": option "image": choice "tf": unknown key "cpu_limt" in kubespawner_override (did you mean "cpu_limit"?)`},
		{"profile-key-typo.yaml", `profile "gpu": unknown key "profile_option" (did you mean "profile_options"?) (line 3)`},
		{"duplicate-slug.yaml", `profile #2: slug "desktop" is already used by profile #1`},
		{"two-default-profiles.yaml", `profiles "small", "large" are all marked default; mark at most one`},
		{"option-without-choices.yaml", `profile "desktop": option "image": needs choices, or an enabled unlisted_choice`},
		{"two-default-choices.yaml", `profile "desktop": option "size": choices "small", "large" are all marked default; mark at most one`},
		{"bad-regex.yaml", "profile \"desktop\": option \"image\": unlisted_choice: validation_regex: error parsing regexp: invalid or unsupported Perl syntax: `(?!`"},
		{"wrong-type.yaml", `profile "desktop": kubespawner_override: uid: expected an integer, got a string`},
		{"nested-unknown-field.yaml", `profile "gpu": kubespawner_override: unknown field "efect"`},
		{"not-a-bool.yaml", `profile "desktop": default must be true or false, got "maybe" (line 2)`},
		{"duplicate-key.yaml", `profile "desktop": kubespawner_override: duplicate key "image" (line 4)`},
		{"not-a-list.yaml", `profiles must be a list, got "desktop" (line 1)`},
		{"reserved-names.yaml", "profile \"desktop\": option \"profile\": the option name cannot be empty, \"profile\", or end in \"--unlisted-choice\"\n" +
			`profile "desktop": option "profile": choice "unlisted-choice": a choice cannot be named "unlisted-choice": the form uses that value for the unlisted choice`},
		// Privileged fields fail at load, each naming its opt-in.
		{"privileged-fields.yaml", `profile "datasets": kubespawner_override: volumes[data]: hostPath mounts the node's /srv/data; to allow it, list "hostPath" in allow_privileged_fields` + "\n" +
			`profile "datasets": option "debug": choice "strace": kubespawner_override: extra_containers[tracer].securityContext: seccompProfile Unconfined runs the container without a seccomp filter; to allow it, list "seccompProfile" in allow_privileged_fields`},
		{"unlisted-override-typo.yaml", `profile "custom": option "image": unlisted_choice: unknown key "image_spec" in kubespawner_override`},
		{"many-problems.yaml", "profile \"desktop\": unknown key \"mem_limits\" in kubespawner_override (did you mean \"mem_limit\"?)\n" +
			`profile #2: needs a slug, or a display_name to derive one from` + "\n" +
			`profile #2: display_name is required`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("testdata", "invalid", tt.file))
			require.NoError(t, err)
			profiles, err := Parse(data)
			if err == nil {
				err = Validate(baseSettings(), profiles)
			}
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, profiles []Profile)
	}{
		{
			name:  "empty document",
			input: "",
			check: func(t *testing.T, profiles []Profile) { assert.Empty(t, profiles) },
		},
		{
			name:  "null",
			input: "null",
			check: func(t *testing.T, profiles []Profile) { assert.Empty(t, profiles) },
		},
		{
			name:  "JSON",
			input: `[{"display_name": "Big & Fast!", "kubespawner_override": {"cpu_limit": 8, "uid": 1001}}]`,
			check: func(t *testing.T, profiles []Profile) {
				require.Len(t, profiles, 1)
				assert.Equal(t, "big-fast", profiles[0].Slug)
				assert.Equal(t, map[string]any{"cpu_limit": int64(8), "uid": int64(1001)}, profiles[0].Override)
			},
		},
		{
			name: "dict keyed by slug is sorted by key, slugs still come from display_name",
			input: `
zz: {display_name: Last}
aa: {display_name: First One}
`,
			check: func(t *testing.T, profiles []Profile) {
				require.Len(t, profiles, 2)
				assert.Equal(t, "first-one", profiles[0].Slug)
				assert.Equal(t, "last", profiles[1].Slug)
			},
		},
		{
			name: "anchors and merge keys",
			input: `
- display_name: A
  kubespawner_override: &gpu
    node_selector: {gpu: "true"}
    tolerations: [{key: gpu, operator: Exists}]
- display_name: B
  kubespawner_override:
    <<: *gpu
    node_selector: {gpu: "false"}
`,
			check: func(t *testing.T, profiles []Profile) {
				require.Len(t, profiles, 2)
				assert.Equal(t, profiles[0].Override["tolerations"], profiles[1].Override["tolerations"])
				assert.Equal(t, map[string]any{"gpu": "false"}, profiles[1].Override["node_selector"], "explicit keys win over merged ones")
			},
		},
		{
			name: "null values are kept, to delete keys when applied",
			input: `
- display_name: A
  kubespawner_override: {image: null, environment: {TZ: ~}}
`,
			check: func(t *testing.T, profiles []Profile) {
				assert.Equal(t, map[string]any{"image": nil, "environment": map[string]any{"TZ": nil}}, profiles[0].Override)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			profiles, err := Parse([]byte(tt.input))
			require.NoError(t, err)
			tt.check(t, profiles)
		})
	}
}

func TestUnmarshalJSONIsStrict(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Profiles []Profile `json:"profiles"`
	}
	err := json.Unmarshal([]byte(`{"profiles": [{"display_name": "A", "profile_options": {"size": {"choises": {}}}}]}`), &cfg)
	require.EqualError(t, err, `profile "a": option "size": unknown key "choises" (did you mean "choices"?)`)

	require.NoError(t, json.Unmarshal([]byte(`{"profiles": [{"display_name": "A", "profile_options": {"size": {"choices": {"s": {}, "l": {}}}}}]}`), &cfg))
	require.Len(t, cfg.Profiles, 1)
	assert.Equal(t, []string{"s", "l"}, cfg.Profiles[0].Options["size"].ChoiceKeys())
}

func TestValidateBuiltInGo(t *testing.T) {
	t.Parallel()
	profiles := []Profile{{
		Slug:        "gpu",
		DisplayName: "GPU",
		Override: map[string]any{
			"tolerations": []any{map[string]any{"key": "gpu", "operator": string(corev1.TolerationOpExists)}},
		},
		Options: map[string]Option{"image": {Choices: map[string]Choice{"b": {}, "a": {}}}},
	}}
	require.NoError(t, Validate(baseSettings(), profiles))
	assert.Equal(t, []string{"a", "b"}, profiles[0].Options["image"].ChoiceKeys(), "without a parsed order, keys sort")
	require.NoError(t, Validate(baseSettings(), nil), "no profiles is a valid configuration")
}
