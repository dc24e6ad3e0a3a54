package projections_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"example.com/crm/projections"
)

// runner starts a runner of the recorder as a separate server process
// would (its own hub), returning it for the test to close.
func (e *env) runner(t *testing.T) *projections.Runner {
	t.Helper()
	r, err := projections.NewRunner(projections.Config{
		Pool: e.pool, Registry: e.reg, Hub: projections.NewHub(), Progress: e.progress,
		Projectors: []projections.Projector{recorder(nil)}, LeaseInterval: 300 * time.Millisecond, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-r.Running()
	t.Cleanup(func() { _ = r.Close(); <-done })
	return r
}

func holder(t *testing.T, rs ...*projections.Runner) *projections.Runner {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range rs {
			if slices.Contains(r.Held(), "recorder") {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nobody holds the recorder's lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func xactCommits(t *testing.T, e *env) int64 {
	t.Helper()
	var n int64
	if _, err := e.pool.Exec(context.Background(), `SELECT pg_stat_clear_snapshot()`); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(context.Background(),
		`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Two server processes run the same projector: one holds the lease and
// applies every event once; idle, with a transaction held open elsewhere
// in the cluster behind the last append, the pair costs a few commits a
// second (no busy polling); when the holder stops, the other takes over.
func TestReplicaPairIdlesCheaplyAndFailsOver(t *testing.T) {
	e := newEnv(t)
	a, b := e.runner(t), e.runner(t)
	first := holder(t, a, b)
	e.append(t, 1, 10)
	e.waitApplied(t, 10)

	// A transaction with an xid, left open: every later append is
	// invisible to the projectors until it ends.
	ctx := context.Background()
	open, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx)
	if _, err := open.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	e.append(t, 11, 1) // held back behind the open transaction
	time.Sleep(3 * time.Second)
	before := xactCommits(t, e)
	const window = 5 * time.Second
	time.Sleep(window)
	// PostgreSQL publishes a backend's counts within a second or so.
	time.Sleep(1500 * time.Millisecond)
	perSecond := float64(xactCommits(t, e)-before) / (window + 1500*time.Millisecond).Seconds()
	t.Logf("idle cost of a replica pair with a long-open transaction: %.1f commits/s", perSecond)
	if perSecond > 20 {
		t.Fatalf("idle cost %.1f commits/s, want at most 20", perSecond)
	}
	if err := open.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitApplied(t, 11)

	// Fail-over: the holder goes away, the other process takes over.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	other := a
	if first == a {
		other = b
	}
	if holder(t, other) != other {
		t.Fatal("the lease did not move")
	}
	e.append(t, 20, 5)
	e.waitApplied(t, 16)
}

// A process that loses a projector's lease (its lease session died, and
// another process took the lease) stops counting on its in-memory
// progress for that projector at once, not a fallback poll later: its
// waiters read the checkpoint the new holder moves.
func TestALostLeaseIsNoLongerCountedOnByThisProcesssWaiters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tune = func(c *projections.Config) { c.FallbackPoll = time.Minute }
	e.start(t, recorder(nil))
	for deadline := time.Now().Add(5 * time.Second); !e.progress.Local("recorder"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the engine never said it runs the recorder")
		}
	}
	ctx := context.Background()
	other, err := e.pool.Acquire(ctx) // another process, about to take the lease
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Conn().Close(ctx); other.Release() }) // closing frees its advisory lock
	if _, err := e.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var took bool
		if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int, hashtext('recorder'))`, projections.LeaseClass).Scan(&took); err != nil {
			t.Fatal(err)
		}
		if took {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminated session's lease never came free")
		}
	}
	for deadline := time.Now().Add(2 * time.Second); e.progress.Local("recorder"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("two seconds after losing the lease, the process still answers its waiters from memory for the recorder")
		}
	}
}
