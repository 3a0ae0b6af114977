package catalog

import (
	"fmt"
	"strings"
)

// Problem is one mistake found while loading a catalog. The entry it names
// was left out of the catalog; the rest of the file was still loaded.
type Problem struct {
	// Source names the input, as given to Parse or ImportNeurodesk (usually
	// the file's path).
	Source string `json:"source,omitempty"`
	// Line is the 1-based line of the mistake, 0 when unknown.
	Line int `json:"line,omitempty"`
	// App names the entry: its id and version ("itksnap 4.4.0") where
	// known, Neurodesk's key for an imported entry, else its position
	// ("entry 3"); empty for a problem with the whole input.
	App string `json:"app,omitempty"`
	// Message says what is wrong, naming the field ("resources.cpu: ...").
	// Its text is part of the package's contract and covered by tests.
	Message string `json:"message"`
}

// Error formats the problem as "source:line: app: message", leaving out
// the parts that are unknown.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Source != "" {
		b.WriteString(p.Source)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.App != "" {
		b.WriteString(p.App)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// entryLabel is Problem.App for an entry of kubedesk's YAML.
func entryLabel(id, version string, index int) string {
	switch {
	case id != "" && version != "":
		return id + " " + version
	case id != "":
		return id
	}
	return fmt.Sprintf("entry %d", index+1)
}
