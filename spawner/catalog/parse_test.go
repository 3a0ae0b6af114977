package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// ids lists "id version" of every app, in Apps order.
func ids(c *Catalog) []string {
	var out []string
	for _, a := range c.Apps() {
		out = append(out, a.String())
	}
	return out
}

func TestParseForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty file", "", nil},
		{"only a comment", "# nothing yet\n", nil},
		{"null", "~\n", nil},
		{"empty list", "[]\n", nil},
		{
			name: "list",
			yaml: `
- {id: xterm, version: "1", image: "kubedesk/example-xterm:1", command: [xterm]}
- {id: xeyes, version: "1", image: "kubedesk/example-xeyes:1", command: [xeyes]}
`,
			want: []string{"xeyes 1", "xterm 1"},
		},
		{
			name: "mapping of id to app or to a list of versions",
			yaml: `
xterm: {version: "1", image: "kubedesk/example-xterm:1", command: [xterm]}
itksnap:
  - {version: 3.8.0, image: "vnmd/itksnap_3.8.0:20201208", command: [itksnap]}
  - {id: itksnap, version: 4.4.0, image: "vnmd/itksnap_4.4.0:20260117", command: [itksnap]}
`,
			want: []string{"itksnap 4.4.0", "itksnap 3.8.0", "xterm 1"},
		},
		{
			name: "JSON is YAML",
			yaml: `[{"id": "xterm", "version": "1", "image": "kubedesk/example-xterm:1", "command": ["xterm"]}]`,
			want: []string{"xterm 1"},
		},
		{
			name: "merge keys share parts between apps",
			yaml: `
- &base {id: a, version: "1", image: "x/a:1", command: [a], resources: {cpu: "1"}}
- <<: *base
  id: b
`,
			want: []string{"a 1", "b 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, problems := Parse([]byte(tt.yaml), "apps.yaml")
			require.Empty(t, problems)
			require.NotNil(t, c)
			assert.Equal(t, tt.want, ids(c))
		})
	}
}

func TestParseFullApp(t *testing.T) {
	t.Parallel()
	c, problems := Parse([]byte(`
- id: slicer
  name: 3D Slicer
  version: 5.10.0
  description: |
    Visualisation and segmentation.
    With GPU rendering.
  icon: /opt/icons/slicer.png
  categories: [visualization, image segmentation]
  image: vnmd/slicer_5.10.0:20260226
  command: [Slicer, --no-splash]
  args: ["{files}"]
  file_types: [.nrrd, .nii.gz, application/dicom]
  env: {QT_QPA_PLATFORM: xcb, SLICER_THREADS: 4}
  resources: {cpu: 2, memory: 8Gi, gpu: 1}
  placement:
    node_selector: {nvidia.com/gpu.present: "true"}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      - {key: spot, value: "yes", effect: NoExecute, tolerationSeconds: 60}
  profiles: [gpu]
  terminal: false
`), "apps.yaml")
	require.Empty(t, problems)
	got, err := c.Lookup("slicer", "")
	require.NoError(t, err)
	sixty := int64(60)
	assert.Equal(t, App{
		ID:          "slicer",
		Name:        "3D Slicer",
		Version:     "5.10.0",
		Description: "Visualisation and segmentation.\nWith GPU rendering.\n",
		Icon:        "/opt/icons/slicer.png",
		Categories:  []string{"visualization", "image segmentation"},
		Image:       "vnmd/slicer_5.10.0:20260226",
		Command:     []string{"Slicer", "--no-splash"},
		Args:        []string{"{files}"},
		FileTypes:   []string{".nrrd", ".nii.gz", "application/dicom"},
		Env:         map[string]string{"QT_QPA_PLATFORM": "xcb", "SLICER_THREADS": "4"},
		Resources:   Resources{CPU: "2", Memory: "8Gi", GPU: "1"},
		Placement: Placement{
			NodeSelector: map[string]string{"nvidia.com/gpu.present": "true"},
			Tolerations: []corev1.Toleration{
				{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"},
				{Key: "spot", Value: "yes", Effect: "NoExecute", TolerationSeconds: &sixty},
			},
		},
		Profiles: []string{"gpu"},
	}, got)
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c, problems := Parse([]byte("- {id: xterm, version: 1.0, image: x/xterm, command: [xterm]}\n"), "apps.yaml")
	require.Empty(t, problems)
	a, err := c.Lookup("xterm", "1.0")
	require.NoError(t, err, "a YAML number is kept as written")
	assert.Equal(t, "xterm", a.Name, "name defaults to the id")
}

// TestParseProblems holds the messages operators see: they are part of
// the contract. Each case also names the apps that still load.
func TestParseProblems(t *testing.T) {
	t.Parallel()
	const ok = `- {id: ok, version: "1", image: "x/ok:1", command: [ok]}` + "\n"
	tests := []struct {
		name string
		yaml string
		want []Problem
		kept []string
	}{
		{
			name: "unknown key, with a suggestion",
			yaml: ok + `- id: bad
  version: "1"
  image: x/bad:1
  comand: [bad]
`,
			want: []Problem{
				{Line: 5, App: "bad 1", Message: `unknown key "comand" (did you mean "command"?)`},
			},
			kept: []string{"ok 1"},
		},
		{
			name: "unknown nested keys",
			yaml: `- id: bad
  version: "1"
  image: x/bad:1
  command: [bad]
  resources: {cpu: "1", memroy: 1Gi}
  placement: {nodeSelector: {a: b}, tolerations: [{key: k, efect: NoSchedule}]}
`,
			want: []Problem{
				{Line: 5, App: "bad 1", Message: `resources: unknown key "memroy" (did you mean "memory"?)`},
				{Line: 6, App: "bad 1", Message: `placement: unknown key "nodeSelector" (did you mean "node_selector"?)`},
				{Line: 6, App: "bad 1", Message: `placement.tolerations[0]: unknown key "efect" (did you mean "effect"?)`},
			},
		},
		{
			name: "missing image and command",
			yaml: ok + "- {id: bad, version: \"2\"}\n",
			want: []Problem{
				{Line: 2, App: "bad 2", Message: "image: is required"},
				{Line: 2, App: "bad 2", Message: "command: is required"},
			},
			kept: []string{"ok 1"},
		},
		{
			name: "missing id and version",
			yaml: ok + "- {image: x/y, command: [y]}\n",
			want: []Problem{
				{Line: 2, App: "entry 2", Message: "id: is required"},
				{Line: 2, App: "entry 2", Message: "version: is required"},
			},
			kept: []string{"ok 1"},
		},
		{
			name: "wrong types",
			yaml: `- id: bad
  version: "1"
  image: [x/bad]
  command: bad --flag
  categories: visualization
  env: [A=1]
  terminal: "maybe"
  resources: 2
`,
			want: []Problem{
				{Line: 3, App: "bad 1", Message: `image: must be a string, got a list`},
				{Line: 4, App: "bad 1", Message: `command: must be a list of strings, got "bad --flag"`},
				{Line: 5, App: "bad 1", Message: `categories: must be a list of strings, got "visualization"`},
				{Line: 6, App: "bad 1", Message: `env: must be a mapping of strings, got a list`},
				{Line: 7, App: "bad 1", Message: `terminal: must be true or false, got "maybe"`},
				{Line: 8, App: "bad 1", Message: `resources: must be a mapping, got "2"`},
			},
		},
		{
			name: "duplicate id and version: the first one wins",
			yaml: ok + `- {id: ok, version: "1", image: "x/other:1", command: [other]}` + "\n",
			want: []Problem{
				{Line: 2, App: "ok 1", Message: "duplicate of the entry at line 1; this one is skipped"},
			},
			kept: []string{"ok 1"},
		},
		{
			name: "duplicate key",
			yaml: "- {id: a, version: \"1\", image: x/a, image: x/b, command: [a]}\n",
			want: []Problem{
				{Line: 1, App: "a 1", Message: `duplicate key "image"`},
			},
		},
		{
			name: "duplicate id in the mapping form",
			yaml: "a: {version: \"1\", image: x/a, command: [a]}\na: {version: \"2\", image: x/a, command: [a]}\n",
			want: []Problem{
				{Line: 2, App: "a", Message: "duplicate key; list the versions of one app under one key"},
			},
			kept: []string{"a 1"},
		},
		{
			name: "id differs from its key",
			yaml: "a: {id: b, version: \"1\", image: x/a, command: [a]}\n",
			want: []Problem{
				{Line: 1, App: "a 1", Message: `id: "b" differs from the key "a" it is listed under`},
			},
		},
		{
			name: "invalid id and version",
			yaml: `- {id: ITK_Snap, version: "4.4 beta", image: x/a, command: [a]}
- {id: -lead, version: "1", image: x/a, command: [a]}
- {id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, version: "1", image: x/a, command: [a]}
`,
			want: []Problem{
				{Line: 1, App: "ITK_Snap 4.4 beta", Message: `id: "ITK_Snap" must be a DNS label (lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters), since it names pods and labels`},
				{Line: 1, App: "ITK_Snap 4.4 beta", Message: `version: "4.4 beta" must be a label value (letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 63 characters)`},
				{Line: 2, App: "-lead 1", Message: `id: "-lead" must be a DNS label (lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters), since it names pods and labels`},
				{Line: 3, App: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1", Message: `id: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" must be a DNS label (lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters), since it names pods and labels`},
			},
		},
		{
			name: "bad image reference",
			yaml: "- {id: a, version: \"1\", image: \"Vnmd/ITK snap:1\", command: [a]}\n",
			want: []Problem{
				{Line: 1, App: "a 1", Message: `image: "Vnmd/ITK snap:1" is not an image reference such as "vnmd/itksnap_4.4.0:20260117"`},
			},
		},
		{
			name: "bad quantities",
			yaml: `- id: a
  version: "1"
  image: x/a
  command: [a]
  resources:
    cpu: two
    memory: 512m
    gpu: "0.5"
- id: b
  version: "1"
  image: x/b
  command: [b]
  resources: {cpu: "-1", memory: 1Gi, gpu: -2}
`,
			want: []Problem{
				{Line: 6, App: "a 1", Message: `resources.cpu: "two" is not a Kubernetes quantity such as "500m", "2" or "4Gi"`},
				{Line: 7, App: "a 1", Message: `resources.memory: "512m" is a fraction of a byte ("m" means milli; did you mean "Mi"?)`},
				{Line: 8, App: "a 1", Message: `resources.gpu: "0.5" must be a whole number of GPUs`},
				{Line: 13, App: "b 1", Message: `resources.cpu: "-1" must not be negative`},
				{Line: 13, App: "b 1", Message: `resources.gpu: "-2" must be a whole number of GPUs`},
			},
		},
		{
			name: "malformed commands",
			yaml: `- {id: empty, version: "1", image: x/a, command: []}
- {id: blank, version: "1", image: x/a, command: [""]}
- {id: nul, version: "1", image: x/a, command: ["a\0b"]}
- id: placeholder
  version: "1"
  image: x/a
  command: [viewer, "{file}"]
- id: unknown
  version: "1"
  image: x/a
  command: [viewer]
  args: ["--home={home}", "{files}"]
- id: files
  version: "1"
  image: x/a
  command: [viewer]
  args: ["--in={files}", "{FILE}"]
`,
			want: []Problem{
				{Line: 1, App: "empty 1", Message: `command: must not be empty`},
				{Line: 2, App: "blank 1", Message: `command[0]: the program must not be empty`},
				{Line: 3, App: "nul 1", Message: `command[0]: contains a NUL byte`},
				{Line: 7, App: "placeholder 1", Message: `command[1]: "{file}" holds {file}, but file placeholders belong in args`},
				{Line: 12, App: "unknown 1", Message: `args[0]: "--home={home}" holds the unknown placeholder {home} (only {file} and {files} exist)`},
				{Line: 17, App: "files 1", Message: `args[0]: "--in={files}": {files} must be an argument of its own`},
				{Line: 17, App: "files 1", Message: `args[1]: "{FILE}" holds the unknown placeholder {FILE} (only {file} and {files} exist)`},
			},
		},
		{
			name: "bad file types, env, categories and profiles",
			yaml: `- id: a
  version: "1"
  image: x/a
  command: [a]
  file_types: [nii, .nii.gz, image/]
  env:
    OK: "1"
    1BAD: x
  categories: ["", "a;b", "!!!"]
  profiles: ["", gpu large]
`,
			want: []Problem{
				{Line: 9, App: "a 1", Message: `categories[0]: must not be empty`},
				{Line: 9, App: "a 1", Message: `categories[1]: "a;b" must not contain ";"`},
				{Line: 9, App: "a 1", Message: `categories[2]: "!!!" needs at least one letter or digit`},
				{Line: 5, App: "a 1", Message: `file_types[0]: "nii" is neither a file name extension such as ".nii.gz" nor a MIME type such as "image/png"`},
				{Line: 5, App: "a 1", Message: `file_types[2]: "image/" is neither a file name extension such as ".nii.gz" nor a MIME type such as "image/png"`},
				{Line: 8, App: "a 1", Message: `env: "1BAD" is not a valid variable name (letters, digits, "_", "-" and ".", not starting with a digit)`},
				{Line: 10, App: "a 1", Message: `profiles[0]: "" is not a profile slug`},
				{Line: 10, App: "a 1", Message: `profiles[1]: "gpu large" is not a profile slug`},
			},
		},
		{
			name: "bad placement",
			yaml: `- id: a
  version: "1"
  image: x/a
  command: [a]
  placement:
    node_selector: {"bad key!": x, pool: "not valid!"}
    tolerations:
      - {operator: Equal, value: x}
      - {key: k, operator: Exists, value: v, effect: Sometimes}
      - {key: k, operator: Maybe, tolerationSeconds: 5}
      - {key: k, tolerationSeconds: soon}
`,
			want: []Problem{
				{Line: 11, App: "a 1", Message: `placement.tolerations[3].tolerationSeconds: must be a whole number of seconds, got "soon"`},
			},
		},
		{
			name: "bad placement values",
			yaml: `- id: a
  version: "1"
  image: x/a
  command: [a]
  placement:
    node_selector: {"bad key!": x, pool: "not valid!"}
    tolerations:
      - {operator: Equal, value: x}
      - {key: k, operator: Exists, value: v, effect: Sometimes}
      - {key: k, operator: Maybe, tolerationSeconds: 5}
`,
			want: []Problem{
				{Line: 6, App: "a 1", Message: `placement.node_selector: "bad key!" is not a valid label key`},
				{Line: 6, App: "a 1", Message: `placement.node_selector: pool: "not valid!" is not a valid label value`},
				{Line: 8, App: "a 1", Message: `placement.tolerations[0]: an empty key needs operator Exists`},
				{Line: 9, App: "a 1", Message: `placement.tolerations[1]: operator Exists takes no value`},
				{Line: 9, App: "a 1", Message: `placement.tolerations[1]: effect "Sometimes" must be NoSchedule, PreferNoSchedule or NoExecute`},
				{Line: 10, App: "a 1", Message: `placement.tolerations[2]: operator "Maybe" must be Equal or Exists`},
				{Line: 10, App: "a 1", Message: `placement.tolerations[2]: tolerationSeconds needs effect NoExecute`},
			},
		},
		{
			name: "control characters in names",
			yaml: "- {id: a, version: \"1\", name: \"A\\tB\", image: x/a, command: [a]}\n",
			want: []Problem{
				{Line: 1, App: "a 1", Message: `name: contains the control character U+0009`},
			},
		},
		{
			name: "an entry that is not a mapping",
			yaml: ok + "- just a string\n- [a, list]\n",
			want: []Problem{
				{Line: 2, App: "entry 2", Message: `an app must be a mapping, got "just a string"`},
				{Line: 3, App: "entry 3", Message: `an app must be a mapping, got a list`},
			},
			kept: []string{"ok 1"},
		},
		{
			name: "a scalar catalog",
			yaml: "hello\n",
			want: []Problem{
				{Line: 1, Message: `a catalog must be a list or a mapping of apps, got "hello"`},
			},
		},
		{
			name: "not YAML at all",
			yaml: "- {id: a\n  version: [\n",
			want: []Problem{
				{Line: 1, Message: `not a YAML catalog: did not find expected ',' or '}'`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, problems := Parse([]byte(tt.yaml), "apps.yaml")
			for i := range tt.want {
				tt.want[i].Source = "apps.yaml"
			}
			assert.Equal(t, tt.want, problems)
			require.NotNil(t, c)
			assert.Equal(t, tt.kept, ids(c))
		})
	}
}

func TestProblemError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"everything", Problem{Source: "apps.yaml", Line: 4, App: "itksnap 4.4.0", Message: "image: is required"}, "apps.yaml:4: itksnap 4.4.0: image: is required"},
		{"no line", Problem{Source: "apps.yaml", Message: "not a YAML catalog: x"}, "apps.yaml: not a YAML catalog: x"},
		{"no source", Problem{Line: 2, App: "a", Message: "m"}, "line 2: a: m"},
		{"message only", Problem{Message: "m"}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.p.Error())
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, problems := Load(filepath.Join("testdata", "missing.yaml"))
	require.Len(t, problems, 1)
	assert.Equal(t, "testdata/missing.yaml: read catalog: open testdata/missing.yaml: no such file or directory", problems[0].Error())
	assert.Zero(t, c.Len())
}

// FuzzParse checks that no input makes Parse panic or return a nil
// catalog, and that whatever it keeps passes validation and builds a
// command line. The seeds include the examples' catalogs.
func FuzzParse(f *testing.F) {
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "catalog", "*.yaml"))
	require.NoError(f, err)
	require.NotEmpty(f, examples)
	for _, p := range examples {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	for _, seed := range []string{
		"", "[]", "{}", "- {id: a, version: '1', image: x/a, command: [a]}",
		"a: [{version: 1, image: x, command: [a]}, 3]", "- <<: [*x]", "&a [*a]",
		"- {id: a, version: '1', image: x/a, command: [a], args: ['{file}'], resources: {cpu: 1e3}}",
		"\x00", "- !!binary aGk=", "- {tolerations: [{tolerationSeconds: 1e400}]}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := Parse(data, "fuzz.yaml")
		require.NotNil(t, c)
		for _, a := range c.Apps() {
			require.Empty(t, validate(a))
			_, _ = a.CommandLine([]string{"/home/jovyan/a b.nii.gz", "/home/jovyan/sub/c"}, "/home/jovyan")
		}
	})
}
