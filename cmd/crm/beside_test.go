package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/app"
)

// The CLI beside a live server on the private PostgreSQL (DATABASE_URL
// unset): `crm migrate` and `crm projections status` use the server's
// PostgreSQL and leave it running — the server still answers /ready
// afterwards. (It once stopped the server's database.)
//
// Not parallel: the CLI reads its configuration from the environment.
func TestCLIBesideALiveServerLeavesItHealthy(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CRM_DATA_DIR", dir)
	t.Setenv("HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("LOG_FORMAT", "text")
	cfg, err := app.LoadConfig(func(k string) string {
		return map[string]string{"CRM_DATA_DIR": dir, "HTTP_ADDR": "127.0.0.1:0", "LOG_FORMAT": "text"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newLogger(cfg, &logs), serveRoles{api: true, projectors: true}) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	addr := waitReady(t, &logs, done)

	for _, args := range [][]string{{"migrate"}, {"projections", "status"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); err != nil {
			t.Fatalf("crm %s beside the server: %v", strings.Join(args, " "), err)
		}
		if args[0] == "projections" && !strings.Contains(out.String(), "deals") {
			t.Fatalf("status printed:\n%s", out.String())
		}
	}
	resp, err := http.Get("http://" + addr + "/ready")
	if err != nil {
		t.Fatalf("the server no longer answers after the CLI ran: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"postgres":"ok"`) {
		t.Fatalf("/ready after the CLI ran: %d %s", resp.StatusCode, body)
	}
}

// waitReady waits for serve's "crm is ready" line and returns its address.
func waitReady(t *testing.T, logs *syncBuffer, done <-chan error) string {
	t.Helper()
	re := regexp.MustCompile(`msg="crm is ready" addr=(\S+)`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not get ready:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
