package sessionapitest

import (
	"bytes"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

var contract = sync.OnceValues(load)

// Checked is h, a fake of the service's API, held to openapi.yaml: each
// request and each response that does not match the operation documented
// for its method and path fails t, with what was sent and what the
// contract says. It checks
//
//   - the route and method are documented (a fake never sees a request
//     the agent should not send, and answers none the service has not);
//   - a request's JSON body matches the operation's requestBody schema;
//   - the status is among the operation's responses;
//   - the response's Content-Type is one the response documents and its
//     JSON body matches that schema, or the body is empty where the
//     response documents none (204).
//
// The errors are reported while the request is served, from the server's
// goroutine: t must still be running (the fakes' servers close in the
// test's Cleanup).
func Checked(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	doc, err := contract()
	if err != nil {
		t.Fatalf("sessionapitest: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.Method + " " + r.URL.EscapedPath()
		op, tmpl := doc.Operation(r.Method, r.URL.EscapedPath())
		if op == nil {
			t.Errorf("sessionapitest: %s: openapi.yaml has no such operation (%s)", route, path)
			http.Error(w, "not in openapi.yaml", http.StatusNotImplemented)
			return
		}
		route = r.Method + " " + tmpl + " (" + op.ID + ")"
		if b := doc.Body(op); b != nil {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("sessionapitest: %s: reading the request: %v", route, err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if mt, ok := b.Content["application/json"]; ok && (len(body) > 0 || b.Required) {
				for _, e := range doc.Validate(mt.Schema, body) {
					t.Errorf("sessionapitest: %s: the request's body does not match openapi.yaml: %s\n%s", route, e, body)
				}
			}
		}
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		resp := doc.Response(op, rec.status)
		if resp == nil {
			t.Errorf("sessionapitest: %s: answered %d, which openapi.yaml does not document for it (it does %s)", route, rec.status, strings.Join(slices.Sorted(maps.Keys(op.Responses)), ", "))
			return
		}
		body := rec.body.Bytes()
		if len(resp.Content) == 0 {
			if len(body) > 0 {
				t.Errorf("sessionapitest: %s: answered %d with a body, where openapi.yaml documents none: %s", route, rec.status, body)
			}
			return
		}
		ct := rec.Header().Get("Content-Type")
		mediaType, _, _ := mime.ParseMediaType(ct)
		mt, ok := resp.Content[mediaType]
		if !ok {
			t.Errorf("sessionapitest: %s: answered %d as %q, which openapi.yaml does not document (it does %s)", route, rec.status, ct, strings.Join(slices.Sorted(maps.Keys(resp.Content)), ", "))
			return
		}
		if mediaType == "application/json" && mt.Schema != nil {
			for _, e := range doc.Validate(mt.Schema, body) {
				t.Errorf("sessionapitest: %s: the %d answer does not match openapi.yaml: %s\n%s", route, rec.status, e, body)
			}
		}
	})
}

// recorder passes a response through and keeps its status and body.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}
