package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"example.com/crm/internal/app"
	"example.com/crm/internal/testenv"
)

// syncBuffer is a log destination the test reads while serve writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// When its context ends (SIGINT, SIGTERM), serve drains the HTTP server
// and the projectors, returns nil (crm exits 0) and says in one line what
// it drained, with the time it took as a Go duration string.
func TestServeLogsWhatItDrained(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": testenv.Postgres(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_FORMAT": "text"}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := newLogger(cfg, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, serveRoles{api: true, projectors: true}) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), `msg="crm is ready"`) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not get ready:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after cancel: %v (crm would exit 1)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
	}
	out := logs.String()
	var stopped string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `msg="crm stopped"`) {
			stopped = l
		}
	}
	for _, want := range []string{
		`drained="HTTP server shut down, projectors stopped, PostgreSQL (DATABASE_URL) left as it was"`,
		"shutdown=",
	} {
		if !strings.Contains(stopped, want) {
			t.Errorf("shutdown line %q lacks %s\n%s", stopped, want, out)
		}
	}
	if strings.Contains(stopped, "shutdown=0 ") || strings.Contains(stopped, "shutdown=0s") || !strings.Contains(out, `msg="shutting down: draining"`) {
		t.Errorf("no drain start or no drain time:\n%s", out)
	}
}
