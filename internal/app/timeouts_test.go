package app_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/app"
)

func TestConfigHTTPTimeouts(t *testing.T) {
	t.Parallel()
	cfg, err := app.LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPReadHeaderTimeout != 5*time.Second || cfg.HTTPReadTimeout != 30*time.Second ||
		cfg.HTTPWriteTimeout != time.Minute || cfg.HTTPIdleTimeout != time.Minute {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = app.LoadConfig(env(map[string]string{"HTTP_READ_HEADER_TIMEOUT": "1", "HTTP_READ_TIMEOUT": "2s",
		"HTTP_WRITE_TIMEOUT": "3s", "HTTP_IDLE_TIMEOUT": "4s"}))
	if err != nil {
		t.Fatal(err)
	}
	srv := app.NewHTTPServer(cfg, http.NotFoundHandler())
	if srv.ReadHeaderTimeout != time.Second || srv.ReadTimeout != 2*time.Second || srv.WriteTimeout != 3*time.Second || srv.IdleTimeout != 4*time.Second {
		t.Fatalf("server: %+v", srv)
	}
	for _, bad := range []map[string]string{
		{"HTTP_READ_TIMEOUT": "0"},
		{"HTTP_IDLE_TIMEOUT": "soon"},
		{"HTTP_READ_HEADER_TIMEOUT": "10s", "HTTP_READ_TIMEOUT": "5s"},
		{"HTTP_WRITE_TIMEOUT": "1s"}, // not above CONSISTENCY_TIMEOUT (2s)
	} {
		if _, err := app.LoadConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestSlowClientsAreCut: a body sent too slowly and an idle keep-alive
// connection are closed by the server (issue 9, slowloris), instead of
// being held for minutes.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	cfg, err := app.LoadConfig(env(map[string]string{"HTTP_READ_HEADER_TIMEOUT": "200ms", "HTTP_READ_TIMEOUT": "300ms",
		"HTTP_IDLE_TIMEOUT": "300ms"}))
	if err != nil {
		t.Fatal(err)
	}
	srv := app.NewHTTPServer(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	closedWithin := func(t *testing.T, c net.Conn, d time.Duration) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection still open after %v", d)
		}
	}
	t.Run("half-sent body", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
		closedWithin(t, c, 3*time.Second)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != http.StatusNoContent {
			t.Fatalf("%v %v", res, err)
		}
		closedWithin(t, c, 3*time.Second)
	})
	t.Run("half-sent headers", func(t *testing.T) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 10))
		closedWithin(t, c, 3*time.Second)
	})
}
