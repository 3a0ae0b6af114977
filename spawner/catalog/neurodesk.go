package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"kubedesk.dev/kubedesk/spawner/internal/confparse"
	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// NeurodeskOptions adjust ImportNeurodesk.
type NeurodeskOptions struct {
	// Registry is the image prefix: images are
	// "<Registry>/<container>_<version>:<build date>". Empty means "vnmd"
	// (Docker Hub, where Neurodesk's CI pushes them); a mirror such as
	// "registry.example.org/vnmd" works the same.
	Registry string
	// IncludeShells turns the command-line entries ("<container> <version>"
	// with an empty exec), which open a shell in the tool's image, into
	// terminal apps with the ID "<container>-shell". Without it they are
	// left out, since they have no window of their own.
	IncludeShells bool
	// ShellCommand is what those shell apps run; empty means ["/bin/bash"]
	// (Neurodesk's images are Debian or Ubuntu based).
	ShellCommand []string
	// IconDir, when set, gives each app the icon "<IconDir>/<container>.png",
	// as Neurodesk's neurocommand/neurodesk/icons holds them.
	IconDir string
	// Resources and Profiles are given to every imported app, since
	// apps.json has neither.
	Resources Resources
	Profiles  []string
}

// DefaultNeurodeskRegistry is where Neurodesk's images are.
const DefaultNeurodeskRegistry = "vnmd"

// ShellSuffix ends the IDs of the shell apps that IncludeShells adds.
const ShellSuffix = "-shell"

// ImportNeurodesk reads Neurodesk's application list (neurocommand's
// neurodesk/apps.json): a mapping from container name to
// {"apps": {key: entry}, "categories": [...], "show_in_menu": bool}.
//
// An entry keyed "<exe>GUI-<container> <version>" with a non-empty "exec"
// becomes an app: its ID is the exe, lower-cased ("itksnapGUI-itksnap
// 4.4.0" → "itksnap"; keys without "GUI", such as "code-mne 1.1.1", give
// "code"), its version the tool version from the key, its image
// "vnmd/<container>_<version>:<build date>" where the build date is the
// entry's "version" field, and its Command the exec string split as a
// POSIX shell would split it, without expanding anything (exec strings
// carry arguments, such as "itksnap /MRIcrop-orig.gipl"). Where
// Neurodesk's build_menu.py splits the key at its first "-", this matches
// the container name from the end, since container names may hold "-".
// Entries keyed "<container> <version>" with an empty exec are shells; see
// NeurodeskOptions.IncludeShells. The container's categories become the
// app's. Containers and entries with "show_in_menu": false are left out,
// as Neurodesk's menu leaves them out.
//
// Mistakes are reported as by Parse, with the entry's key as Problem.App,
// and the entry is left out. Unlike Parse, keys this importer does not use
// (apptainer_args, show_in_applist, and whatever Neurodesk adds later) are
// ignored, since the format is another project's; the keys it uses are
// type-checked.
func ImportNeurodesk(data []byte, source string, opts NeurodeskOptions) (*Catalog, []Problem) {
	c := newCatalog()
	if err := checkJSON(data); err != nil {
		line, msg := jsonErrorLine(data, err)
		return c, []Problem{{Source: source, Line: line, Message: "not a Neurodesk apps.json: " + msg}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// Valid JSON that the YAML parser refuses: rare, but never a panic.
		line, msg := yamlErrorLine(err)
		return c, []Problem{{Source: source, Line: line, Message: "not a Neurodesk apps.json: " + msg}}
	}
	if opts.Registry == "" {
		opts.Registry = DefaultNeurodeskRegistry
	}
	opts.Registry = strings.TrimSuffix(opts.Registry, "/")
	if len(opts.ShellCommand) == 0 {
		opts.ShellCommand = []string{"/bin/bash"}
	}
	im := &importer{source: source, opts: opts, catalog: c}
	root := confparse.Deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return c, []Problem{{Source: source, Line: root.Line,
			Message: fmt.Sprintf("apps.json must be a mapping of containers, got %s", confparse.KindName(root))}}
	}
	for _, kv := range im.pairs(root, "") {
		im.container(kv.Key, kv.KeyNode, confparse.Deref(kv.Value))
	}
	return c, im.problems
}

// checkJSON refuses what is not JSON, so YAML's extra syntax never
// sneaks in as Neurodesk data.
func checkJSON(data []byte) error {
	var v any
	return json.Unmarshal(data, &v)
}

func jsonErrorLine(data []byte, err error) (int, string) {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return 1 + strings.Count(string(data[:min(int(syn.Offset), len(data))]), "\n"), syn.Error()
	}
	return 0, err.Error()
}

type importer struct {
	source   string
	opts     NeurodeskOptions
	catalog  *Catalog
	problems []Problem
}

func (im *importer) problem(line int, app, format string, args ...any) {
	im.problems = append(im.problems, Problem{Source: im.source, Line: line, App: app, Message: fmt.Sprintf(format, args...)})
}

// pairs lists a JSON object's members, refusing repeated names.
func (im *importer) pairs(n *yaml.Node, app string) []confparse.Pair {
	var out []confparse.Pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := confparse.Deref(n.Content[i])
		if seen[k.Value] {
			im.problem(k.Line, app, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		out = append(out, confparse.Pair{Key: k.Value, KeyNode: k, Value: n.Content[i+1]})
	}
	return out
}

// neurodeskEntry is one decoded member of a container's "apps".
type neurodeskEntry struct {
	key, exe, toolVersion, buildDate, exec string
	terminal, hidden                       bool
	line                                   int
}

func (im *importer) container(name string, keyNode, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		im.problem(n.Line, name, "a container must be a mapping, got %s", confparse.KindName(n))
		return
	}
	var (
		appsNode   *yaml.Node
		categories []string
		bad        bool
	)
	for _, kv := range im.pairs(n, name) {
		v := confparse.Deref(kv.Value)
		switch kv.Key {
		case "apps":
			if v.Kind != yaml.MappingNode {
				im.problem(v.Line, name, "apps must be a mapping, got %s", confparse.KindName(v))
				bad = true
				continue
			}
			appsNode = v
		case "categories":
			cats, ok := im.strings(v, name, "categories")
			bad = bad || !ok
			categories = cats
		case "show_in_menu":
			show, ok := im.boolean(v, name, "show_in_menu")
			if !ok {
				bad = true
			} else if !show {
				return
			}
		}
	}
	if bad || appsNode == nil {
		return
	}
	first := len(im.problems)
	defer func() {
		slices.SortStableFunc(im.problems[first:], func(a, b Problem) int { return a.Line - b.Line })
	}()
	var entries []neurodeskEntry
	for _, kv := range im.pairs(appsNode, name) {
		if e, ok := im.entry(name, kv.Key, kv.KeyNode, confparse.Deref(kv.Value)); ok {
			entries = append(entries, e)
		}
	}
	// A shell entry may leave out the build date; its GUI sibling of the
	// same tool version has it, and it is the same image.
	dates := map[string]string{}
	for _, e := range entries {
		if e.buildDate != "" && dates[e.toolVersion] == "" {
			dates[e.toolVersion] = e.buildDate
		}
	}
	for _, e := range entries {
		if e.hidden {
			continue
		}
		if e.buildDate == "" {
			e.buildDate = dates[e.toolVersion]
		}
		im.add(name, categories, e)
	}
}

func (im *importer) entry(container, key string, keyNode, n *yaml.Node) (neurodeskEntry, bool) {
	e := neurodeskEntry{key: key, line: keyNode.Line}
	if n.Kind != yaml.MappingNode {
		im.problem(n.Line, key, "an app must be a mapping, got %s", confparse.KindName(n))
		return e, false
	}
	ok := true
	for _, kv := range im.pairs(n, key) {
		v := confparse.Deref(kv.Value)
		var good bool
		switch kv.Key {
		case "version":
			e.buildDate, good = im.scalar(v, key, "version")
		case "exec":
			e.exec, good = im.scalar(v, key, "exec")
		case "terminal":
			e.terminal, good = im.boolean(v, key, "terminal")
		case "show_in_menu":
			var show bool
			show, good = im.boolean(v, key, "show_in_menu")
			e.hidden = !show
		default:
			good = true
		}
		ok = ok && good
	}
	cut := strings.LastIndexByte(key, ' ')
	if cut <= 0 || cut == len(key)-1 {
		im.problem(e.line, key, "the key must be \"<exe>GUI-<container> <version>\" or \"<container> <version>\"")
		return e, false
	}
	names, version := key[:cut], key[cut+1:]
	e.toolVersion = version
	shell := strings.TrimSpace(e.exec) == ""
	// build_menu.py splits the name at its first "-"; container names
	// may hold "-" too ("neurodesktop-lite"), so match the container
	// from the end instead.
	switch {
	case names == container:
	case strings.HasSuffix(names, "-"+container):
		e.exe = strings.TrimSuffix(strings.TrimSuffix(names, "-"+container), "GUI")
	case shell && !im.opts.IncludeShells:
		// A shell that is left out anyway: not worth a problem.
		e.hidden = true
		return e, ok
	default:
		im.problem(e.line, key, "the key names the container %q, but the entry is under %q", names, container)
		return e, false
	}
	switch {
	case shell && e.exe != "":
		im.problem(e.line, key, "a GUI entry needs an exec")
		return e, false
	case shell && !im.opts.IncludeShells:
		e.hidden = true
	case !shell && e.exe == "":
		// An exec without an exe in the key: the container names the app.
		e.exe = container
	}
	return e, ok
}

func (im *importer) add(container string, categories []string, e neurodeskEntry) {
	a := App{
		Version:    e.toolVersion,
		Categories: slices.Clone(categories),
		Terminal:   e.terminal,
		Resources:  im.opts.Resources,
		Profiles:   slices.Clone(im.opts.Profiles),
	}
	if e.exec == "" {
		if !im.opts.IncludeShells {
			return
		}
		a.ID = neurodeskID(container) + ShellSuffix
		a.Name = container + " shell"
		a.Command = slices.Clone(im.opts.ShellCommand)
		a.Terminal = true
		a.Description = fmt.Sprintf("A shell in the Neurodesk container %s %s", container, e.toolVersion)
	} else {
		words, err := splitWords(e.exec)
		if err != nil {
			im.problem(e.line, e.key, "exec %q: %v", e.exec, err)
			return
		}
		if words == nil {
			words = []string{}
		}
		a.ID = neurodeskID(e.exe)
		a.Name = e.exe
		a.Command = words
		a.Description = fmt.Sprintf("%s from the Neurodesk container %s %s", e.exe, container, e.toolVersion)
	}
	if e.buildDate == "" {
		im.problem(e.line, e.key, "version (the build date, which is the image tag) is required")
		return
	}
	a.Image = fmt.Sprintf("%s/%s_%s:%s", im.opts.Registry, container, e.toolVersion, e.buildDate)
	if im.opts.IconDir != "" {
		a.Icon = strings.TrimSuffix(im.opts.IconDir, "/") + "/" + container + ".png"
	}
	if errs := validate(a); len(errs) > 0 {
		for _, fe := range errs {
			im.problem(e.line, e.key, "%s", fe.msg)
		}
		return
	}
	if prev, ok := im.catalog.add(a, origin{source: im.source, line: e.line}); !ok {
		im.problem(e.line, e.key, "%s is also defined at line %d; this entry is skipped", a, prev.line)
	}
}

// neurodeskID makes a kubedesk ID of an exe or container name: lower case,
// with runs of other characters than letters and digits turned into "-".
func neurodeskID(name string) string {
	return sessionapi.Slug(name)
}

func (im *importer) scalar(n *yaml.Node, app, field string) (string, bool) {
	if confparse.IsNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		im.problem(n.Line, app, "%s must be a string, got %s", field, confparse.KindName(n))
		return "", false
	}
	return n.Value, true
}

func (im *importer) boolean(n *yaml.Node, app, field string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		im.problem(n.Line, app, "%s must be true or false, got %s", field, confparse.KindName(n))
		return false, false
	}
	return b, true
}

func (im *importer) strings(n *yaml.Node, app, field string) ([]string, bool) {
	if confparse.IsNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		im.problem(n.Line, app, "%s must be a list of strings, got %s", field, confparse.KindName(n))
		return nil, false
	}
	var out []string
	for _, item := range n.Content {
		s, ok := im.scalar(confparse.Deref(item), app, field)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
