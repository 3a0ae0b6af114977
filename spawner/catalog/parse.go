package catalog

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"kubedesk.dev/kubedesk/spawner/internal/confparse"
)

// Load reads and parses a catalog file; see Parse. A file that cannot be
// read is one Problem and an empty catalog.
func Load(path string) (*Catalog, []Problem) {
	data, err := os.ReadFile(path)
	if err != nil {
		return newCatalog(), []Problem{{Source: path, Message: "read catalog: " + err.Error()}}
	}
	return Parse(data, path)
}

// Parse reads kubedesk's catalog YAML (JSON works too): either a list of
// apps, each with its id, or a mapping from id to one app or to a list of
// its versions. Every mistake is a Problem naming the source, line and
// entry, and an entry with any mistake is left out while the others are
// loaded: a typo in one app never takes the others, the agent or the
// service down. Input that is not YAML at all is one Problem and an empty
// catalog. Unknown keys, values of the wrong type, a missing image or
// command, an invalid id or version, a bad quantity, a malformed command
// and a repeated id and version are all mistakes; see validate.go for the
// rules. The catalog is never nil.
func Parse(data []byte, source string) (*Catalog, []Problem) {
	c := newCatalog()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		return c, []Problem{{Source: source, Line: line, Message: "not a YAML catalog: " + msg}}
	}
	if len(doc.Content) == 0 {
		return c, nil
	}
	p := &parser{source: source, catalog: c}
	root := confparse.Deref(doc.Content[0])
	switch {
	case confparse.IsNull(root):
	case root.Kind == yaml.SequenceNode:
		for _, item := range root.Content {
			p.entry(item, "")
		}
	case root.Kind == yaml.MappingNode:
		p.byID(root)
	default:
		p.problems = append(p.problems, Problem{Source: source, Line: root.Line,
			Message: fmt.Sprintf("a catalog must be a list or a mapping of apps, got %s", confparse.KindName(root))})
	}
	return c, p.problems
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

type parser struct {
	source   string
	catalog  *Catalog
	index    int // entries seen, for labels of entries without an id
	problems []Problem
}

// byID reads the mapping form: id → app, or id → list of versions.
func (p *parser) byID(n *yaml.Node) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := confparse.Deref(n.Content[i]), confparse.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			p.problems = append(p.problems, Problem{Source: p.source, Line: k.Line,
				Message: fmt.Sprintf("keys of the catalog must be app ids, got %s", confparse.KindName(k))})
			continue
		}
		if seen[k.Value] {
			p.problems = append(p.problems, Problem{Source: p.source, Line: k.Line, App: k.Value,
				Message: "duplicate key; list the versions of one app under one key"})
			continue
		}
		seen[k.Value] = true
		if v.Kind == yaml.SequenceNode {
			for _, item := range v.Content {
				p.entry(item, k.Value)
			}
			continue
		}
		p.entry(v, k.Value)
	}
}

var (
	appKeys        = []string{"id", "name", "version", "description", "icon", "categories", "image", "command", "args", "file_types", "env", "resources", "placement", "profiles", "terminal"}
	resourceKeys   = []string{"cpu", "memory", "gpu"}
	placementKeys  = []string{"node_selector", "tolerations"}
	tolerationKeys = []string{"key", "operator", "value", "effect", "tolerationSeconds"}
)

// entry decodes one app and adds it to the catalog if it has no mistake.
// key is the id it is listed under in the mapping form.
func (p *parser) entry(n *yaml.Node, key string) {
	index := p.index
	p.index++
	n = confparse.Deref(n)
	d := &entryDecoder{lines: map[string]int{}}
	var a App
	if n.Kind != yaml.MappingNode {
		p.problems = append(p.problems, Problem{Source: p.source, Line: n.Line, App: entryLabel(key, "", index),
			Message: fmt.Sprintf("an app must be a mapping, got %s", confparse.KindName(n))})
		return
	}
	a.ID = key
	pairs := d.pairs(n, "")
	for _, kv := range pairs {
		d.lines[kv.Key] = kv.KeyNode.Line
		switch kv.Key {
		case "id":
			if id := d.str(kv.Value, "id"); key != "" && id != key {
				d.errorf("id", "%q differs from the key %q it is listed under", id, key)
			} else {
				a.ID = id
			}
		case "name":
			a.Name = d.str(kv.Value, kv.Key)
		case "version":
			a.Version = d.str(kv.Value, kv.Key)
		case "description":
			a.Description = d.str(kv.Value, kv.Key)
		case "icon":
			a.Icon = d.str(kv.Value, kv.Key)
		case "categories":
			a.Categories = d.strs(kv.Value, kv.Key)
		case "image":
			a.Image = d.str(kv.Value, kv.Key)
		case "command":
			a.Command = d.strs(kv.Value, kv.Key)
			if a.Command == nil && !d.failed(kv.Key) {
				a.Command = []string{}
			}
		case "args":
			a.Args = d.strs(kv.Value, kv.Key)
		case "file_types":
			a.FileTypes = d.strs(kv.Value, kv.Key)
		case "env":
			a.Env = d.strMap(kv.Value, kv.Key)
		case "resources":
			a.Resources = d.resources(kv.Value)
		case "placement":
			a.Placement = d.placement(kv.Value)
		case "profiles":
			a.Profiles = d.strs(kv.Value, kv.Key)
		case "terminal":
			a.Terminal = d.boolean(kv.Value, kv.Key)
		default:
			d.errorfAt(kv.KeyNode.Line, "unknown key %q%s", kv.Key, confparse.Suggest(kv.Key, appKeys))
		}
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	label := entryLabel(a.ID, a.Version, index)
	report := func(field string, line int, msg string) {
		if line == 0 {
			line = d.line(field, n.Line)
		}
		p.problems = append(p.problems, Problem{Source: p.source, Line: line, App: label, Message: msg})
	}
	for _, e := range d.errs {
		report(e.field, e.line, e.msg)
	}
	if len(d.errs) > 0 {
		return
	}
	if errs := validate(a); len(errs) > 0 {
		for _, e := range errs {
			report(e.field, 0, e.msg)
		}
		return
	}
	if prev, ok := p.catalog.add(a, origin{source: p.source, line: n.Line}); !ok {
		report("", n.Line, fmt.Sprintf("duplicate of the entry at line %d; this one is skipped", prev.line))
	}
}

// entryDecoder walks one app's YAML nodes by hand, rather than decoding
// into the struct, to name the location of every mistake and to collect
// all of them.
type entryDecoder struct {
	lines map[string]int // field path → line, for validate's messages
	errs  []decodeError
}

type decodeError struct {
	field string
	line  int
	msg   string
}

func (d *entryDecoder) errorf(field, format string, args ...any) {
	d.errs = append(d.errs, decodeError{field: field, msg: field + ": " + fmt.Sprintf(format, args...)})
}

func (d *entryDecoder) errorfAt(line int, format string, args ...any) {
	d.errs = append(d.errs, decodeError{line: line, msg: fmt.Sprintf(format, args...)})
}

func (d *entryDecoder) failed(field string) bool {
	return slices.ContainsFunc(d.errs, func(e decodeError) bool { return e.field == field })
}

// line finds the line of a field path, trying "resources.cpu", then
// "resources"; "args[1]", then "args".
func (d *entryDecoder) line(field string, fallback int) int {
	for field != "" {
		if l, ok := d.lines[field]; ok {
			return l
		}
		cut := strings.LastIndexAny(field, ".[")
		if cut < 0 {
			break
		}
		field = field[:cut]
	}
	return fallback
}

func (d *entryDecoder) str(n *yaml.Node, field string) string {
	n = confparse.Deref(n)
	d.lines[field] = n.Line
	if confparse.IsNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(field, "must be a string, got %s", confparse.KindName(n))
		return ""
	}
	// Numbers and booleans are kept as written: version: 4.4 is "4.4".
	return n.Value
}

func (d *entryDecoder) strs(n *yaml.Node, field string) []string {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(field, "must be a list of strings, got %s", confparse.KindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		out = append(out, d.str(item, fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}

func (d *entryDecoder) strMap(n *yaml.Node, field string) map[string]string {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(field, "must be a mapping of strings, got %s", confparse.KindName(n))
		return nil
	}
	out := map[string]string{}
	for _, kv := range d.pairs(n, field) {
		out[kv.Key] = d.str(kv.Value, field+"."+kv.Key)
	}
	return out
}

func (d *entryDecoder) boolean(n *yaml.Node, field string) bool {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.errorf(field, "must be true or false, got %s", confparse.KindName(n))
		return false
	}
	return b
}

func (d *entryDecoder) mapping(n *yaml.Node, field string) []confparse.Pair {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(field, "must be a mapping, got %s", confparse.KindName(n))
		return nil
	}
	return d.pairs(n, field)
}

func (d *entryDecoder) resources(n *yaml.Node) Resources {
	var r Resources
	for _, kv := range d.mapping(n, "resources") {
		field := "resources." + kv.Key
		d.lines[field] = kv.KeyNode.Line
		switch kv.Key {
		case "cpu":
			r.CPU = d.str(kv.Value, field)
		case "memory":
			r.Memory = d.str(kv.Value, field)
		case "gpu":
			r.GPU = d.str(kv.Value, field)
		default:
			d.errorfAt(kv.KeyNode.Line, "resources: unknown key %q%s", kv.Key, confparse.Suggest(kv.Key, resourceKeys))
		}
	}
	return r
}

func (d *entryDecoder) placement(n *yaml.Node) Placement {
	var p Placement
	for _, kv := range d.mapping(n, "placement") {
		field := "placement." + kv.Key
		d.lines[field] = kv.KeyNode.Line
		switch kv.Key {
		case "node_selector":
			p.NodeSelector = d.strMap(kv.Value, field)
		case "tolerations":
			p.Tolerations = d.tolerations(kv.Value, field)
		default:
			d.errorfAt(kv.KeyNode.Line, "placement: unknown key %q%s", kv.Key, confparse.Suggest(kv.Key, placementKeys))
		}
	}
	return p
}

func (d *entryDecoder) tolerations(n *yaml.Node, field string) []corev1.Toleration {
	n = confparse.Deref(n)
	if confparse.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(field, "must be a list, got %s", confparse.KindName(n))
		return nil
	}
	var out []corev1.Toleration
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		d.lines[f] = confparse.Deref(item).Line
		var t corev1.Toleration
		for _, kv := range d.mapping(item, f) {
			switch kv.Key {
			case "key":
				t.Key = d.str(kv.Value, f+".key")
			case "operator":
				t.Operator = corev1.TolerationOperator(d.str(kv.Value, f+".operator"))
			case "value":
				t.Value = d.str(kv.Value, f+".value")
			case "effect":
				t.Effect = corev1.TaintEffect(d.str(kv.Value, f+".effect"))
			case "tolerationSeconds":
				v := confparse.Deref(kv.Value)
				var s int64
				if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&s) != nil {
					d.errorf(f+".tolerationSeconds", "must be a whole number of seconds, got %s", confparse.KindName(v))
					continue
				}
				t.TolerationSeconds = &s
			default:
				d.errorfAt(kv.KeyNode.Line, "%s: unknown key %q%s", f, kv.Key, confparse.Suggest(kv.Key, tolerationKeys))
			}
		}
		out = append(out, t)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pairs lists a mapping's entries (confparse.Pairs), reporting its problems
// at their lines under field.
func (d *entryDecoder) pairs(n *yaml.Node, field string) []confparse.Pair {
	prefix := ""
	if field != "" {
		prefix = field + ": "
	}
	return confparse.Pairs(n, func(at *yaml.Node, msg string) { d.errorfAt(at.Line, "%s%s", prefix, msg) })
}
