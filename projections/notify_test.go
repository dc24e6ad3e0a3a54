package projections_test

import (
	"context"
	"testing"
	"time"

	"example.com/crm/projections"
	"example.com/crm/projections/projectionstest"
)

// A server process tells the others of its commits (their projectors
// wake at once), and tells nobody while no other process listens: a
// lone server sends no NOTIFY at all.
func TestCommitsAreAnnouncedOnlyWhileAnotherProcessListens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sent := &projectionstest.Statements{Containing: "pg_notify"}
	traced := e.tracedPool(t, sent)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the pools close: the notifier holds a connection
	n := projections.NewNotifier(traced, testLogger())
	go n.Run(ctx)
	go projections.Listen(ctx, e.pool, e.hub, n, testLogger()) // this process's own listener
	waitListeners(t, e, 1)

	for xid := uint64(1); xid <= 5; xid++ {
		n.Committed(xid)
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := sent.N.Load(); got != 0 {
		t.Fatalf("a lone process sent %d NOTIFYs", got)
	}

	other := projections.NewHub() // another process, listening
	go projections.Listen(ctx, e.pool, other, nil, testLogger())
	waitListeners(t, e, 2)
	deadline := time.Now().Add(5 * time.Second)
	for xid := uint64(6); other.MaxCommitted() < 6; xid++ {
		if time.Now().After(deadline) {
			t.Fatal("the other process never heard of the commits")
		}
		n.Committed(xid)
		time.Sleep(20 * time.Millisecond)
	}
}

// waitListeners waits until want connections of e's database listen.
func waitListeners(t *testing.T, e *env, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'crm-listener'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners, want %d", n, want)
		}
	}
}
