package sessionapitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// errorsOf is a testing.TB that keeps what Checked reports.
type errorsOf struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (e *errorsOf) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

func (e *errorsOf) Helper() {}

const app = `{"id":"x-1","app":"x","version":"1","status":"running","pod":"app-x-1","started_at":"2026-01-02T03:04:05Z"`

// TestChecked: what a fake may send passes; what the service would never
// send, or a request it would never be sent, is reported.
func TestChecked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path, request string
		status                      int
		contentType, body           string
		want                        string // in the report; "" for none
	}{
		{"a catalog", "GET", "/api/v1/session/catalog", "", 200, "application/json", `[{"id":"x","name":"X","version":"1","terminal":true}]`, ""},
		{"an app", "GET", "/api/v1/session/apps/x-1", "", 200, "application/json; charset=utf-8", app + `,"xpra":{"host":"10.0.0.1","port":14500}}`, ""},
		{"a stop", "DELETE", "/api/v1/session/apps/x-1", "", 204, "", "", ""},
		{"an error", "POST", "/api/v1/session/apps", `{"app":"y"}`, 404, "application/json", `{"code":"unknown_app","message":"No app y."}`, ""},
		{"a field the catalog does not have", "GET", "/api/v1/session/catalog", "", 200, "application/json", `[{"id":"x","name":"X","version":"1","image":"evil"}]`, "does not match"},
		{"a required field left out", "GET", "/api/v1/session/apps/x-1", "", 200, "application/json", `{"id":"x-1","app":"x","version":"1","status":"running","started_at":"2026-01-02T03:04:05Z"}`, "does not match"},
		{"a status the service has not", "GET", "/api/v1/session/apps", "", 200, "application/json", `[` + strings.Replace(app, "running", "sleeping", 1) + `}]`, "does not match"},
		{"a time that is not one", "GET", "/api/v1/session/apps/x-1", "", 200, "application/json", strings.Replace(app, "2026-01-02T03:04:05Z", "yesterday", 1) + `}`, "does not match"},
		{"a port past int32", "GET", "/api/v1/session/apps/x-1", "", 200, "application/json", app + `,"xpra":{"host":"h","port":4294967296}}`, "does not match"},
		{"a status the route does not answer", "DELETE", "/api/v1/session/apps/x-1", "", 200, "", "", "does not document"},
		{"a body where none is documented", "DELETE", "/api/v1/session/apps/x-1", "", 204, "application/json", `{}`, "documents none"},
		{"a media type not documented", "GET", "/api/v1/session/catalog", "", 200, "text/plain", `[]`, "does not document"},
		{"no JSON", "GET", "/api/v1/session/catalog", "", 200, "application/json", `[`, "does not match"},
		{"a route the service does not have", "GET", "/api/v1/session/apps/x-1/logs", "", 200, "application/json", `{}`, "no such operation"},
		{"a method the route does not have", "PUT", "/api/v1/session/apps/x-1", "", 200, "application/json", `{}`, "no such operation"},
		{"a request the service refuses", "POST", "/api/v1/session/apps", `{"app":"x","image":"evil"}`, 202, "application/json", app + `}`, "request's body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := &errorsOf{TB: t}
			h := Checked(rt, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.request)))
			got := strings.Join(rt.errs, "\n")
			switch {
			case tc.want == "" && got != "":
				t.Errorf("reported %q, want nothing", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("reported %q, want %q", got, tc.want)
			}
		})
	}
}

// TestParseKnowsEveryKeyword: each schema of openapi.yaml uses only the
// keywords Validate checks, so a new one cannot pass unchecked.
func TestParseKnowsEveryKeyword(t *testing.T) {
	t.Parallel()
	doc, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range doc.Components.Schemas {
		walk(s, func(s *Schema) {
			for k := range s.Other {
				if !strings.HasPrefix(k, "x-") && k != "example" {
					t.Errorf("schema %s has %s, which Validate does not check", name, k)
				}
			}
		})
	}
}

func walk(s *Schema, f func(*Schema)) {
	if s == nil {
		return
	}
	f(s)
	for _, p := range s.Properties {
		walk(p, f)
	}
	walk(s.Items, f)
	for _, a := range s.AnyOf {
		walk(a, f)
	}
	if s.AdditionalProperties != nil {
		walk(s.AdditionalProperties.Schema, f)
	}
}
