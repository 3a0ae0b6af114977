package sessionapitest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is what the checks read of an OpenAPI 3.0 document.
type Doc struct {
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths      map[string]*PathItem `yaml:"paths"`
	Components struct {
		Schemas       map[string]*Schema      `yaml:"schemas"`
		Responses     map[string]*Response    `yaml:"responses"`
		RequestBodies map[string]*RequestBody `yaml:"requestBodies"`
	} `yaml:"components"`
}

// PathItem is one path's operations.
type PathItem struct {
	Get    *Operation `yaml:"get"`
	Post   *Operation `yaml:"post"`
	Put    *Operation `yaml:"put"`
	Patch  *Operation `yaml:"patch"`
	Delete *Operation `yaml:"delete"`
}

// Operation is one method of a path.
type Operation struct {
	ID          string               `yaml:"operationId"`
	RequestBody *RequestBody         `yaml:"requestBody"`
	Responses   map[string]*Response `yaml:"responses"`
}

// RequestBody is an operation's request body, or a $ref to one.
type RequestBody struct {
	Ref      string               `yaml:"$ref"`
	Required bool                 `yaml:"required"`
	Content  map[string]MediaType `yaml:"content"`
}

// Response is one status's response, or a $ref to one. No Content means
// an empty body.
type Response struct {
	Ref     string               `yaml:"$ref"`
	Content map[string]MediaType `yaml:"content"`
}

// MediaType is a body's schema for one media type.
type MediaType struct {
	Schema *Schema `yaml:"schema"`
}

// Schema is an OpenAPI schema, or a $ref to one. The keywords it has no
// field for land in Other; a check that meets one it does not know says
// so rather than pass what it did not look at.
type Schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 string             `yaml:"type"`
	Format               string             `yaml:"format"`
	Enum                 []string           `yaml:"enum"`
	Required             []string           `yaml:"required"`
	Properties           map[string]*Schema `yaml:"properties"`
	AdditionalProperties *Additional        `yaml:"additionalProperties"`
	Items                *Schema            `yaml:"items"`
	AnyOf                []*Schema          `yaml:"anyOf"`
	Nullable             bool               `yaml:"nullable"`
	Pattern              string             `yaml:"pattern"`
	MinLength            *int               `yaml:"minLength"`
	MaxLength            *int               `yaml:"maxLength"`
	MaxItems             *int               `yaml:"maxItems"`
	Minimum              *float64           `yaml:"minimum"`
	Maximum              *float64           `yaml:"maximum"`
	Description          string             `yaml:"description"`
	Other                map[string]any     `yaml:",inline"`
}

// Additional is additionalProperties: false, true, or a schema the other
// properties' values match. Left out, other properties are allowed.
type Additional struct {
	Allowed bool
	Schema  *Schema
}

// UnmarshalYAML reads a boolean or a schema.
func (a *Additional) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&a.Allowed)
	}
	a.Allowed, a.Schema = true, new(Schema)
	return n.Decode(a.Schema)
}

// Parse reads an OpenAPI document (openapi.yaml's bytes).
func Parse(data []byte) (*Doc, error) {
	var d Doc
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	if len(d.Servers) != 1 || len(d.Paths) == 0 {
		return nil, fmt.Errorf("openapi: want one server and some paths, have %d servers and %d paths", len(d.Servers), len(d.Paths))
	}
	return &d, nil
}

// path is where openapi.yaml lies in the repository.
const path = "spawner/internal/api/openapi.yaml"

// load reads the repository's openapi.yaml, found upwards from the working
// directory (go test runs in the package's folder).
func load() (*Doc, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			data, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				return nil, err
			}
			return Parse(data)
		}
		up := filepath.Dir(dir)
		if up == dir {
			return nil, fmt.Errorf("no go.mod above the working directory, so no %s", path)
		}
		dir = up
	}
}

// Operation finds the operation of method on path (a request's escaped
// path, with the server's /api/v1), and the path template it matched.
func (d *Doc) Operation(method, path string) (*Operation, string) {
	rest, ok := strings.CutPrefix(path, d.Servers[0].URL)
	if !ok {
		return nil, ""
	}
	for tmpl, item := range d.Paths {
		if !matches(tmpl, rest) {
			continue
		}
		op := map[string]*Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete}[method]
		return op, tmpl
	}
	return nil, ""
}

// matches says whether path fits tmpl, each {param} one non-empty segment.
func matches(tmpl, path string) bool {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if ps[i] == "" {
				return false
			}
		} else if t != ps[i] {
			return false
		}
	}
	return true
}

// schema resolves a #/components/schemas/ reference.
func (d *Doc) schema(s *Schema) (*Schema, error) {
	if s.Ref == "" {
		return s, nil
	}
	name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
	if r := d.Components.Schemas[name]; ok && r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("openapi.yaml has no schema %s", s.Ref)
}

// Response is the documented response of op for status, references
// resolved, or nil.
func (d *Doc) Response(op *Operation, status int) *Response {
	r := op.Responses[fmt.Sprint(status)]
	if r == nil {
		r = op.Responses["default"]
	}
	if r != nil && r.Ref != "" {
		r = d.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	return r
}

// Body is op's request body, references resolved, or nil.
func (d *Doc) Body(op *Operation) *RequestBody {
	b := op.RequestBody
	if b != nil && b.Ref != "" {
		b = d.Components.RequestBodies[strings.TrimPrefix(b.Ref, "#/components/requestBodies/")]
	}
	return b
}
