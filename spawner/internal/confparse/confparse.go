// Package confparse holds what the two files operators write by hand, the
// app catalog (spawner/catalog) and the spawner's profiles
// (spawner/internal/profile), need to be read strictly and to report their
// mistakes well: a YAML mapping's entries in order, with duplicate keys
// refused and "<<" merges expanded; how to name a node in a message; a
// "did you mean" for misspelt keys.
//
// Only the service reads those files, so it is the service's: the launcher
// agent gets its session's catalog over the session API, already parsed.
// Both formats use it so that they report alike.
package confparse

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Pair is one entry of a YAML mapping.
type Pair struct {
	Key     string
	KeyNode *yaml.Node
	Value   *yaml.Node
}

// Report receives a problem of a mapping and the node it is about.
type Report func(at *yaml.Node, msg string)

// Pairs lists the entries of mapping n in order. A duplicate key (a likely
// copy-paste slip that YAML would otherwise resolve silently), a key that
// is not a string and a "<<" that merges no mapping are reported and
// skipped. Merged entries ("<<: *shared", which operators use to share
// resources, tolerations and the like) come after the mapping's own and
// never override them.
func Pairs(n *yaml.Node, report Report) []Pair {
	var out, merged []Pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Deref(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			src := Deref(v)
			sources := []*yaml.Node{src}
			if src.Kind == yaml.SequenceNode {
				sources = src.Content
			}
			for _, s := range sources {
				if s = Deref(s); s.Kind != yaml.MappingNode {
					report(s, "<< must merge a mapping, got "+KindName(s))
					continue
				}
				merged = append(merged, Pairs(s, report)...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			report(k, "keys must be strings, got "+KindName(k))
			continue
		}
		if seen[k.Value] {
			report(k, fmt.Sprintf("duplicate key %q", k.Value))
			continue
		}
		seen[k.Value] = true
		out = append(out, Pair{Key: k.Value, KeyNode: k, Value: v})
	}
	for _, p := range merged {
		if !seen[p.Key] {
			seen[p.Key] = true
			out = append(out, p)
		}
	}
	return out
}

// Deref follows aliases and unwraps a document to its content.
func Deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return Deref(n.Content[0])
	}
	return n
}

// IsNull reports whether n is YAML's null (~, null, or nothing).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// KindName names a node for a message: "a mapping", "a list", "null", or
// a scalar's value in quotes.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

// Suggest is " (did you mean "x"?)" for the known key closest to key, for
// typos such as "comand" or "cpu_limt", or "" when none is within two
// edits.
func Suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := EditDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// EditDistance is the Levenshtein distance between a and b, in bytes.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
