package catalog

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// App is one version of one application: what the spawner service needs to
// build its pod and what the launcher agent needs to show it in the menu.
// The field comments give the catalog YAML key of each field.
type App struct {
	// ID names the application in launch requests, pod names and labels
	// (id): a DNS label, lower-case letters, digits and "-", at most 63
	// characters.
	ID string `json:"id"`
	// Name is shown in menus (name); Parse uses the ID when it is empty.
	Name string `json:"name"`
	// Version tells versions of one ID apart (version): a Kubernetes label
	// value (letters, digits, ".", "_", "-"), such as "4.4.0", "r7771" or
	// "20260117". Lookup compares versions with
	// sessionapi.CompareVersions.
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Icon is an icon theme name, an absolute file path or a URL (icon).
	Icon string `json:"icon,omitempty"`
	// Categories group the app in the menu (categories), such as
	// "visualization" or "image segmentation".
	Categories []string `json:"categories,omitempty"`
	// Image is the container image the app runs in (image).
	Image string `json:"image"`
	// Command is the program and its fixed arguments (command). It never
	// holds placeholders and is never run through a shell.
	Command []string `json:"command"`
	// Args follow Command (args). PlaceholderFile ("{file}", the first
	// file; it may be part of a longer argument such as "--image={file}")
	// and PlaceholderFiles ("{files}", every file as its own argument; only
	// as a whole argument) are replaced by CommandLine; nothing else is.
	Args []string `json:"args,omitempty"`
	// FileTypes are what the app opens (file_types): file name extensions
	// with their dot (".nii.gz") and MIME types ("image/png"), for "Open
	// with…" and the menu entry's MimeType.
	FileTypes []string `json:"file_types,omitempty"`
	// Env is added to the app container's environment (env).
	Env       map[string]string `json:"env,omitempty"`
	Resources Resources         `json:"resources,omitzero"`
	Placement Placement         `json:"placement,omitzero"`
	// Profiles lists the slugs of the session profiles that may launch the
	// app (profiles); empty means every profile.
	Profiles []string `json:"profiles,omitempty"`
	// Terminal asks for the app to run in a terminal (terminal), as
	// command-line tools do.
	Terminal bool `json:"terminal,omitempty"`
}

// Resources are the app container's requests and limits, as Kubernetes
// quantities kept as written.
type Resources struct {
	CPU    string `json:"cpu,omitempty"`    // e.g. "500m", "2"
	Memory string `json:"memory,omitempty"` // e.g. "4Gi"
	GPU    string `json:"gpu,omitempty"`    // a whole number of GPUs, e.g. "1"
}

// Placement steers the app pod to nodes, for GPUs or large memory.
type Placement struct {
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	// Tolerations are Kubernetes' own, keys and all, so operators can paste
	// one (key, operator, value, effect, tolerationSeconds); the catalog
	// takes the operators Equal (the default when empty) and Exists.
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// The placeholders that Args may hold.
const (
	PlaceholderFile  = "{file}"
	PlaceholderFiles = "{files}"
)

// String is the app's id and version, as in "itksnap 4.4.0".
func (a App) String() string { return a.ID + " " + a.Version }

// Listing is the app as the session catalog lists it: what a menu shows,
// none of what builds its pod (image, command, env, resources, placement,
// profiles), which a session, where any user code runs, has no need to
// read.
func (a App) Listing() sessionapi.CatalogApp {
	return sessionapi.CatalogApp{
		ID: a.ID, Name: a.Name, Version: a.Version, Description: a.Description, Icon: a.Icon,
		Categories: slices.Clone(a.Categories), FileTypes: slices.Clone(a.FileTypes), Terminal: a.Terminal,
	}
}

// AllowedFor reports whether a session of the profile with this slug may
// launch the app.
func (a App) AllowedFor(profile string) bool {
	return len(a.Profiles) == 0 || slices.Contains(a.Profiles, profile)
}

// TakesFiles reports whether Args place the files somewhere; without a
// placeholder CommandLine appends them at the end.
func (a App) TakesFiles() bool {
	for _, arg := range a.Args {
		if strings.Contains(arg, PlaceholderFile) || arg == PlaceholderFiles {
			return true
		}
	}
	return false
}

// FileError is CommandLine's answer to a file it will not pass to an app.
type FileError struct {
	Path   string // the file as given
	Home   string // the user's home directory
	Reason string // e.g. "is outside the home directory /home/jovyan"
}

func (e *FileError) Error() string {
	return fmt.Sprintf("file %q %s", e.Path, e.Reason)
}

// CommandLine returns the argv that runs the app on files: Command, then
// Args with "{file}" replaced by the first file and a "{files}" argument
// replaced by every file, one argument each. An argument holding "{file}"
// is left out when no file is given, and "{files}" then stands for nothing.
// Args without a placeholder get the files appended, as Neurodesk's
// wrappers pass "$@". The argv is executed directly, never through a
// shell, so no quoting is needed or done.
//
// Every file must be an absolute path that, after filepath.Clean, lies
// inside home (the home directory itself included); the cleaned path is
// what the app receives. Anything else is a *FileError. This is a lexical
// check only: it does not resolve symbolic links, so a link inside home
// that points elsewhere passes. That is acceptable because the app pod
// mounts nothing of the user's but the home volume: a link out of it
// leads only to the app image's own files.
func (a App) CommandLine(files []string, home string) ([]string, error) {
	if !filepath.IsAbs(home) {
		return nil, fmt.Errorf("home directory %q is not an absolute path", home)
	}
	home = filepath.Clean(home)
	clean := make([]string, 0, len(files))
	for _, f := range files {
		c, err := checkFile(f, home)
		if err != nil {
			return nil, err
		}
		clean = append(clean, c)
	}
	argv := slices.Clone(a.Command)
	if !a.TakesFiles() {
		return append(append(argv, a.Args...), clean...), nil
	}
	for _, arg := range a.Args {
		switch {
		case arg == PlaceholderFiles:
			argv = append(argv, clean...)
		case strings.Contains(arg, PlaceholderFile):
			if len(clean) > 0 {
				argv = append(argv, strings.ReplaceAll(arg, PlaceholderFile, clean[0]))
			}
		default:
			argv = append(argv, arg)
		}
	}
	return argv, nil
}

func checkFile(f, home string) (string, error) {
	fail := func(reason string) (string, error) {
		return "", &FileError{Path: f, Home: home, Reason: reason}
	}
	switch {
	case f == "":
		return fail("is empty")
	case strings.ContainsRune(f, 0):
		return fail("contains a NUL byte")
	case !filepath.IsAbs(f):
		return fail("is not an absolute path")
	}
	c := filepath.Clean(f)
	if c != home && !strings.HasPrefix(c, home+string(filepath.Separator)) && home != string(filepath.Separator) {
		return fail("is outside the home directory " + home)
	}
	return c, nil
}

// clone returns a deep copy, so callers cannot change a Catalog's apps.
func (a App) clone() App {
	a.Categories = slices.Clone(a.Categories)
	a.Command = slices.Clone(a.Command)
	a.Args = slices.Clone(a.Args)
	a.FileTypes = slices.Clone(a.FileTypes)
	a.Env = maps.Clone(a.Env)
	a.Profiles = slices.Clone(a.Profiles)
	a.Placement.NodeSelector = maps.Clone(a.Placement.NodeSelector)
	if a.Placement.Tolerations != nil {
		ts := make([]corev1.Toleration, len(a.Placement.Tolerations))
		for i := range a.Placement.Tolerations {
			a.Placement.Tolerations[i].DeepCopyInto(&ts[i])
		}
		a.Placement.Tolerations = ts
	}
	return a
}
