package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// The agent reaches a service whose certificate its CA signed, given that
// CA in KUBEDESK_SERVICE_CA, and refuses the same service without it (a
// certificate the system does not trust) or with another CA.
func TestServiceTransportTrustsTheServiceCA(t *testing.T) {
	t.Parallel()
	ca := spawnertest.NewCA(t)
	certPEM, keyPEM := ca.Issue(t, "127.0.0.1")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("spawner"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	get := func(ca string) error {
		rt, err := serviceTransport(ca)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(string(ca.PEM())); err != nil {
		t.Fatalf("with the service's CA: %v", err)
	}
	for name, other := range map[string]string{"no CA": "", "another CA": string(spawnertest.NewCA(t).PEM())} {
		var unknown x509.UnknownAuthorityError
		if err := get(other); !errors.As(err, &unknown) {
			t.Errorf("%s: %v, want an unknown authority", name, err)
		}
	}
	if _, err := serviceTransport("garbage"); err == nil || !strings.Contains(err.Error(), EnvServiceCA) {
		t.Errorf("a CA that is no certificate: %v", err)
	}
}
