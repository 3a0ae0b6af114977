// Package notebooks holds example notebooks; its test keeps them valid and
// in step with the demo's catalog (a new user's home gets them).
package notebooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"sigs.k8s.io/yaml"

	"kubedesk.dev/kubedesk/spawner/catalog"
)

// notebook is the part of nbformat 4 the examples use.
type notebook struct {
	NBFormat int `json:"nbformat"`
	Cells    []struct {
		CellType string          `json:"cell_type"`
		Source   json.RawMessage `json:"source"`
	} `json:"cells"`
}

// source reads a cell's source, which nbformat allows as a string or a list
// of lines.
func source(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var lines []string
	_ = json.Unmarshal(raw, &lines)
	return strings.Join(lines, "")
}

// launchCall is a launch of an app in a code cell: the notebook client's
// launch("app", …) or the launch command (!launch app …).
var launchCall = regexp.MustCompile(`(?m)(?:\blaunch\(\s*"|^!launch\s+)([a-z0-9][a-z0-9-]*)`)

// refusedApp names the apps a notebook launches to show a refusal: they
// must stay out of the catalog.
const refusedApp = "no-such-"

// demoCatalog is the catalog of the demo, whose sessions get these
// notebooks: sessions.catalog of examples/demo/values.yaml.
func demoCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "demo", "values.yaml"))
	require.NoError(t, err)
	var values struct {
		Sessions struct {
			Catalog []any `json:"catalog"`
		} `json:"sessions"`
	}
	require.NoError(t, yaml.Unmarshal(data, &values))
	list, err := yaml.Marshal(values.Sessions.Catalog)
	require.NoError(t, err)
	cat, problems := catalog.Parse(list, "examples/demo/values.yaml")
	require.Empty(t, problems)
	require.Positive(t, cat.Len())
	return cat
}

func TestNotebooksLaunchCatalogApps(t *testing.T) {
	cat := demoCatalog(t)
	files, err := filepath.Glob("*.ipynb")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var nb notebook
		require.NoError(t, json.Unmarshal(data, &nb), f)
		assert.Equal(t, 4, nb.NBFormat, f)
		launched := 0
		for _, c := range nb.Cells {
			if c.CellType != "code" {
				continue
			}
			for _, m := range launchCall.FindAllStringSubmatch(source(c.Source), -1) {
				_, err := cat.Lookup(m[1], "")
				if strings.HasPrefix(m[1], refusedApp) {
					assert.Error(t, err, "%s shows a refusal with %q, which the demo's catalog has", f, m[1])
					continue
				}
				launched++
				assert.NoError(t, err, "%s launches %q, which the demo's catalog lacks", f, m[1])
			}
		}
		assert.Positive(t, launched, "%s launches no app", f)
	}
}
