package pgread_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
	"example.com/crm/readapi/rediscache"
)

// BenchmarkAnalyticsAt100k measures the W3 analytics queries of
// BENCHMARKS.md on the read model alone (no HTTP): an organization with
// 100k deals (2 % deleted; 4 statuses, 4 stages, 3 currencies, created
// over the last 60 days, so new_deals_last_30_days has real edges) beside
// one of 50k. Rows are written straight into deals and the counters
// filled by GROUP BY, as a rebuild fills them. It checks the
// answers against direct counts, then reports p50/p99 of:
//
//   - summary / funnel: the queries alone (eventual: no wait);
//   - summary_read_your_writes: with the wait for the projector (two
//     more indexed single-row queries: the horizon and the checkpoint);
//   - summary_cache_hit: through the Redis cache (horizon + GET);
//   - scan_group_by: what the summary's sums cost without aggregates (a
//     GROUP BY over the organization's deals), for comparison.
//
// Run with:
//
//	go test -run '^$' -bench AnalyticsAt100k -benchtime 1x ./readapi/pgread/
func BenchmarkAnalyticsAt100k(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	org, other := uuid.New(), uuid.New()
	start := time.Now()
	populateAnalytics(b, pool, org, 100_000)
	populateAnalytics(b, pool, other, 50_000)
	// One event of the organization, and the checkpoint on it, for the
	// read-your-writes wait.
	if _, err := pool.Exec(ctx, `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, occurred_at)
		VALUES (gen_random_uuid(), $1, 'deal', gen_random_uuid(), 1, 'deal.deleted', '{}', now());
		`, org); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO projector_checkpoints SELECT 'deals', position, transaction_id FROM events`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE deals, deal_counts, analytics_deal_reached, analytics_deal_created, events, projector_checkpoints`); err != nil {
		b.Fatal(err)
	}
	b.Logf("populated in %v", time.Since(start).Round(time.Millisecond))

	eventual := readapi.WithEventualConsistency(ctx)
	q := pgread.NewAnalytics(pool, nil)
	waiter := projections.NewWaiter(pool, projections.NewProgress(), 2*time.Second)
	strong := pgread.NewAnalytics(pool, waiter)

	// The answers agree with direct counts.
	s, err := q.DealSummary(eventual, org)
	if err != nil {
		b.Fatal(err)
	}
	var live, recent int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE created_at >= now() - interval '720 hours')
		FROM deals WHERE org_id = $1 AND NOT deleted`, org).Scan(&live, &recent); err != nil {
		b.Fatal(err)
	}
	if s.TotalDeals != live || s.NewDealsLast30Days != recent {
		b.Fatalf("summary says %d deals, %d new; the rows say %d and %d", s.TotalDeals, s.NewDealsLast30Days, live, recent)
	}
	b.Logf("summary: %d deals, %d in the last 30 days, win rate %v", s.TotalDeals, s.NewDealsLast30Days, s.WinRate)

	var cache readapi.Analytics
	opt, err := redis.ParseURL(testenv.Redis(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if cache, err = rediscache.NewAnalytics(strong, rediscache.Options{Redis: rdb, Waiter: waiter}); err != nil {
		b.Fatal(err)
	}

	queries := []struct {
		name string
		run  func() error
	}{
		{"summary", func() error { _, err := q.DealSummary(eventual, org); return err }},
		{"funnel", func() error { _, err := q.DealFunnel(eventual, org); return err }},
		{"summary_read_your_writes", func() error { _, err := strong.DealSummary(ctx, org); return err }},
		{"funnel_read_your_writes", func() error { _, err := strong.DealFunnel(ctx, org); return err }},
		{"summary_cache_hit", func() error { _, err := cache.DealSummary(ctx, org); return err }},
		{"scan_group_by", func() error {
			rows, err := pool.Query(ctx, `SELECT status, currency, count(*), sum(amount_cents) FROM deals
				WHERE org_id = $1 AND NOT deleted GROUP BY status, currency`, org)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}},
	}
	for _, qu := range queries {
		b.Run(qu.name, func(b *testing.B) {
			for range 20 { // warm the caches and the prepared statements
				if err := qu.run(); err != nil {
					b.Fatal(err)
				}
			}
			var lat []time.Duration
			for b.Loop() {
				for range 500 {
					t0 := time.Now()
					if err := qu.run(); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
		})
	}
}

// populateAnalytics writes n deals of org into deals, and their counters
// as the projector would have kept them.
func populateAnalytics(b *testing.B, pool *pgxpool.Pool, org uuid.UUID, n int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	load := `INSERT INTO deals (org_id, id, contact_id, owner_id, title, status, stage, furthest_stage, currency, amount_cents,
		                   created_at, updated_at, deleted, version)
		SELECT $1, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'D' || i,
		       (ARRAY['new','in_progress','won','lost'])[1 + i % 4],
		       (ARRAY['qualification','proposal','negotiation','closed'])[1 + (i / 4) % 4],
		       (ARRAY['qualification','proposal','negotiation','closed'])[greatest(1 + (i / 4) % 4, 1 + (i / 16) % 4)],
		       (ARRAY['USD','EUR','GBP'])[1 + i % 3],
		       (i % 100000) * 100 + 99,
		       now() - (i % 1440) * interval '1 hour' - (i % 3600) * interval '1 second', now(),
		       i % 50 = 0, 3
		FROM generate_series(1, $2::int) i`
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{load, []any{org, n}},
		{`INSERT INTO deal_counts (org_id, status, stage, currency, n, total_cents)
		  SELECT org_id, status, stage, currency, count(*), sum(amount_cents)
		  FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2, 3, 4`, []any{org}},
		{`INSERT INTO analytics_deal_reached SELECT org_id, furthest_stage, count(*)
		  FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2`, []any{org}},
		{`INSERT INTO analytics_deal_created SELECT org_id, date_trunc('hour', created_at, 'UTC'), count(*)
		  FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2`, []any{org}},
	} {
		if _, err := conn.Exec(ctx, st.sql, st.args...); err != nil {
			b.Fatalf("%v\n%s", err, st.sql)
		}
	}
}
