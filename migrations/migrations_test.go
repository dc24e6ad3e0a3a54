package migrations_test

import (
	"context"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
	"example.com/crm/migrations"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// emptyDatabase returns the URL of a new database without any schema.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin := connect(t, testenv.Postgres(t))
	name := "crm_migrate_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.WithoutCancel(ctx), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(admin.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func connect(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// rows reads a two-column query of one organization as key → value.
func rows(t *testing.T, pool *pgxpool.Pool, sql string, org uuid.UUID) map[string]string {
	t.Helper()
	out := map[string]string{}
	r, err := pool.Query(context.Background(), sql, org)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var k, v string
		if err := r.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Migration 00110 retires the analytics projector: its counters become
// the deals projector's. Whatever the analytics projector had reached,
// they must then equal what the deals rows say, since the deals
// checkpoint is the one that now vouches for them.
func TestTheAnalyticsCountersAreDerivedFromTheDealsWhenTheirProjectorGoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := emptyDatabase(t)
	if err := migrations.UpTo(ctx, dsn, 100); err != nil {
		t.Fatal(err)
	}
	pool := connect(t, dsn)
	org := uuid.New()
	at := func(hhmm string) time.Time {
		ts, err := time.Parse(time.RFC3339, "2026-03-01T"+hhmm+":00Z")
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	for _, d := range []struct {
		status, stage, furthest, currency string
		cents                             int64
		created                           time.Time
		deleted                           bool
	}{
		{"won", "closed", "closed", "USD", 1000, at("09:10"), false},
		{"won", "closed", "closed", "USD", 2500, at("09:50"), false},
		{"new", "qualification", "proposal", "EUR", 700, at("11:00"), false}, // rolled back
		{"won", "closed", "closed", "USD", 99999, at("11:30"), true},
	} {
		if _, err := pool.Exec(ctx, `
			INSERT INTO deals (org_id, id, contact_id, owner_id, title, status, stage, furthest_stage, currency,
			                   amount_cents, created_at, updated_at, deleted, version)
			VALUES ($1, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'D', $2, $3, $4, $5, $6, $7, $7, $8, 3)`,
			org, d.status, d.stage, d.furthest, d.currency, d.cents, d.created, d.deleted); err != nil {
			t.Fatal(err)
		}
	}
	for _, sql := range []string{
		// deal_counts as the deals projector kept it: counts only.
		`INSERT INTO deal_counts (org_id, status, stage, currency, n)
		 SELECT org_id, status, stage, currency, count(*) FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2, 3, 4`,
		// The analytics projector, behind the deals one.
		`INSERT INTO analytics_deal_reached VALUES ($1, 'closed', 1)`,
		`INSERT INTO analytics_deal_created VALUES ($1, '2026-03-01T09:00:00Z', 1)`,
		`INSERT INTO projector_checkpoints (consumer_group, offset_acked, last_processed_transaction_id) VALUES ('analytics', 1, '1')`,
	} {
		if _, err := pool.Exec(ctx, sql, pgArgs(sql, org)...); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
	}

	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			what string
			sql  string
			want map[string]string
		}{
			{"deal_counts", `SELECT concat_ws('/', status, stage, currency), n || ' ' || total_cents FROM deal_counts
				WHERE org_id = $1 AND n <> 0`, map[string]string{"won/closed/USD": "2 3500", "new/qualification/EUR": "1 700"}},
			{"reached", `SELECT stage, n::text FROM analytics_deal_reached WHERE org_id = $1 AND n <> 0`,
				map[string]string{"closed": "2", "proposal": "1"}},
			{"created", `SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24'), n::text FROM analytics_deal_created WHERE org_id = $1 AND n <> 0`,
				map[string]string{"09": "2", "11": "1"}},
		} {
			if got := rows(t, pool, c.sql, org); !maps.Equal(got, c.want) {
				t.Errorf("%s, %s: %v, want %v", when, c.what, got, c.want)
			}
		}
		var gone bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass('analytics_deals') IS NULL AND to_regclass('analytics_deal_cells') IS NULL
			AND NOT EXISTS (SELECT 1 FROM projector_checkpoints WHERE consumer_group = 'analytics')`).Scan(&gone); err != nil || !gone {
			t.Errorf("%s: the analytics projector's tables and checkpoint are still there (%v)", when, err)
		}
	}
	if _, err := migrations.Up(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	check("after the migration")

	// Down gives an older server its tables back (empty: it re-projects
	// them), and Up again derives the same counters.
	if err := migrations.DownTo(ctx, dsn, 100); err != nil {
		t.Fatal(err)
	}
	var back bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('analytics_deals') IS NOT NULL AND to_regclass('analytics_deal_cells') IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'deal_counts' AND column_name = 'total_cents')`).Scan(&back); err != nil || !back {
		t.Fatalf("after Down: the analytics tables are not back, or deal_counts still has its total (%v)", err)
	}
	if _, err := migrations.Up(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	check("after Down and Up again")
}

// pgArgs passes org to a statement that uses $1.
func pgArgs(sql string, org uuid.UUID) []any {
	if strings.Contains(sql, "$1") {
		return []any{org}
	}
	return nil
}
