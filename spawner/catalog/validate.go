package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
)

// fieldError is one broken rule of an app: the field, as a path such as
// "resources.cpu" or "args[1]", which the YAML decoder turns into a line,
// and the message, which starts with that path.
type fieldError struct {
	field string
	msg   string
}

type checker struct{ errs []fieldError }

func (c *checker) add(field, format string, args ...any) {
	c.addAt(field, field, format, args...)
}

// addAt reports under the name shown but finds the line by path, for
// entries of a mapping ("env" shown, "env.HOME" located).
func (c *checker) addAt(path, shown, format string, args ...any) {
	c.errs = append(c.errs, fieldError{field: path, msg: shown + ": " + fmt.Sprintf(format, args...)})
}

// validate checks an app against the rules that Parse, ImportNeurodesk and
// New share. Type errors are the decoder's; these are the rules on values:
// the session catalog's on the fields a menu shows (sessionapi's
// CatalogApp.Check), and the service's own on the rest. They are reported
// in the order of App's fields.
func validate(a App) []fieldError {
	shown := a.Listing().Check()
	// The image, command and args come before file_types.
	split := slices.IndexFunc(shown, func(e sessionapi.FieldError) bool { return strings.HasPrefix(e.Field, "file_types") })
	if split < 0 {
		split = len(shown)
	}
	c := &checker{}
	c.listed(shown[:split])
	switch {
	case a.Image == "":
		c.add("image", "is required")
	case !imageRef.MatchString(a.Image):
		c.add("image", "%q is not an image reference such as \"vnmd/itksnap_4.4.0:20260117\"", a.Image)
	}
	c.command(a.Command)
	c.args(a.Args)
	c.listed(shown[split:])
	for _, k := range sortedKeys(a.Env) {
		if len(validation.IsEnvVarName(k)) > 0 {
			c.addAt("env."+k, "env", "%q is not a valid variable name (letters, digits, \"_\", \"-\" and \".\", not starting with a digit)", k)
		}
		if strings.ContainsRune(a.Env[k], 0) {
			c.addAt("env."+k, "env", "%s contains a NUL byte", k)
		}
	}
	c.quantity("resources.cpu", a.Resources.CPU, false)
	c.quantity("resources.memory", a.Resources.Memory, true)
	if g := a.Resources.GPU; g != "" {
		if n, err := strconv.Atoi(g); err != nil || n < 0 {
			c.add("resources.gpu", "%q must be a whole number of GPUs", g)
		}
	}
	for _, k := range sortedKeys(a.Placement.NodeSelector) {
		if len(validation.IsQualifiedName(k)) > 0 {
			c.addAt("placement.node_selector."+k, "placement.node_selector", "%q is not a valid label key", k)
		}
		if v := a.Placement.NodeSelector[k]; len(validation.IsValidLabelValue(v)) > 0 {
			c.addAt("placement.node_selector."+k, "placement.node_selector", "%s: %q is not a valid label value", k, v)
		}
	}
	for i, t := range a.Placement.Tolerations {
		c.toleration(fmt.Sprintf("placement.tolerations[%d]", i), t)
	}
	for i, p := range a.Profiles {
		if p == "" || strings.IndexFunc(p, unicode.IsSpace) >= 0 || strings.ContainsRune(p, 0) {
			c.add(fmt.Sprintf("profiles[%d]", i), "%q is not a profile slug", p)
		}
	}
	return c.errs
}

// listed adds the session catalog's findings.
func (c *checker) listed(errs []sessionapi.FieldError) {
	for _, e := range errs {
		c.errs = append(c.errs, fieldError{field: e.Field, msg: e.Message})
	}
}

// placeholder matches what looks like a placeholder; only PlaceholderFile
// and PlaceholderFiles are defined.
var placeholder = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_]*\}`)

func (c *checker) command(cmd []string) {
	switch {
	case cmd == nil:
		c.add("command", "is required")
		return
	case len(cmd) == 0:
		c.add("command", "must not be empty")
		return
	case cmd[0] == "":
		c.add("command[0]", "the program must not be empty")
	}
	for i, arg := range cmd {
		field := fmt.Sprintf("command[%d]", i)
		if strings.ContainsRune(arg, 0) {
			c.add(field, "contains a NUL byte")
			continue
		}
		for _, p := range placeholder.FindAllString(arg, -1) {
			if p == PlaceholderFile || p == PlaceholderFiles {
				c.add(field, "%q holds %s, but file placeholders belong in args", arg, p)
			} else {
				c.add(field, "%q holds the unknown placeholder %s (only {file} and {files} exist, and only in args)", arg, p)
			}
		}
	}
}

func (c *checker) args(args []string) {
	for i, arg := range args {
		field := fmt.Sprintf("args[%d]", i)
		if strings.ContainsRune(arg, 0) {
			c.add(field, "contains a NUL byte")
			continue
		}
		for _, p := range placeholder.FindAllString(arg, -1) {
			switch {
			case p == PlaceholderFiles && arg != PlaceholderFiles:
				c.add(field, "%q: {files} must be an argument of its own", arg)
			case p != PlaceholderFile && p != PlaceholderFiles:
				c.add(field, "%q holds the unknown placeholder %s (only {file} and {files} exist)", arg, p)
			}
		}
	}
}

func (c *checker) quantity(field, s string, bytes bool) {
	if s == "" {
		return
	}
	q, err := resource.ParseQuantity(s)
	switch {
	case err != nil:
		c.add(field, "%q is not a Kubernetes quantity such as \"500m\", \"2\" or \"4Gi\"", s)
	case q.Sign() < 0:
		c.add(field, "%q must not be negative", s)
	case bytes && q.MilliValue()%1000 != 0:
		c.add(field, "%q is a fraction of a byte (\"m\" means milli; did you mean \"Mi\"?)", s)
	}
}

func (c *checker) toleration(field string, t corev1.Toleration) {
	switch t.Operator {
	case "", "Equal":
		if t.Key == "" {
			c.add(field, "an empty key needs operator Exists")
		}
	case "Exists":
		if t.Value != "" {
			c.add(field, "operator Exists takes no value")
		}
	default:
		c.add(field, "operator %q must be Equal or Exists", t.Operator)
	}
	if t.Key != "" && len(validation.IsQualifiedName(t.Key)) > 0 {
		c.add(field, "%q is not a valid label key", t.Key)
	}
	if len(validation.IsValidLabelValue(t.Value)) > 0 {
		c.add(field, "%q is not a valid label value", t.Value)
	}
	switch t.Effect {
	case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		c.add(field, "effect %q must be NoSchedule, PreferNoSchedule or NoExecute", t.Effect)
	}
	if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
		c.add(field, "tolerationSeconds needs effect NoExecute")
	}
}

var (
	// imageRef is the grammar of github.com/distribution/reference: an
	// optional registry host[:port], lower-case path components, and an
	// optional tag and digest.
	imageRef = regexp.MustCompile(`^` +
		`(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?` +
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
		`(?::[\w][\w.-]{0,127})?` +
		`(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`)
)
