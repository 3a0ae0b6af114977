package devcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestConnectLeavesNothingRunning: a Cluster from a kubeconfig that names
// its client certificate by file, as the dev cluster's does, starts no
// goroutine that outlives its connections (client-go's certificate
// rotation would), and closeIdle ends those, over HTTP/2. Main relies on
// both. Not parallel: it compares the goroutines before and after.
func TestConnectLeavesNothingRunning(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default"}}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	before := goleak.IgnoreCurrent()

	dir := t.TempDir()
	cert, key := clientCert(t, dir)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kubeconfig := filepath.Join(dir, "kubeconfig")
	err := clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"dev": {Server: srv.URL, CertificateAuthorityData: ca}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificate: cert, ClientKey: key}},
		Contexts:       map[string]*clientcmdapi.Context{"dev": {Cluster: "dev", AuthInfo: "admin"}},
		CurrentContext: "dev",
	}, kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := connect(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := c.Client.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Name != "default" {
		t.Fatalf("got namespace %q", ns.Name)
	}
	c.closeIdle()
	goleak.VerifyNone(t, before)
	// As Start's, alive throughout: client-go stops a transport's
	// goroutines once it is garbage, which the dev cluster's never is.
	runtime.KeepAlive(c)
}

// clientCert writes a self-signed client certificate and its key into
// dir and returns their paths.
func clientCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	for path, b := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}
