package catalog

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommandLine(t *testing.T) {
	t.Parallel()
	const home = "/home/jovyan"
	tests := []struct {
		name    string
		command []string
		args    []string
		files   []string
		want    []string
	}{
		{
			name:    "no placeholder appends the files, as Neurodesk's \"$@\"",
			command: []string{"itksnap"},
			files:   []string{"/home/jovyan/a.nii.gz", "/home/jovyan/b.nii.gz"},
			want:    []string{"itksnap", "/home/jovyan/a.nii.gz", "/home/jovyan/b.nii.gz"},
		},
		{
			name:    "no placeholder and fixed args: files after them",
			command: []string{"bash", "run_spm12.sh", "/opt/mcr/v97/"},
			args:    []string{"fmri"},
			files:   []string{"/home/jovyan/x.nii"},
			want:    []string{"bash", "run_spm12.sh", "/opt/mcr/v97/", "fmri", "/home/jovyan/x.nii"},
		},
		{
			name:    "{file} is the first file only",
			command: []string{"itksnap"},
			args:    []string{"-g", "{file}"},
			files:   []string{"/home/jovyan/a.nii", "/home/jovyan/b.nii"},
			want:    []string{"itksnap", "-g", "/home/jovyan/a.nii"},
		},
		{
			name:    "{file} inside a longer argument",
			command: []string{"viewer"},
			args:    []string{"--image={file}", "--fast"},
			files:   []string{"/home/jovyan/a b.nii"},
			want:    []string{"viewer", "--image=/home/jovyan/a b.nii", "--fast"},
		},
		{
			name:    "{file} without files drops that argument",
			command: []string{"itksnap"},
			args:    []string{"-g", "{file}"},
			want:    []string{"itksnap", "-g"},
		},
		{
			name:    "{files} is every file, each its own argument",
			command: []string{"freeview"},
			args:    []string{"-v", "{files}", "-viewport", "coronal"},
			files:   []string{"/home/jovyan/a.mgz", "/home/jovyan/b.mgz"},
			want:    []string{"freeview", "-v", "/home/jovyan/a.mgz", "/home/jovyan/b.mgz", "-viewport", "coronal"},
		},
		{
			name:    "{files} without files is nothing",
			command: []string{"fsleyes"},
			args:    []string{"{files}"},
			want:    []string{"fsleyes"},
		},
		{
			name:    "paths are cleaned",
			command: []string{"fsleyes"},
			files:   []string{"/home/jovyan/data/../brain.nii", "/home/jovyan//x/./y.nii"},
			want:    []string{"fsleyes", "/home/jovyan/brain.nii", "/home/jovyan/x/y.nii"},
		},
		{
			name:    "shell syntax in a file name stays one literal argument",
			command: []string{"cat"},
			files:   []string{"/home/jovyan/$(rm -rf ~); `x` *.nii"},
			want:    []string{"cat", "/home/jovyan/$(rm -rf ~); `x` *.nii"},
		},
		{
			name:    "the home directory itself",
			command: []string{"filer"},
			files:   []string{"/home/jovyan/"},
			want:    []string{"filer", "/home/jovyan"},
		},
		{
			name:    "a file name starting with dashes cannot pass as an option",
			command: []string{"viewer"},
			files:   []string{"/home/jovyan/--help"},
			want:    []string{"viewer", "/home/jovyan/--help"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := App{Command: tt.command, Args: tt.args}
			got, err := a.CommandLine(tt.files, home)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCommandLineDoesNotAliasTheApp(t *testing.T) {
	t.Parallel()
	a := App{Command: make([]string, 1, 10), Args: []string{"x"}}
	a.Command[0] = "prog"
	got, err := a.CommandLine([]string{"/home/u/f"}, "/home/u")
	require.NoError(t, err)
	got[0] = "changed"
	assert.Equal(t, "prog", a.Command[0])
	assert.Len(t, a.Command, 1)
}

func TestCommandLineFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		home    string
		file    string
		wantErr string
	}{
		{"outside home", "/home/jovyan", "/etc/passwd", `file "/etc/passwd" is outside the home directory /home/jovyan`},
		{"dot-dot out of home", "/home/jovyan", "/home/jovyan/../other/secret", `file "/home/jovyan/../other/secret" is outside the home directory /home/jovyan`},
		{"a sibling with the same prefix", "/home/jovyan", "/home/jovyan2/x", `file "/home/jovyan2/x" is outside the home directory /home/jovyan`},
		{"relative", "/home/jovyan", "brain.nii", `file "brain.nii" is not an absolute path`},
		{"empty", "/home/jovyan", "", `file "" is empty`},
		{"NUL byte", "/home/jovyan", "/home/jovyan/a\x00b", `file "/home/jovyan/a\x00b" contains a NUL byte`},
		{"home given with a trailing slash", "/home/jovyan/", "/home/other/x", `file "/home/other/x" is outside the home directory /home/jovyan`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := App{Command: []string{"viewer"}, Args: []string{"{files}"}}
			got, err := a.CommandLine([]string{"/home/jovyan/ok.nii", tt.file}, tt.home)
			require.EqualError(t, err, tt.wantErr)
			assert.Nil(t, got)
			var fe *FileError
			require.True(t, errors.As(err, &fe))
			assert.Equal(t, tt.file, fe.Path)
		})
	}
}

func TestCommandLineNeedsAbsoluteHome(t *testing.T) {
	t.Parallel()
	_, err := App{Command: []string{"x"}}.CommandLine(nil, "jovyan")
	require.EqualError(t, err, `home directory "jovyan" is not an absolute path`)
}

func TestAllowedFor(t *testing.T) {
	t.Parallel()
	assert.True(t, App{}.AllowedFor("anything"), "no profiles: every profile")
	gpu := App{Profiles: []string{"gpu", "large"}}
	assert.True(t, gpu.AllowedFor("large"))
	assert.False(t, gpu.AllowedFor("desktop"))
}
