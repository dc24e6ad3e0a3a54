package sales_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
)

// A backlog of tens of thousands of events (deals moved, commented,
// tasked, completed, renamed, one in ten deleted) is caught up by the
// live pipeline, and a rebuild from the log then equals, row for row and
// counter for counter, what the live path built: the two paths share
// their reducers.
func TestLiveCatchUpOfABacklogEqualsARebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fillLog(t, pool, uuid.New(), 3000)
	fillLog(t, pool, uuid.New(), 500) // a second tenant

	r, err := projections.NewRunner(projections.Config{Pool: pool, Registry: events.Domain(), Projectors: all(),
		LeaseInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()
	t.Cleanup(func() { _ = r.Close(); <-done })
	waitCaughtUp(t, pool, r.Names(), 2*time.Minute)

	var deals, live, tasks, listed int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT deleted) FROM deals`).Scan(&deals, &live); err != nil {
		t.Fatal(err)
	}
	if deals != 3500 || live != 3150 {
		t.Fatalf("deals: %d rows, %d live; want 3500 and 3150", deals, live)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*), (SELECT sum(n) FROM task_counts) FROM tasks WHERE NOT deal_deleted`).Scan(&tasks, &listed); err != nil {
		t.Fatal(err)
	}
	if tasks != 3150 || listed != 3150 {
		t.Fatalf("tasks of live deals: %d rows, counted %d; want 3150", tasks, listed)
	}

	res, err := projections.Verify(ctx, projections.RebuildOptions{Pool: pool, Registry: events.Domain(), Projectors: all()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Differences) > 0 {
		t.Fatalf("the live read models differ from a rebuild:\n%v", res.Differences)
	}
}

// waitCaughtUp waits until no projector named has a backlog, failing
// after limit.
func waitCaughtUp(tb testing.TB, pool *pgxpool.Pool, names []string, limit time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		st, err := projections.ReadStatus(context.Background(), pool, names)
		if err != nil {
			tb.Fatal(err)
		}
		behind := false
		for _, s := range st {
			behind = behind || s.Backlog > 0
		}
		if !behind {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("projectors still behind after %v: %+v", limit, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
