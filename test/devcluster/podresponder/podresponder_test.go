package podresponder_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

// The handler needs no cluster, so this runs under -short too.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(podresponder.Handler(""))
	t.Cleanup(srv.Close)

	for _, path := range []string{"/api", "/user/alice/api", "/user/alice/api/"} {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		require.Equal(t, podresponder.Identity, res.Header.Get(podresponder.IdentityHeader), path)
		require.Equal(t, podresponder.DefaultJupyterHubVersion, res.Header.Get(podresponder.JupyterHubVersionHeader), path)
		var v map[string]string
		require.NoError(t, json.Unmarshal(body, &v), path)
		require.Equal(t, podresponder.Identity, v["version"], path)
	}

	res, err := http.Get(srv.URL + "/user/alice/lab")
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"))
	require.Contains(t, string(body), "/user/alice/lab")
	require.True(t, podresponder.IsResponder(t.Context(), strings.TrimPrefix(srv.URL, "http://")))
}
