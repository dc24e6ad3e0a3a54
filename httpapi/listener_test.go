package httpapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestProblemListener: the answers net/http writes before any handler
// runs are problems too (issue 9), and handler answers pass untouched.
func TestProblemListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "handler")
	}), MaxHeaderBytes: 1 << 10}
	go func() { _ = srv.Serve(ProblemListener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })

	send := func(raw string) *http.Response {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, c := range []struct {
		name, raw string
		status    int
	}{
		{"control byte in a header value", "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\x01b\r\n\r\n", 400},
		{"NUL in a header value", "GET / HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x00b\r\n\r\n", 400},
		{"control byte in a header name", "GET / HTTP/1.1\r\nHost: x\r\nX-\x7f: 1\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: rot13\r\n\r\n", 501},
	} {
		res := send(c.raw)
		var p Problem
		err := json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != c.status || res.Header.Get("Content-Type") != "application/problem+json" || err != nil ||
			p.Status != c.status || p.Code == "" || p.RequestID == "" {
			t.Errorf("%s: %d %q %+v %v", c.name, res.StatusCode, res.Header.Get("Content-Type"), p, err)
		}
		// Its code is one /docs/errors lists, for this status.
		if info, ok := codeTable[p.Code]; !ok || info.status != c.status {
			t.Errorf("%s: code %s is not listed for %d", c.name, p.Code, c.status)
		}
	}
	res := send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != "handler" {
		t.Errorf("handler answer changed: %d %q", res.StatusCode, body)
	}
}
