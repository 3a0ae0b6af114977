package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// A renewed certificate is served from the next handshake on, without a
// restart; a renewal that does not load keeps the previous certificate.
// Tried: the kubelet's swap of a Secret volume (new files renamed into
// place), a key that belongs to another certificate, files that vanished.
func TestReload(t *testing.T) {
	ca := spawnertest.NewCA(t)
	dir := t.TempDir()
	files := ca.WriteTLS(t, dir, "kubedesk-spawner.jhub", "127.0.0.1")
	var logs bytes.Buffer
	c, err := Load(files.Cert, files.Key, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	c.checkEvery = 0

	ln, err := tls.Listen("tcp", "127.0.0.1:0", c.ServerConfig())
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = conn.(*tls.Conn).Handshake(); conn.Close() }()
		}
	}()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM()))
	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "kubedesk-spawner.jhub", NextProtos: []string{"h2", "http/1.1"}})
		require.NoError(t, err)
		defer conn.Close()
		st := conn.ConnectionState()
		assert.Equal(t, "http/1.1", st.NegotiatedProtocol, "HTTP/2 is not offered")
		return st.PeerCertificates[0].SerialNumber.String()
	}
	first := served()

	// The kubelet writes a Secret's new files elsewhere and swaps them in.
	swap := func(cert, key []byte) {
		t.Helper()
		next := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(next, "tls.crt"), cert, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(next, "tls.key"), key, 0o600))
		require.NoError(t, os.Rename(filepath.Join(next, "tls.crt"), files.Cert))
		require.NoError(t, os.Rename(filepath.Join(next, "tls.key"), files.Key))
	}
	cert2, key2 := ca.Issue(t, "kubedesk-spawner.jhub")
	swap(cert2, key2)
	second := served()
	assert.NotEqual(t, first, second, "the renewed certificate is served")

	cert3, _ := ca.Issue(t, "kubedesk-spawner.jhub")
	swap(cert3, key2)
	assert.Equal(t, second, served(), "a pair that does not match keeps the previous certificate")
	assert.Contains(t, logs.String(), "do not load")

	require.NoError(t, os.Remove(files.Cert))
	assert.Equal(t, second, served(), "vanished files keep the previous certificate")
}

// A pair that does not load stops the service at start, naming the files.
func TestLoadRefusesBadFiles(t *testing.T) {
	ca := spawnertest.NewCA(t)
	files := ca.WriteTLS(t, t.TempDir(), "kubedesk-spawner.jhub")
	_, err := Load(files.Cert, files.CA, slog.Default())
	require.Error(t, err)
	assert.Contains(t, err.Error(), files.Cert)
	_, err = Load(filepath.Join(t.TempDir(), "missing.crt"), files.Key, slog.Default())
	require.Error(t, err)
}
