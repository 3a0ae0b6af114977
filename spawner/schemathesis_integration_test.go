package spawner_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// schemathesisBudget bounds each of the two runs; the examples, coverage
// and fuzzing phases share it.
const schemathesisBudget = 45 * time.Second

// TestAPIAgainstItsOpenAPI lets schemathesis (property-based testing from
// the API's own document, spawner/internal/api/openapi.yaml) loose on the
// real service, with real credentials, so the requests get past
// authentication: the hub's token for the hub's routes, and a session's
// token (minted by the service for a running session) for the session
// routes. It tries what the document allows and what it does not
// (malformed bodies, odd names, wrong types, missing auth), and checks that
// no answer is a server error, that every status code and content type is
// one the document gives for that route, and that every body matches its
// schema. Its report says what was tried.
func TestAPIAgainstItsOpenAPI(t *testing.T) {
	t.Parallel()
	// Schemathesis also sends every route requests without credentials and
	// with wrong ones, many; the failure limiter (tested on its own) would
	// soon answer them all 429 and hide the routes' own answers.
	c, ns, svc, _ := setup(t, "KUBEDESK_AUTH_FAILURE_BURST=1000000")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	st := filepath.Join(root, ".cache", "venv-schemathesis", "bin", "schemathesis")
	_, err := os.Stat(st)
	require.NoError(t, err, "run hack/python-env.sh schemathesis (make deps does)")
	schema := filepath.Join(root, "spawner", "internal", "api", "openapi.yaml")

	// A running session, for a session token the service minted.
	path := "/api/v1/users/sam/server"
	status, body := svc.Do(t, "POST", path, spawnBody("sam", ""))
	require.Equal(t, 202, status, string(body))
	require.Equal(t, "ready", lastKind(svc.Progress(t, path, waitReady)))
	secret, err := c.Client.CoreV1().Secrets(ns).Get(context.Background(), svc.Session(t, path).Pod, metav1.GetOptions{})
	require.NoError(t, err)
	sessionToken := string(secret.Data["KUBEDESK_SESSION_TOKEN"])
	require.NotEmpty(t, sessionToken, "the session's token in its Secret")

	run := func(name, token string, extra ...string) {
		t.Helper()
		reports := filepath.Join(t.TempDir(), name)
		args := append([]string{"run", schema, "--url", svc.URL + "/api/v1",
			"--header", "Authorization: Bearer " + token,
			"--checks", "all",
			// Stateful testing is left out: schemathesis 4.32 infers links
			// between operations and names a {server} the default
			// server's routes do not have ("Invalid OpenAPI Links
			// Definition"), an error of its own.
			"--phases", "examples,coverage,fuzzing",
			"--max-time", fmt.Sprint(int(schemathesisBudget.Seconds())),
			"--max-examples", "30", "--seed", "1",
			"--report", "junit", "--report-dir", reports,
			"--no-color",
		}, extra...)
		ctx, cancel := context.WithTimeout(context.Background(), 2*schemathesisBudget+time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, st, args...)
		cmd.Dir = t.TempDir() // its cache (.schemathesis/) stays out of the checkout
		cmd.Env = append(os.Environ(), "SCHEMATHESIS_HOOKS=", "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		summary := string(out)
		if i := strings.LastIndex(summary, "SUMMARY"); i >= 0 {
			summary = summary[i:]
		}
		t.Logf("schemathesis, %s routes (%s):\n%s", name, strings.Join(extra, " "), summary)
		require.NoError(t, err, "schemathesis found problems in the %s routes:\n%s", name, out)
	}
	// A spawn's valid options and environment names depend on the
	// operator's profiles and on Kubernetes, which the document states in
	// words, not in schemas (OpenAPI 3.0 has no propertyNames): "every
	// schema-valid create is accepted" cannot hold. FuzzRequests checks
	// that every name JupyterHub can send is.
	run("hub", svc.Token, "--exclude-path-regex", "^/session/", "--exclude-checks", "positive_data_acceptance")
	// Likewise a launch: which apps exist is the catalog's, which files the
	// session's home's.
	run("session", sessionToken, "--include-path-regex", "^/session/", "--exclude-checks", "positive_data_acceptance")
}
