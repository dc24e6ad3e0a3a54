package sales_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fillLog writes a realistic log straight into the events table: per
// deal its contact, the link, a stage move, a status change, a comment,
// a task (created and completed) and a title change; every tenth deal is
// deleted. About 10 events per deal, in one transaction.
func fillLog(tb testing.TB, pool *pgxpool.Pool, org uuid.UUID, deals int) int64 {
	tb.Helper()
	tag, err := pool.Exec(context.Background(), `
	WITH ids AS (
		SELECT i, md5('c' || $1::text || i)::uuid AS c, md5('d' || $1::text || i)::uuid AS d,
		       md5('t' || $1::text || i)::uuid AS t, md5('m' || $1::text || i)::uuid AS m,
		       md5('o' || (i % 7))::uuid AS owner
		FROM generate_series(1, $2::int) i
	), ev(i, k, stream_type, stream_id, version, event_type, payload) AS (
		SELECT i, 1, 'contact', c, 1, 'contact.created', jsonb_build_object('contact_id', c, 'owner_id', owner, 'name', 'Contact ' || i, 'email', NULL, 'phone', NULL) FROM ids
		UNION ALL SELECT i, 2, 'deal', d, 1, 'deal.created', jsonb_build_object('deal_id', d, 'contact_id', c, 'owner_id', owner, 'title', 'Deal ' || i, 'amount', (i % 1000) || '.50', 'currency', (ARRAY['USD','EUR'])[1 + i % 2], 'status', 'new', 'stage', 'qualification') FROM ids
		UNION ALL SELECT i, 3, 'contact', c, 2, 'contact.deal_linked', jsonb_build_object('deal_id', d) FROM ids
		UNION ALL SELECT i, 4, 'deal', d, 2, 'deal.stage_changed', '{"old": "qualification", "new": "proposal"}'::jsonb FROM ids
		UNION ALL SELECT i, 5, 'deal', d, 3, 'deal.status_changed', '{"old": "new", "new": "in_progress"}'::jsonb FROM ids
		UNION ALL SELECT i, 6, 'deal', d, 4, 'deal.commented', jsonb_build_object('comment_id', m, 'text', 'call back') FROM ids
		UNION ALL SELECT i, 7, 'deal', d, 5, 'deal.task_added', jsonb_build_object('task_id', t) FROM ids
		UNION ALL SELECT i, 8, 'task', t, 1, 'task.created', jsonb_build_object('task_id', t, 'deal_id', d, 'title', 'Task ' || i, 'description', NULL, 'due_date', '2030-01-' || lpad((1 + i % 28)::text, 2, '0')) FROM ids
		UNION ALL SELECT i, 9, 'task', t, 2, 'task.completed', jsonb_build_object('deal_id', d, 'title', 'Task ' || i) FROM ids
		UNION ALL SELECT i, 10, 'deal', d, 6, 'deal.updated', jsonb_build_object('changes', jsonb_build_object('title', jsonb_build_object('old', 'Deal ' || i, 'new', 'Deal #' || i))) FROM ids
		UNION ALL SELECT i, 11, 'deal', d, 7, 'deal.deleted', '{}'::jsonb FROM ids WHERE i % 10 = 0
	)
	INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, metadata, occurred_at)
	SELECT gen_random_uuid(), $1::uuid, stream_type, stream_id, version, event_type, payload,
	       jsonb_build_object('tenant_id', $1::uuid), now() - make_interval(secs => ($2 - i))
	FROM ev ORDER BY i, k`, org, deals)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `ANALYZE events`); err != nil {
		tb.Fatal(err)
	}
	return tag.RowsAffected()
}

// all is the server's set of projectors (internal/app.Projectors).
func all() []projections.Projector { return sales.Projectors() }

// BenchmarkRebuildAndCatchUp measures, on the test harness's PostgreSQL
// (fsync off), the two bulk paths of the read side over the same log:
// the live pipeline catching up from nothing (every projector, batches of
// 500) and a rebuild of every read model (fold, COPY, indexes, swap),
// then verifies that the two agree. Scale with CRM_BENCH_DEALS (default
// 100,000 deals ≈ 1M events):
//
//	go test -run '^$' -bench RebuildAndCatchUp -benchtime 1x ./projections/sales/
func BenchmarkRebuildAndCatchUp(b *testing.B) {
	deals := 100_000
	if v, err := strconv.Atoi(os.Getenv("CRM_BENCH_DEALS")); err == nil && v > 0 {
		deals = v
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	start := time.Now()
	n := fillLog(b, pool, uuid.New(), deals)
	b.Logf("log: %d events written in %v", n, time.Since(start).Round(time.Millisecond))

	if os.Getenv("CRM_BENCH_REBUILD_ONLY") != "" {
		res, err := projections.Rebuild(ctx, projections.RebuildOptions{Pool: pool, Registry: events.Domain(), Projectors: all(),
			Progress: phaseLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Events)/res.Bulk.Seconds(), "rebuild-events/s")
		return
	}
	start = time.Now()
	r, err := projections.NewRunner(projections.Config{Pool: pool, Registry: events.Domain(), Projectors: all()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()
	waitCaughtUp(b, pool, r.Names(), time.Hour)
	live := time.Since(start)
	b.ReportMetric(float64(n)/live.Seconds(), "live-events/s")
	b.Logf("live pipeline, 6 projectors: %d events each in %v = %.0f events/s per projector",
		n, live.Round(time.Millisecond), float64(n)/live.Seconds())

	opts := projections.RebuildOptions{Pool: pool, Registry: events.Domain(), Projectors: all(), Progress: phaseLogger(b)}
	res, err := projections.Rebuild(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Events)/res.Bulk.Seconds(), "rebuild-events/s")
	b.Logf("rebuild of every read model: %d events, bulk %v (%.0f events/s), total %v",
		res.Events, res.Bulk.Round(time.Millisecond), float64(res.Events)/res.Bulk.Seconds(), res.Total.Round(time.Millisecond))

	ver, err := projections.Verify(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	if len(ver.Differences) > 0 {
		b.Fatalf("verify: %v", ver.Differences)
	}
	_ = r.Close()
	<-done
	fmt.Fprintln(os.Stderr, "verify: equal")
}

// phaseLogger logs how long each phase of a rebuild took.
func phaseLogger(b *testing.B) func(string, int64, int64) {
	phaseStart, phase := time.Now(), ""
	return func(p string, _, _ int64) {
		if p != phase {
			if phase != "" {
				b.Logf("  phase %-9s %v", phase, time.Since(phaseStart).Round(time.Millisecond))
			}
			phase, phaseStart = p, time.Now()
		}
	}
}
