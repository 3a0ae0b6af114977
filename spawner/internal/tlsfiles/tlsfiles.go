// Package tlsfiles serves a TLS certificate from PEM files that may be
// replaced while the service runs: cert-manager renews a certificate into
// its Secret, and the kubelet swaps the mounted files (a symlink flip)
// without restarting the pod. A handshake after the change gets the new
// certificate; a change that does not load (a half-written pair, a key that
// does not match) keeps the old one and is logged, so a bad renewal never
// takes the API down.
package tlsfiles

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often handshakes look at the files.
const checkEvery = time.Second

// Certificate is a certificate and key loaded from files, reloaded when
// either file changes.
type Certificate struct {
	certFile, keyFile string
	log               *slog.Logger
	checkEvery        time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]stamp
	checked time.Time
}

// stamp tells whether a file changed: the kubelet's swap gives the path a
// new inode (and mtime); an in-place rewrite changes mtime or size.
type stamp struct {
	mod  time.Time
	size int64
	ok   bool
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
}

// Load reads the pair once; an error here stops the service at start, with
// the files named.
func Load(certFile, keyFile string, log *slog.Logger) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile, log: log, checkEvery: checkEvery}
	st := [2]stamp{stampOf(certFile), stampOf(keyFile)}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	c.cert, c.stamp, c.checked = &cert, st, time.Now()
	return c, nil
}

// GetCertificate is tls.Config's: the current certificate, reloaded first
// if the files changed since the last look.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) < c.checkEvery {
		return c.cert, nil
	}
	c.checked = now
	st := [2]stamp{stampOf(c.certFile), stampOf(c.keyFile)}
	if st == c.stamp {
		return c.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// Retried at the next look: the other half of a renewal may not
		// have landed yet.
		c.log.Warn("TLS certificate files changed but do not load; serving the previous certificate",
			"cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		return c.cert, nil
	}
	c.cert, c.stamp = &cert, st
	c.log.Info("TLS certificate reloaded", "cert_file", c.certFile)
	return c.cert, nil
}

// ServerConfig is a server's TLS configuration with the certificate: TLS
// 1.2 at least, and HTTP/1.1 only, so that the listener's limits on
// connections and headers (httpguard) bound a client as they do in plain
// HTTP; an HTTP/2 connection would carry many requests at once.
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}
