package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKubeVerb(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, url, verb, resource string
	}{
		{"list pods", "GET", "/api/v1/namespaces/hub/pods?labelSelector=a%3Db", "list", "pods"},
		{"watch pods", "GET", "/api/v1/namespaces/hub/pods?watch=true&resourceVersion=5", "watch", "pods"},
		{"get pod", "GET", "/api/v1/namespaces/hub/pods/jupyter-alice", "get", "pods"},
		{"create secret", "POST", "/api/v1/namespaces/hub/secrets", "create", "secrets"},
		{"delete pod", "DELETE", "/api/v1/namespaces/hub/pods/jupyter-alice", "delete", "pods"},
		{"patch status", "PATCH", "/api/v1/namespaces/hub/pods/jupyter-alice/status", "patch", "pods/status"},
		{"cluster-scoped list", "GET", "/api/v1/nodes", "list", "nodes"},
		{"group resource", "POST", "/apis/networking.k8s.io/v1/namespaces/hub/networkpolicies", "create", "networkpolicies"},
		{"not an API path", "GET", "/healthz", "get", "other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tc.method, tc.url, nil)
			verb, resource := KubeVerb(req)
			assert.Equal(t, tc.verb, verb)
			assert.Equal(t, tc.resource, resource)
		})
	}
}

func TestCountKubeRequestsAndSessionsGauge(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewSpawner(reg, func() map[string]int { return map[string]int{"running": 3, "pending": 1} },
		func() map[string]int { return map[string]int{"running": 2} })

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	client := &http.Client{Transport: m.CountKubeRequests(http.DefaultTransport)}
	resp, err := client.Post(srv.URL+"/api/v1/namespaces/hub/pods", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()

	assert.Equal(t, 1.0, testutil.ToFloat64(m.KubeRequests.WithLabelValues("create", "pods", "201")))
	expected := `
# HELP kubedesk_spawner_sessions Sessions the service knows, by status (pending, running, stopping, failed).
# TYPE kubedesk_spawner_sessions gauge
kubedesk_spawner_sessions{status="pending"} 1
kubedesk_spawner_sessions{status="running"} 3
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected), "kubedesk_spawner_sessions"))
	expectedApps := `
# HELP kubedesk_spawner_apps App pods, by status (starting, running, stopping, ended, failed).
# TYPE kubedesk_spawner_apps gauge
kubedesk_spawner_apps{status="running"} 2
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expectedApps), "kubedesk_spawner_apps"))
}
