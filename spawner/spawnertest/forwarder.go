package spawnertest

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// ProbePeriod is how often a Forwarder asks its replicas' /readyz. A
// kubelet probes at most once a second and the endpoint change then takes
// its way to kube-proxy; the Forwarder is quicker, so what a failover
// measures through it is the service's own part.
const ProbePeriod = 100 * time.Millisecond

// Forwarder stands for a Kubernetes Service with a readiness probe in front
// of replicas of the spawner service: it sends each new TCP connection to a
// replica whose /readyz was OK at its last probe, and refuses connections
// (closes them at once) while none is. Connections already open stay with
// their replica until it closes them, or dies.
type Forwarder struct {
	// URL is the API's URL through the Forwarder.
	URL string

	ln       net.Listener
	replicas []*Service
	stop     chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	ready []bool
	next  int
	conns map[net.Conn]struct{}
}

// StartForwarder listens on a free loopback port in front of replicas
// until the test ends.
func StartForwarder(tb testing.TB, replicas ...*Service) *Forwarder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	scheme, _, _ := strings.Cut(replicas[0].URL, "://")
	f := &Forwarder{
		URL: scheme + "://" + ln.Addr().String(), ln: ln, replicas: replicas,
		stop: make(chan struct{}), ready: make([]bool, len(replicas)), conns: map[net.Conn]struct{}{},
	}
	f.probe()
	f.wg.Add(2)
	go f.probeLoop()
	go f.acceptLoop()
	tb.Cleanup(f.close)
	return f
}

func (f *Forwarder) close() {
	close(f.stop)
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *Forwarder) probeLoop() {
	defer f.wg.Done()
	t := time.NewTicker(ProbePeriod)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			f.probe()
		}
	}
}

func (f *Forwarder) probe() {
	ready := make([]bool, len(f.replicas))
	for i, s := range f.replicas {
		ready[i] = s.Ready()
	}
	f.mu.Lock()
	f.ready = ready
	f.mu.Unlock()
}

// pick is a ready replica's API address, round robin, or "" for none.
func (f *Forwarder) pick() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range f.replicas {
		i := f.next % len(f.replicas)
		f.next++
		if f.ready[i] {
			return f.replicas[i].listen
		}
	}
	return ""
}

func (f *Forwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !add {
		delete(f.conns, c)
		return true
	}
	select {
	case <-f.stop:
		return false
	default:
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) acceptLoop() {
	defer f.wg.Done()
	for {
		client, err := f.ln.Accept()
		if err != nil {
			return // closed
		}
		addr := f.pick()
		if addr == "" {
			_ = client.Close() // no endpoint: refused
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.forward(client, addr)
		}()
	}
}

func (f *Forwarder) forward(client net.Conn, addr string) {
	defer client.Close()
	backend, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return
	}
	defer backend.Close()
	if !f.track(client, true) {
		return
	}
	defer f.track(client, false)
	if !f.track(backend, true) {
		return
	}
	defer f.track(backend, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(backend, client)
	go pipe(client, backend)
	// Either side gone ends the connection: a replica killed mid-request
	// resets it, and its client sees that, as through a Service.
	<-done
	_ = client.Close()
	_ = backend.Close()
	<-done
}
