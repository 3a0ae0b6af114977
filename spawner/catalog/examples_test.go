package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The examples in examples/catalog are loaded here, so the files and
// their README cannot drift from the code.
var examples = filepath.Join("..", "..", "examples", "catalog")

func TestExampleNeurodeskSubset(t *testing.T) {
	t.Parallel()
	c, problems := Load(filepath.Join(examples, "neurodesk-subset.yaml"))
	require.Empty(t, problems)
	assert.Equal(t, []string{
		"afni", "dsistudio", "freeview", "fsleyes", "itksnap", "mricrogl", "mrview",
		"slicer", "spm12", "suma", "textview", "xeyes", "xterm",
	}, c.IDs())
	assert.Equal(t, []string{"4.4.0", "4.2.2"}, c.Versions("itksnap"))

	itksnap, err := c.Lookup("itksnap", "")
	require.NoError(t, err)
	assert.Equal(t, "vnmd/itksnap_4.4.0:20260117", itksnap.Image)
	argv, err := itksnap.CommandLine([]string{"/home/jovyan/brain.nii.gz"}, "/home/jovyan")
	require.NoError(t, err)
	assert.Equal(t, []string{"itksnap", "-g", "/home/jovyan/brain.nii.gz"}, argv)

	slicer, err := c.Lookup("slicer", "")
	require.NoError(t, err)
	assert.Equal(t, "1", slicer.Resources.GPU)
	assert.Equal(t, []string{"gpu"}, slicer.Profiles)
	assert.NotContains(t, appIDs(c.ForProfile("desktop")), "slicer")

	xterm, err := c.Lookup("xterm", "")
	require.NoError(t, err)
	assert.Equal(t, "kubedesk/example-xterm:1", xterm.Image)
	assert.Equal(t, []string{"xterm"}, xterm.Command)
	xeyes, err := c.Lookup("xeyes", "1")
	require.NoError(t, err)
	assert.Equal(t, "kubedesk/example-xeyes:1", xeyes.Image)

	viewer, err := c.Lookup("textview", "")
	require.NoError(t, err)
	argv, err = viewer.CommandLine([]string{"/home/jovyan/notes.txt"}, "/home/jovyan")
	require.NoError(t, err)
	assert.Equal(t, []string{"xmessage", "-file", "/home/jovyan/notes.txt"}, argv)
}

func TestExampleNeurodeskSample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(examples, "neurodesk-apps.sample.json"))
	require.NoError(t, err)
	tests := []struct {
		name string
		opts NeurodeskOptions
		want []string
	}{
		{
			// apptainer (show_in_menu: false) and julia's vscode (the same,
			// on the entry) are left out, and so are the shells.
			name: "GUI entries",
			want: []string{"fsleyes 6.0.7.19", "itksnap 4.4.0", "itksnap 3.8.0", "repl 1.10.1", "spm12 r7771"},
		},
		{
			name: "with shells",
			opts: NeurodeskOptions{IncludeShells: true},
			want: []string{
				"dcm2niix-shell v1.0.20240202", "fsl-shell 6.0.7.19", "fsleyes 6.0.7.19",
				"itksnap 4.4.0", "itksnap 3.8.0", "itksnap-shell 4.4.0", "itksnap-shell 3.8.0",
				"julia-shell 1.10.1", "repl 1.10.1", "spm12 r7771", "spm12-shell r7771",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, problems := ImportNeurodesk(data, "neurodesk-apps.sample.json", tt.opts)
			require.Empty(t, problems)
			assert.Equal(t, tt.want, ids(c))
		})
	}

	c, problems := ImportNeurodesk(data, "neurodesk-apps.sample.json", NeurodeskOptions{})
	require.Empty(t, problems)
	old, err := c.Lookup("itksnap", "3.8.0")
	require.NoError(t, err)
	assert.Equal(t, App{
		ID:          "itksnap",
		Name:        "itksnap",
		Version:     "3.8.0",
		Description: "itksnap from the Neurodesk container itksnap 3.8.0",
		Categories:  []string{"image segmentation", "visualization"},
		Image:       "vnmd/itksnap_3.8.0:20201208",
		Command:     []string{"itksnap", "/MRIcrop-orig.gipl"},
	}, old, "arguments in exec are split into the command")
	spm, err := c.Lookup("spm12", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"bash", "run_spm12.sh", "/opt/mcr/v97/", "fmri"}, spm.Command, "quotes are removed, nothing is expanded")
	repl, err := c.Lookup("repl", "")
	require.NoError(t, err)
	assert.True(t, repl.Terminal)
	assert.Equal(t, []string{"functional imaging", "image segmentation", "programming", "structural imaging", "visualization"},
		c.Categories(), "data organisation is only dcm2niix's, a shell")
}

func appIDs(apps []App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.ID)
	}
	return out
}
