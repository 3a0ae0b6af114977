package confparse

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestPairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		doc      string
		under    string   // the mapping under test is this key's value; "": the document
		want     []string // the entries in order, as key=value
		problems []string // as reported: "line N: message"
	}{
		{"in order", "b: 1\na: 2\n", "", []string{"b=1", "a=2"}, nil},
		{"duplicate key refused, first kept", "a: 1\nb: 2\na: 3\n", "", []string{"a=1", "b=2"}, []string{`line 3: duplicate key "a"`}},
		{"merged after own keys, never over them", "base: &b {x: 1, y: 2}\nm:\n  y: 9\n  <<: *b\n", "m", []string{"y=9", "x=1"}, nil},
		{"merge of a list of mappings", "m:\n  <<: [{x: 1}, {y: 2}]\n", "m", []string{"x=1", "y=2"}, nil},
		{"merge of a scalar refused", "m:\n  <<: 5\n  a: 1\n", "m", []string{"a=1"}, []string{`line 2: << must merge a mapping, got "5"`}},
		{"key that is not a string refused", "? [a, b]\n: 1\nc: 2\n", "", []string{"c=2"}, []string{"line 1: keys must be strings, got a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var doc yaml.Node
			require.NoError(t, yaml.Unmarshal([]byte(tt.doc), &doc))
			n := Deref(&doc)
			if tt.under != "" {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == tt.under {
						n = n.Content[i+1]
					}
				}
			}
			var problems []string
			pairs := Pairs(n, func(at *yaml.Node, msg string) { problems = append(problems, fmt.Sprintf("line %d: %s", at.Line, msg)) })
			var got []string
			for _, p := range pairs {
				got = append(got, p.Key+"="+Deref(p.Value).Value)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.problems, problems)
		})
	}
}

func TestKindName(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{"{a: 1}": "a mapping", "[1]": "a list", "~": "null", "null": "null", "cpu": `"cpu"`, "'~'": `"~"`} {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(doc), &n))
		assert.Equal(t, want, KindName(Deref(&n)), doc)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	known := []string{"command", "cpu_limit", "cpu_guarantee", "image"}
	assert.Equal(t, ` (did you mean "command"?)`, Suggest("comand", known))
	assert.Equal(t, ` (did you mean "cpu_limit"?)`, Suggest("cpu_limt", known))
	assert.Equal(t, "", Suggest("memory", known), "nothing within two edits")
	assert.Equal(t, 3, EditDistance("kitten", "sitting"))
	assert.Equal(t, 0, EditDistance("", ""))
}
