package projections_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"example.com/crm/projections"
	"example.com/crm/projections/streamstats"
	"github.com/jackc/pgx/v5"
)

// One projector failing forever on one event: it applies what comes
// before, parks the event and stops there; no transaction stays open
// (the other projector and read-your-writes go on), status shows the
// parked event, and an operator's skip lets it move past it.
// applyModes are the ways a batch is applied (projections/engine.go,
// handler): every projector in one transaction; in parallel transactions
// sharing one group; in parallel, one transaction each.
var applyModes = map[string]func(*projections.Config){
	"one transaction":        func(c *projections.Config) { c.ParallelBelow = 1 },
	"in parallel, one group": func(c *projections.Config) { c.ParallelGroups = 1 },
	"in parallel, one each":  func(c *projections.Config) { c.ParallelGroups = 8 },
}

func TestPoisonEventIsParkedWithoutStallingTheRest(t *testing.T) {
	t.Parallel()
	for name, tune := range applyModes {
		for _, poisonFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, poisoned projector first %v", name, poisonFirst), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.tune = tune
				poisonIsParked(t, e, poisonFirst)
			})
		}
	}
}

func poisonIsParked(t *testing.T, e *env, poisonFirst bool) {
	ps := []projections.Projector{recorder(func(seq int) bool { return seq == 5 }), streamstats.Projector(e.reg)}
	if !poisonFirst {
		ps[0], ps[1] = ps[1], ps[0]
	}
	e.start(t, ps...)
	ctx := context.Background()
	e.append(t, 1, 10)

	w := projections.NewWaiter(e.pool, e.progress, 5*time.Second)
	if err := w.Wait(ctx, e.tenant, streamstats.Name); err != nil {
		st, _ := projections.ReadStatus(ctx, e.pool, []string{streamstats.Name, "recorder"})
		t.Fatalf("the healthy projector is held up: %v %+v", err, st)
	}
	parked := waitParked(t, e, "recorder")
	if parked.Attempts < 5 || !strings.Contains(parked.Error, "division by zero") {
		t.Fatalf("parked: %+v", parked)
	}
	e.waitApplied(t, 4) // 1–4 applied; 5 parked; 6–10 wait behind it

	// A read that needs the stopped read model is told so at once, not
	// after the consistency timeout.
	slow := projections.NewWaiter(e.pool, e.progress, time.Minute)
	if err := slow.Wait(ctx, e.tenant, "recorder"); crmCode(err) != "PROJECTION_BEHIND" || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("a read of the stopped read model: %v", err)
	}

	// Nothing is left open in a transaction while the projector is stopped.
	var open int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Fatalf("%d sessions idle in transaction while a projector is stopped", open)
	}
	// Later writes still reach the healthy projector.
	e.append(t, 20, 3)
	if err := w.Wait(ctx, e.tenant, streamstats.Name); err != nil {
		t.Fatalf("the healthy projector stalled: %v", err)
	}

	if ok, err := projections.Skip(ctx, e.pool, "recorder"); err != nil || !ok {
		t.Fatalf("skip: %v %v", ok, err)
	}
	e.waitApplied(t, 12) // 1–4, 6–10, 20–22
	st, err := projections.ReadStatus(ctx, e.pool, []string{"recorder"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st[0].Parked) != 0 {
		t.Fatalf("still parked after skip: %+v", st[0].Parked)
	}
}

// A projector whose code fails on an event in a way of its own (a panic,
// a bug; or a Flush that fails after queuing some of its writes) is
// isolated, retried and parked at that event like one whose statements
// fail, and writes nothing of it; the others go on, and so do its events
// before it.
func TestAProjectorFailingInItsOwnCodeIsParkedAtItsEvent(t *testing.T) {
	t.Parallel()
	for name, tune := range applyModes {
		for _, c := range []struct {
			how   string
			model recorderModel
			error string
		}{
			{"panic", recorderModel{panics: true}, "panic: recorder: a bug at seq 5"},
			{"flush", recorderModel{flushFails: true}, "flush failed after queuing its writes"},
		} {
			t.Run(name+", "+c.how, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.tune = tune
				c.model.fail = func(seq int) bool { return seq == 5 }
				e.start(t, projections.Projector{Name: "recorder", Model: c.model}, streamstats.Projector(e.reg))
				e.append(t, 1, 10)
				w := projections.NewWaiter(e.pool, e.progress, 5*time.Second)
				if err := w.Wait(context.Background(), e.tenant, streamstats.Name); err != nil {
					t.Fatalf("the healthy projector is held up: %v", err)
				}
				parked := waitParked(t, e, "recorder")
				if !strings.Contains(parked.Error, c.error) {
					t.Fatalf("parked: %+v", parked)
				}
				e.waitApplied(t, 4) // and not 5: nothing of the failed event was written
			})
		}
	}
}

func waitParked(t *testing.T, e *env, projector string) projections.Parked {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := projections.ReadStatus(context.Background(), e.pool, []string{projector})
		if err != nil {
			t.Fatal(err)
		}
		if len(st[0].Parked) > 0 {
			return st[0].Parked[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s parked nothing", projector)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The poll reads at most a batch whatever the backlog: an index range
// scan on the primary key with the LIMIT at the top, not a scan of the
// whole unprocessed log.
//
// Not parallel: its long insert holds the cluster-wide snapshot horizon,
// which every projector of every test database waits behind.
func TestPollIsAnIndexRangeScanOnABigBacklog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, occurred_at)
		SELECT gen_random_uuid(), $1, 'note', gen_random_uuid(), 1, 'test.noted', '{"seq": 1}', now()
		FROM generate_series(1, 100000)`, e.tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `ANALYZE events`); err != nil {
		t.Fatal(err)
	}
	check := func(name string, plan []string) {
		t.Helper()
		text := strings.Join(plan, "\n")
		if !strings.HasPrefix(strings.TrimSpace(plan[0]), "Limit") || !strings.Contains(text, "Index Scan using events_pkey") ||
			strings.Contains(text, "Sort") || strings.Contains(text, "Seq Scan") {
			t.Fatalf("%s: the poll is not a bounded index range scan:\n%s", name, text)
		}
		if !strings.Contains(text, "rows=100 loops=1") {
			t.Fatalf("%s: the poll read more than a batch:\n%s", name, text)
		}
	}
	check("custom plan", explain(t, e.pool, `EXPLAIN (ANALYZE, FORMAT TEXT) `+projections.PollSQL, "0", 0, 100))

	// The projectors' connections plan their statements once
	// (plan_cache_mode = force_generic_plan, internal/app): the generic
	// plan, which does not know the batch size, must be the same scan.
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, sql := range []string{`SET plan_cache_mode = force_generic_plan`, `PREPARE generic_poll AS ` + projections.PollSQL} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { _, _ = conn.Exec(ctx, `DEALLOCATE generic_poll; RESET plan_cache_mode`) }()
	check("generic plan", explain(t, conn, `EXPLAIN (ANALYZE, FORMAT TEXT) EXECUTE generic_poll('0', 0, 100)`))

	// A lease taker's warm-up of its row cache walks the same key
	// backwards, as far as WarmEvents, on the projectors' generic plan.
	if _, err := conn.Exec(ctx, `PREPARE generic_warm AS `+projections.WarmSQL); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(ctx, `DEALLOCATE generic_warm`) }()
	warm := strings.Join(explain(t, conn, `EXPLAIN (ANALYZE, FORMAT TEXT) EXECUTE generic_warm`), "\n")
	if !strings.Contains(warm, "Index Scan Backward using events_pkey") || strings.Contains(warm, "Seq Scan") ||
		!strings.Contains(warm, fmt.Sprintf("rows=%d loops=1", projections.WarmEvents)) {
		t.Fatalf("the warm-up does not walk the log's key back %d events:\n%s", projections.WarmEvents, warm)
	}
}

// explain returns the lines of an EXPLAIN.
func explain(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
