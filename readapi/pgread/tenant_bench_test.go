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
// before migration 00060), through scoped (as crm_reader, role and
// organization set in the same batch), and on a pool whose connections
// became crm_reader when they connected (the batch sets the organization
// only), in turn, so that a busy machine slows them alike. Run with:
//
//	go test -run '^$' -bench TenantScope -benchtime 2s ./readapi/pgread/
func BenchmarkTenantScope(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 1 // one connection per pool: every way takes the same path to the server
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
	// Each way has a connection of its own: a statement prepared once and
	// run in turn as the owner and as the reader would be planned again
	// at every change of role (its plan depends on the role under RLS),
	// which the server never does (the owner never runs pgread's SQL).
	opool, err := pgxpool.NewWithConfig(ctx, pool.Config())
	if err != nil {
		b.Fatal(err)
	}
	defer opool.Close()
	// deal reads the one row of a read by id.
	deal := func(rows pgx.Rows, err error) error {
		if err != nil {
			return err
		}
		_, err = pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (any, error) { return scanDeal(r) })
		return err
	}
	plain := func() error { return deal(opool.Query(ctx, sql, org, id)) }
	db := reader{pool: pool}.as(org)
	scopedRead := func() error { return deal(db.Query(ctx, sql, org, id)) }
	// The alternative design: a pool of its own whose connections become
	// the reader once (SET ROLE on connect), the batch setting only the
	// organization.
	rcfg := pool.Config()
	rcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE `+ReaderRole)
		return err
	}
	rpool, err := pgxpool.NewWithConfig(ctx, rcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer rpool.Close()
	perConn := func() error {
		bt := &pgx.Batch{}
		bt.Queue(`SELECT set_config('crm.org_id', $1, true)`, org.String())
		bt.Queue(sql, org, id)
		br := rpool.SendBatch(ctx, bt)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		return deal(br.Query())
	}
	ways := []struct {
		name string
		run  func() error
		lat  []time.Duration
	}{{name: "owner", run: plain}, {name: "reader", run: scopedRead}, {name: "reader-per-conn", run: perConn}}
	for range 50 { // prepare the statements, warm the caches
		for _, w := range ways {
			if err := w.run(); err != nil {
				b.Fatalf("%s: %v", w.name, err)
			}
		}
	}
	for b.Loop() {
		for range 100 {
			for i := range ways {
				t0 := time.Now()
				if err := ways[i].run(); err != nil {
					b.Fatal(err)
				}
				ways[i].lat = append(ways[i].lat, time.Since(t0))
			}
		}
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	for _, w := range ways {
		slices.Sort(w.lat)
		b.ReportMetric(us(w.lat[len(w.lat)/2]), w.name+"-p50-µs")
		b.ReportMetric(us(w.lat[len(w.lat)*99/100]), w.name+"-p99-µs")
	}
}
