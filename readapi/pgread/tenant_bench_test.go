package pgread

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
)

// BenchmarkTenantScope measures what row-level security costs one
// statement: a deal read by id, as the owner with no scope (the read path
// before migration 00040) and through scoped (as crm_reader, the
// organization set in the same batch), alternately, so that a busy
// machine slows both alike. Run with:
//
//	go test -run '^$' -bench TenantScope -benchtime 2s ./readapi/pgread/
func BenchmarkTenantScope(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 1 // one connection: both take the same path to the server
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	org := uuid.New()
	if _, err := pool.Exec(ctx, `
		INSERT INTO deals (org_id, id, contact_id, owner_id, title, amount_cents, currency, status, stage,
		                   furthest_stage, version, created_at, updated_at)
		SELECT CASE WHEN i % 2 = 0 THEN $1 ELSE gen_random_uuid() END, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
		       'deal ' || i, i, 'USD', 'new', 'qualification', 'qualification', 1, now(), now()
		FROM generate_series(1, 20000) i`, org); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE deals`); err != nil {
		b.Fatal(err)
	}
	var id uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM deals WHERE org_id = $1 LIMIT 1`, org).Scan(&id); err != nil {
		b.Fatal(err)
	}
	const sql = `SELECT ` + dealColumns + ` FROM deals WHERE org_id = $1 AND id = $2 AND NOT deleted`
	plain := func() error {
		rows, err := pool.Query(ctx, sql, org, id)
		if err != nil {
			return err
		}
		_, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (any, error) { return scanDeal(r) })
		return err
	}
	db := reader{pool: pool}.as(org)
	scopedRead := func() error {
		rows, err := db.Query(ctx, sql, org, id)
		if err != nil {
			return err
		}
		_, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (any, error) { return scanDeal(r) })
		return err
	}
	for range 50 { // prepare the statements, warm the caches
		if err := plain(); err != nil {
			b.Fatal(err)
		}
		if err := scopedRead(); err != nil {
			b.Fatal(err)
		}
	}
	var lp, ls []time.Duration
	for b.Loop() {
		for range 100 {
			t0 := time.Now()
			if err := plain(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := scopedRead(); err != nil {
				b.Fatal(err)
			}
			lp, ls = append(lp, t1.Sub(t0)), append(ls, time.Since(t1))
		}
	}
	slices.Sort(lp)
	slices.Sort(ls)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	b.ReportMetric(us(lp[len(lp)/2]), "owner-p50-µs")
	b.ReportMetric(us(ls[len(ls)/2]), "reader-p50-µs")
	b.ReportMetric(us(lp[len(lp)*99/100]), "owner-p99-µs")
	b.ReportMetric(us(ls[len(ls)*99/100]), "reader-p99-µs")
}
