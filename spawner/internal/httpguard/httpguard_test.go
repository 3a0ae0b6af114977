package httpguard

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveTest runs Server(h, lim) on Listen(lim) and returns its address.
func serveTest(t *testing.T, lim Limits, h http.Handler) string {
	t.Helper()
	ln, err := Listen("127.0.0.1:0", lim)
	require.NoError(t, err)
	srv := Server(context.Background(), h, lim)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

func TestOversizedHeaderIsRefused(t *testing.T) {
	addr := serveTest(t, Limits{}, ok)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	// An unterminated header: the service answers once it has read its
	// limit instead of buffering all of it.
	go func() {
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")
		_, _ = io.WriteString(conn, strings.Repeat("a", 1<<20))
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	addr := serveTest(t, Limits{IdleTimeout: 100 * time.Millisecond}, ok)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = r.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the idle keep-alive connection was closed by the server")
}

func TestSlowHeaderTimesOut(t *testing.T) {
	addr := serveTest(t, Limits{ReadHeaderTimeout: 100 * time.Millisecond}, ok)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n") // and nothing more
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(conn)
	assert.NoError(t, err, "the server closed the connection (EOF) rather than wait for ever")
}

func TestConnectionCap(t *testing.T) {
	addr := serveTest(t, Limits{MaxConns: 2}, ok)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		held = append(held, c)
	}
	// Make sure both were accepted (each is now waiting for a header).
	time.Sleep(50 * time.Millisecond)
	client := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := client.Get("http://" + addr)
	require.Error(t, err, "a third connection is not served while two are held")

	held[0].Close()
	client.Timeout = 5 * time.Second
	resp, err := client.Get("http://" + addr)
	require.NoError(t, err, "once one is released, the next is served")
	resp.Body.Close()
	held[1].Close()
}

func TestBodyDeadline(t *testing.T) {
	got := make(chan error, 1)
	addr := serveTest(t, Limits{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lift := BodyDeadline(w, 100*time.Millisecond)
		_, err := io.ReadAll(r.Body)
		lift()
		got <- err
	}))
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{") // 99 bytes never come
	select {
	case err := <-got:
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	case <-time.After(10 * time.Second):
		t.Fatal("the body read did not time out")
	}
	// Without a real connection (a recorder) it is a no-op.
	BodyDeadline(httptest.NewRecorder(), time.Second)()
}

func TestPeerIgnoresForwardedHeaders(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:4567"
	r.Header.Set("X-Forwarded-For", "192.0.2.1")
	r.Header.Set("X-Real-IP", "192.0.2.1")
	assert.Equal(t, "10.1.2.3", Peer(r))
	r.RemoteAddr = "[fd00::1]:80"
	assert.Equal(t, "fd00::1", Peer(r))
}

func TestFailures(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &Failures{Burst: 3, Refill: time.Second, MaxSources: 2, Now: func() time.Time { return now }}

	assert.False(t, f.Fail("a"))
	assert.False(t, f.Fail("a"))
	blocked, _ := f.Blocked("a")
	assert.False(t, blocked, "under the burst")
	assert.True(t, f.Fail("a"), "the failure that spends the budget is reported once")
	blocked, retry := f.Blocked("a")
	assert.True(t, blocked)
	assert.Equal(t, time.Second, retry)
	blocked, _ = f.Blocked("b")
	assert.False(t, blocked, "other sources are not affected")

	now = now.Add(time.Second)
	blocked, _ = f.Blocked("a")
	assert.False(t, blocked, "one failure's worth refilled")
	assert.True(t, f.Fail("a"), "and one more failure blocks again")

	// The table is bounded: refilled sources are forgotten first, and a
	// source beyond the bound is not tracked (memory matters more).
	assert.False(t, f.Fail("b"))
	assert.False(t, f.Fail("c"))
	blocked, _ = f.Blocked("c")
	assert.False(t, blocked)
	assert.Len(t, f.sources, 2)
	now = now.Add(time.Minute)
	assert.False(t, f.Fail("c"))
	assert.Contains(t, f.sources, "c", "a and b had refilled and were forgotten")
}
