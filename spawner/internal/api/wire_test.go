package api

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/sessionapi"
	"kubedesk.dev/kubedesk/spawner/sessionapi/sessionapitest"
)

// TestOpenAPIMatchesWireTypes keeps openapi.yaml and the session API's
// wire types (spawner/sessionapi), which the service encodes and the agent
// decodes, in step: each schema has exactly the JSON fields of its type,
// each of the documented kind, and requires exactly the fields that are
// always sent (those without omitempty). It reads openapi.yaml as the
// fakes' check does (sessionapitest.Parse).
func TestOpenAPIMatchesWireTypes(t *testing.T) {
	t.Parallel()
	doc, err := sessionapitest.Parse(OpenAPI)
	require.NoError(t, err)
	schemas := doc.Components.Schemas
	for name, v := range map[string]any{
		"CatalogApp":    sessionapi.CatalogApp{},
		"LaunchRequest": sessionapi.LaunchRequest{},
		"App":           sessionapi.App{},
		"Error":         sessionapi.Error{},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, schemas, name)
			matchSchema(t, name, schemas[name], reflect.TypeOf(v), schemas)
		})
	}

	statuses := []string{}
	for _, s := range []sessionapi.Status{sessionapi.StatusStarting, sessionapi.StatusRunning, sessionapi.StatusStopping, sessionapi.StatusEnded, sessionapi.StatusFailed} {
		statuses = append(statuses, string(s))
	}
	assert.Equal(t, statuses, schemas["App"].Properties["status"].Enum, "App.status lists sessionapi's statuses")
}

var timeType = reflect.TypeFor[time.Time]()

// matchSchema holds the Go type typ against s, at path (for messages).
func matchSchema(t *testing.T, path string, s *sessionapitest.Schema, typ reflect.Type, schemas map[string]*sessionapitest.Schema) {
	t.Helper()
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		require.Contains(t, schemas, name, "%s: $ref %s", path, s.Ref)
		s = schemas[name]
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	kind := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean", reflect.Slice: "array", reflect.Struct: "object",
		reflect.Int: "integer", reflect.Int32: "integer", reflect.Int64: "integer",
	}[typ.Kind()]
	if typ == timeType {
		assert.Equal(t, "string", s.Type, "%s: a time", path)
		assert.Equal(t, "date-time", s.Format, "%s: a time", path)
		return
	}
	require.NotEmpty(t, kind, "%s: the test knows no schema type for Go's %s", path, typ)
	assert.Equal(t, kind, s.Type, "%s: the schema's type, for Go's %s", path, typ)
	switch typ.Kind() {
	case reflect.Int32:
		assert.Equal(t, "int32", s.Format, "%s: a 32-bit integer", path)
	case reflect.Slice:
		require.NotNil(t, s.Items, "%s: an array without items", path)
		matchSchema(t, path+"[]", s.Items, typ.Elem(), schemas)
	case reflect.Struct:
		var fields, required []string
		for f := range typ.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields = append(fields, name)
			omitted := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
			if !omitted {
				required = append(required, name)
			}
			if p, ok := s.Properties[name]; ok {
				matchSchema(t, path+"."+name, p, f.Type, schemas)
			}
		}
		var documented []string
		for name := range s.Properties {
			documented = append(documented, name)
		}
		slices.Sort(fields)
		slices.Sort(documented)
		assert.Equal(t, fields, documented, "%s: the JSON fields of %s and the schema's properties", path, typ)
		slices.Sort(required)
		assert.Equal(t, required, slices.Sorted(slices.Values(s.Required)), "%s: the fields %s always sends and the schema's required", path, typ)
	}
}
