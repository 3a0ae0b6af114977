package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "plain", in: "itksnap", want: []string{"itksnap"}},
		{name: "arguments", in: "itksnap /MRIcrop-orig.gipl", want: []string{"itksnap", "/MRIcrop-orig.gipl"}},
		{name: "runs of blanks", in: "  bash\trun_spm12.sh   /opt/mcr/v97/ ", want: []string{"bash", "run_spm12.sh", "/opt/mcr/v97/"}},
		{name: "single quotes are literal", in: `echo 'a "b" \n $HOME'`, want: []string{"echo", `a "b" \n $HOME`}},
		{name: "double quotes escape only quote and backslash", in: `echo "a \"b\" \\ \$x $HOME"`, want: []string{"echo", `a "b" \ \$x $HOME`}},
		{name: "backslash outside quotes", in: `a\ b c\\d \'e`, want: []string{"a b", `c\d`, "'e"}},
		{name: "quotes join a word", in: `--name="a b"'c d'e`, want: []string{"--name=a bc de"}},
		{name: "empty quotes are an empty word", in: `prog '' ""`, want: []string{"prog", "", ""}},
		{name: "nothing is expanded", in: "ls ~ * $PWD `id` #x", want: []string{"ls", "~", "*", "$PWD", "`id`", "#x"}},
		{name: "empty", in: "   ", want: nil},
		{name: "unclosed single quote", in: "a 'b", wantErr: "a single quote is not closed"},
		{name: "unclosed double quote", in: `a "b\"`, wantErr: "a double quote is not closed"},
		{name: "trailing backslash", in: `a \`, wantErr: "a backslash at the end escapes nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := splitWords(tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestImportNeurodeskOptions(t *testing.T) {
	t.Parallel()
	data := []byte(`{"fsl": {"apps": {
		"fsleyesGUI-fsl 6.0.7.19": {"version": "20260217", "exec": "fsleyes"},
		"fsl 6.0.7.19": {"exec": ""}}, "categories": ["structural imaging"]}}`)
	c, problems := ImportNeurodesk(data, "apps.json", NeurodeskOptions{
		Registry:      "registry.example.org/vnmd/",
		IncludeShells: true,
		ShellCommand:  []string{"/bin/sh", "-l"},
		IconDir:       "/opt/neurodesk/icons",
		Resources:     Resources{Memory: "4Gi"},
		Profiles:      []string{"neuro"},
	})
	require.Empty(t, problems)
	assert.Equal(t, []string{"fsl-shell 6.0.7.19", "fsleyes 6.0.7.19"}, ids(c))
	shell, err := c.Lookup("fsl-shell", "")
	require.NoError(t, err)
	assert.Equal(t, App{
		ID:          "fsl-shell",
		Name:        "fsl shell",
		Version:     "6.0.7.19",
		Description: "A shell in the Neurodesk container fsl 6.0.7.19",
		Icon:        "/opt/neurodesk/icons/fsl.png",
		Categories:  []string{"structural imaging"},
		// The shell entry has no build date; its GUI sibling's is the same image.
		Image:     "registry.example.org/vnmd/fsl_6.0.7.19:20260217",
		Command:   []string{"/bin/sh", "-l"},
		Resources: Resources{Memory: "4Gi"},
		Profiles:  []string{"neuro"},
		Terminal:  true,
	}, shell)
}

func TestImportNeurodeskKeys(t *testing.T) {
	t.Parallel()
	// The key forms found in Neurodesk's list.
	data := []byte(`{
"julia": {"apps": {
	"REPLGUI-julia 1.10.1": {"version": "20240321", "exec": "julia"},
	"vscodeGUI-julia 1.10.1": {"version": "20240321", "exec": "code"}}},
"mne": {"apps": {"code-mne 1.1.1": {"version": "20220912", "exec": "code"}}},
"slicer": {"apps": {"3DSlicerGUI-slicer 5.0.3": {"version": "20221025", "exec": "Slicer"}}},
"deepdisco": {"apps": {"DeepDisco-deepdisco 20251008": {"version": "20260611", "exec": "deepdisco"}}},
"neurodesktop-lite": {"apps": {"neurodesktop-lite 1.0": {"version": "20250101", "exec": "xfce4-terminal"}}},
"dsistudio": {"apps": {"dsistudioGUI-dsistudio chen.2024.04.19": {"version": "20240426", "exec": "dsi_studio"}}}
}`)
	c, problems := ImportNeurodesk(data, "apps.json", NeurodeskOptions{})
	require.Empty(t, problems)
	assert.Equal(t, []string{
		"3dslicer 5.0.3", "code 1.1.1", "deepdisco 20251008", "dsistudio chen.2024.04.19",
		"neurodesktop-lite 1.0", "repl 1.10.1", "vscode 1.10.1",
	}, ids(c))
	repl, err := c.Lookup("repl", "")
	require.NoError(t, err)
	assert.Equal(t, "REPL", repl.Name)
	assert.Equal(t, "vnmd/julia_1.10.1:20240321", repl.Image)
}

func TestImportNeurodeskProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want []Problem
		kept []string
	}{
		{
			name: "not JSON",
			json: "{\"a\": {\n  \"apps\": [}\n",
			want: []Problem{{Line: 2, Message: "not a Neurodesk apps.json: invalid character '}' looking for beginning of value"}},
		},
		{
			name: "YAML is not JSON",
			json: "a:\n  apps: {}\n",
			want: []Problem{{Line: 1, Message: "not a Neurodesk apps.json: invalid character 'a' looking for beginning of value"}},
		},
		{
			name: "not a mapping",
			json: `["itksnap"]`,
			want: []Problem{{Line: 1, Message: `apps.json must be a mapping of containers, got a list`}},
		},
		{
			name: "bad container",
			json: `{"a": [], "b": {"apps": [], "categories": "x"}, "c": {"show_in_menu": "no", "apps": {}}}`,
			want: []Problem{
				{Line: 1, App: "a", Message: `a container must be a mapping, got a list`},
				{Line: 1, App: "b", Message: `apps must be a mapping, got a list`},
				{Line: 1, App: "b", Message: `categories must be a list of strings, got "x"`},
				{Line: 1, App: "c", Message: `show_in_menu must be true or false, got "no"`},
			},
		},
		{
			name: "bad entries are skipped, the rest is kept",
			json: `{"itksnap": {"apps": {
	"itksnapGUI-itksnap 4.4.0": {"version": "20260117", "exec": "itksnap"},
	"itksnapGUI-itksnap": {"version": "20260117", "exec": "itksnap"},
	"itksnapGUI-other 1.0": {"version": "20260117", "exec": "itksnap"},
	"itksnapGUI-itksnap 1.0": {"version": "20260117", "exec": ""},
	"itksnapGUI-itksnap 2.0": {"version": "20260117", "exec": "itksnap 'unclosed"},
	"itksnapGUI-itksnap 3.0": {"exec": "itksnap"},
	"itksnapGUI-itksnap 3.1": {"version": ["x"], "exec": 3, "terminal": "yes"},
	"itksnapGUI-itksnap 3.2": "itksnap",
	"itksnapGUI-itksnap 3.3": {"version": "2026-01-17", "exec": "itksnap {file}"},
	"itksnapGUI-itksnap 3.4+b1": {"version": "20260117", "exec": "itksnap"},
	"snapGUI-itksnap 4.4.0": {"version": "20260117", "exec": "itksnap"}
}}}`,
			want: []Problem{
				{Line: 3, App: "itksnapGUI-itksnap", Message: `the key must be "<exe>GUI-<container> <version>" or "<container> <version>"`},
				{Line: 4, App: "itksnapGUI-other 1.0", Message: `the key names the container "itksnapGUI-other", but the entry is under "itksnap"`},
				{Line: 5, App: "itksnapGUI-itksnap 1.0", Message: `a GUI entry needs an exec`},
				{Line: 6, App: "itksnapGUI-itksnap 2.0", Message: `exec "itksnap 'unclosed": a single quote is not closed`},
				{Line: 7, App: "itksnapGUI-itksnap 3.0", Message: `version (the build date, which is the image tag) is required`},
				{Line: 8, App: "itksnapGUI-itksnap 3.1", Message: `version must be a string, got a list`},
				{Line: 8, App: "itksnapGUI-itksnap 3.1", Message: `terminal must be true or false, got "yes"`},
				{Line: 9, App: "itksnapGUI-itksnap 3.2", Message: `an app must be a mapping, got "itksnap"`},
				{Line: 10, App: "itksnapGUI-itksnap 3.3", Message: `command[1]: "{file}" holds {file}, but file placeholders belong in args`},
				{Line: 11, App: "itksnapGUI-itksnap 3.4+b1", Message: `version: "3.4+b1" must be a label value (letters, digits, ".", "_" and "-", starting and ending with a letter or digit, at most 63 characters)`},
				{Line: 11, App: "itksnapGUI-itksnap 3.4+b1", Message: `image: "vnmd/itksnap_3.4+b1:20260117" is not an image reference such as "vnmd/itksnap_4.4.0:20260117"`},
			},
			kept: []string{"itksnap 4.4.0", "snap 4.4.0"},
		},
		{
			name: "two entries giving the same id and version",
			json: `{"julia": {"apps": {"vscodeGUI-julia 1.0": {"version": "1", "exec": "code"}}},
"other": {"apps": {"vscodeGUI-other 1.0": {"version": "2", "exec": "code"}}}}`,
			want: []Problem{
				{Line: 2, App: "vscodeGUI-other 1.0", Message: `vscode 1.0 is also defined at line 1; this entry is skipped`},
			},
			kept: []string{"vscode 1.0"},
		},
		{
			name: "duplicate keys",
			json: `{"a": {"apps": {"xGUI-a 1": {"version": "1", "exec": "x", "exec": "y"}}}, "a": {}}`,
			want: []Problem{
				{Line: 1, Message: `duplicate key "a"`},
				{Line: 1, App: "xGUI-a 1", Message: `duplicate key "exec"`},
			},
			kept: []string{"x 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, problems := ImportNeurodesk([]byte(tt.json), "apps.json", NeurodeskOptions{})
			for i := range tt.want {
				tt.want[i].Source = "apps.json"
			}
			assert.Equal(t, tt.want, problems)
			require.NotNil(t, c)
			assert.Equal(t, tt.kept, ids(c))
		})
	}
}

func FuzzImportNeurodesk(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "examples", "catalog", "neurodesk-apps.sample.json"))
	require.NoError(f, err)
	for _, seed := range []string{string(sample), "{}", "[]", `{"a": {"apps": {"b 1": {"exec": "'"}}}}`, `{"a":{"apps":{"xGUI-a 1":{"version":1,"exec":"x \\"}}}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, shells := range []bool{false, true} {
			c, _ := ImportNeurodesk(data, "fuzz.json", NeurodeskOptions{IncludeShells: shells})
			require.NotNil(t, c)
			for _, a := range c.Apps() {
				require.Empty(t, validate(a))
			}
		}
	})
}
