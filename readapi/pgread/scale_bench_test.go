package pgread_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

// BenchmarkQueriesAt100k measures the W3 queries of BENCHMARKS.md on the
// read models alone (no HTTP, no wait): an organization with 100k deals,
// 30k contacts, 200k tasks and a 1,000-entry timeline, beside a second
// organization of half that size. Rows are written straight into the
// tables (the projectors are not what is measured). It reports p50/p99
// per query; -v also logs each query's plan. Run with:
//
//	go test -run '^$' -bench QueriesAt100k -benchtime 1x ./readapi/pgread/
func BenchmarkQueriesAt100k(b *testing.B) {
	ctx := context.Background()
	// CRM_BENCH_DATABASE_URL names a migrated database to keep between
	// runs (populated once, for working on the queries); by default a
	// fresh database is populated.
	dsn, keep := os.LookupEnv("CRM_BENCH_DATABASE_URL")
	if !keep {
		dsn = testenv.Postgres(b)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
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
	if keep {
		org, other = uuid.NewSHA1(uuid.NameSpaceOID, []byte("bench org")), uuid.NewSHA1(uuid.NameSpaceOID, []byte("bench other"))
	}
	var populated bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deals WHERE org_id = $1)`, org).Scan(&populated); err != nil {
		b.Fatal(err)
	}
	if !populated {
		start := time.Now()
		populate(b, pool, org, 1)
		populate(b, pool, other, 2)
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE contacts, deals, deal_titles, tasks, activities`); err != nil {
			b.Fatal(err)
		}
		b.Logf("populated in %v", time.Since(start).Round(time.Millisecond))
	}
	q := pgread.New(pool, nil)
	owner := ownerID(org, 3)
	contact := seqID(org, 1, 777)
	deal := seqID(org, 2, 1) // the one with the long timeline
	lo, hi := amount(b, "1000"), amount(b, "5000")

	queries := []struct {
		name string
		run  func() (int, error)
	}{
		{"deals default page", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{})
			return len(l.Items), err
		}},
		{"deals page 50", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Page: readapi.Page{Page: 50, PageSize: 20}})
			return len(l.Items), err
		}},
		{"deals page 4000", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Page: readapi.Page{Page: 4000, PageSize: 20}})
			return len(l.Items), err
		}},
		{"deals last page", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Page: readapi.Page{Page: 980, PageSize: 100}})
			return len(l.Items), err
		}},
		{"deals by title page 2000", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{OrderBy: readapi.DealsByTitle, Order: readapi.Asc, Page: readapi.Page{Page: 2000, PageSize: 20}})
			return len(l.Items), err
		}},
		{"deals status=won page 1000", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Statuses: []string{"won"}, Page: readapi.Page{Page: 1000, PageSize: 20}})
			return len(l.Items), err
		}},
		{"deals created_after (all) page 2", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{CreatedAfter: benchBase, Page: readapi.Page{Page: 2, PageSize: 20}})
			return len(l.Items), err
		}},
		{"deals status=won by amount desc", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Statuses: []string{"won"}, OrderBy: readapi.DealsByAmount})
			return len(l.Items), err
		}},
		{"deals status=new,in_progress stage=proposal", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Statuses: []string{"new", "in_progress"}, Stages: []string{"proposal"}})
			return len(l.Items), err
		}},
		{"deals owner by updated_at", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{OwnerID: owner, OrderBy: readapi.DealsByUpdatedAt})
			return len(l.Items), err
		}},
		{"deals contact", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{ContactID: contact})
			return len(l.Items), err
		}},
		{"deals USD amount 1000..5000 by title", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Currency: "USD", MinAmount: &lo, MaxAmount: &hi, OrderBy: readapi.DealsByTitle, Order: readapi.Asc})
			return len(l.Items), err
		}},
		{"deals search title, 100 matches", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Search: "initech 42 renewal"})
			return len(l.Items), err
		}},
		{"deals search title, 1 match", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Search: "renewal 4242"})
			return len(l.Items), err
		}},
		{"deals search title, 20k matches", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Search: "umbrella"})
			return len(l.Items), err
		}},
		{"deals search title, 20k matches, page 500", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Search: "umbrella", Page: readapi.Page{Page: 500, PageSize: 20}})
			return len(l.Items), err
		}},
		{"deals search title, 100k matches by amount", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Search: "renewal", OrderBy: readapi.DealsByAmount})
			return len(l.Items), err
		}},
		{"deals search title, 1k matches", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{Search: "globex 42"})
			return len(l.Items), err
		}},
		{"deals created in the last 10 days", func() (int, error) {
			l, err := q.ListDeals(ctx, org, readapi.DealFilter{CreatedAfter: benchBase.Add(60 * 24 * time.Hour)})
			return len(l.Items), err
		}},
		{"contacts default page", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{})
			return len(l.Items), err
		}},
		{"contacts by name", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{OrderBy: readapi.ContactsByName, Order: readapi.Asc})
			return len(l.Items), err
		}},
		{"contacts search name", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{Search: "smith 12"})
			return len(l.Items), err
		}},
		{"contacts search, 5k matches", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{Search: "smith"})
			return len(l.Items), err
		}},
		{"contacts search, 27k matches, page 1000", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{Search: "example", Page: readapi.Page{Page: 1000, PageSize: 20}})
			return len(l.Items), err
		}},
		{"contacts page 1400", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{Page: readapi.Page{Page: 1400, PageSize: 20}})
			return len(l.Items), err
		}},
		{"contacts search email", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{Search: "user2345@"})
			return len(l.Items), err
		}},
		{"contacts search phone", func() (int, error) {
			l, err := q.ListContacts(ctx, org, readapi.ContactFilter{Search: "555 0123"})
			return len(l.Items), err
		}},
		{"tasks default (due asc)", func() (int, error) {
			l, err := q.ListTasks(ctx, org, readapi.TaskFilter{})
			return len(l.Items), err
		}},
		{"tasks due_before", func() (int, error) {
			l, err := q.ListTasks(ctx, org, readapi.TaskFilter{DueBefore: benchBase.Add(30 * 24 * time.Hour)})
			return len(l.Items), err
		}},
		{"tasks open due_before", func() (int, error) {
			l, err := q.ListTasks(ctx, org, readapi.TaskFilter{OnlyOpen: true, DueBefore: benchBase.Add(30 * 24 * time.Hour)})
			return len(l.Items), err
		}},
		{"tasks due_before page 3000", func() (int, error) {
			l, err := q.ListTasks(ctx, org, readapi.TaskFilter{DueBefore: benchBase.Add(300 * 24 * time.Hour), Page: readapi.Page{Page: 3000, PageSize: 20}})
			return len(l.Items), err
		}},
		{"tasks by created_at page 9000", func() (int, error) {
			l, err := q.ListTasks(ctx, org, readapi.TaskFilter{OrderBy: readapi.TasksByCreatedAt, Page: readapi.Page{Page: 9000, PageSize: 20}})
			return len(l.Items), err
		}},
		{"tasks of a deal", func() (int, error) {
			l, err := q.ListTasks(ctx, org, readapi.TaskFilter{DealID: seqID(org, 2, 4242)})
			return len(l.Items), err
		}},
		{"timeline of 1000", func() (int, error) {
			l, err := q.ListActivities(ctx, org, deal, readapi.ActivityFilter{})
			return len(l.Items), err
		}},
		{"timeline comments newest first", func() (int, error) {
			l, err := q.ListActivities(ctx, org, deal, readapi.ActivityFilter{Order: readapi.Desc, Types: []string{"comment"}})
			return len(l.Items), err
		}},
		{"get deal", func() (int, error) {
			_, err := q.GetDeal(ctx, org, seqID(org, 2, 99))
			return 1, err
		}},
	}
	for _, qu := range queries {
		b.Run(strings.ReplaceAll(qu.name, " ", "_"), func(b *testing.B) {
			for range 20 { // warm the caches and the prepared statements
				if n, err := qu.run(); err != nil || n == 0 {
					b.Fatalf("%d items, %v", n, err)
				}
			}
			var lat []time.Duration
			for b.Loop() {
				for range 200 {
					t0 := time.Now()
					if _, err := qu.run(); err != nil {
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
	// The alternative for totals: count(*) OVER () in the page query.
	b.Run("deals_default_page_count_over", func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			for range 100 {
				t0 := time.Now()
				rows, err := pool.Query(ctx, `SELECT id, count(*) OVER () FROM deals WHERE org_id = $1 AND NOT deleted
					ORDER BY created_at DESC, id DESC LIMIT 20`, org)
				if err != nil {
					b.Fatal(err)
				}
				rows.Close()
				lat = append(lat, time.Since(t0))
			}
		}
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

var benchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// seqID is a deterministic id: kind 1 contacts, 2 deals, 3 tasks, 4
// activities, numbered from 1, distinct per organization.
func seqID(org uuid.UUID, kind, n int) uuid.UUID {
	return uuid.NewSHA1(org, []byte(fmt.Sprintf("%d/%d", kind, n)))
}

func ownerID(org uuid.UUID, n int) uuid.UUID { return seqID(org, 0, n) }

// populate writes an organization of 100k deals (2% deleted), 30k
// contacts, 200k tasks and 200k timeline entries (1,000 on deal 1), divided
// by div. SQL builds the ids with the same uuid v5 as seqID.
func populate(b *testing.B, pool *pgxpool.Pool, org uuid.UUID, div int) {
	b.Helper()
	ctx := context.Background()
	stmts := []string{
		`CREATE EXTENSION IF NOT EXISTS pgcrypto`,
		// uuid v5 (SHA-1) in SQL, as uuid.NewSHA1 computes it.
		`CREATE OR REPLACE FUNCTION bench_id(ns uuid, name text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
			SELECT encode(set_byte(set_byte(substring(h FROM 1 FOR 16), 6, (get_byte(h, 6) & 15) | 80), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
			FROM (SELECT digest(decode(replace(ns::text, '-', ''), 'hex') || convert_to(name, 'UTF8'), 'sha1') AS h) x $$`,
		fmt.Sprintf(`INSERT INTO contacts (org_id, id, owner_id, name, email, phone, version, created_at, updated_at)
			SELECT $1, bench_id($1, '1/' || i), bench_id($1, '0/' || (i %% 20)),
			       (ARRAY['Smith','Jones','Garcia','Miller','Davis','Lopez'])[1 + i %% 6] || ' ' || i || ' ' || substr(md5(i::text), 1, 6),
			       CASE WHEN i %% 10 <> 0 THEN 'user' || i || '@example' || (i %% 50) || '.com' END,
			       CASE WHEN i %% 4 <> 0 THEN '+1 555 ' || lpad(i::text, 4, '0') END,
			       1, $2::timestamptz + i * interval '1 minute', $2::timestamptz + i * interval '1 minute'
			FROM generate_series(1, %d) i`, 30000/div),
		fmt.Sprintf(`INSERT INTO deals (org_id, id, contact_id, owner_id, title, amount_cents, currency, status, stage,
			                            furthest_stage, closed_at, version, deleted, created_at, updated_at)
			SELECT $1, bench_id($1, '2/' || i), bench_id($1, '1/' || (1 + i %% %d)), bench_id($1, '0/' || (i %% 20)),
			       (ARRAY['ACME','Globex','Initech','Umbrella','Hooli'])[1 + i %% 5] || ' ' || (i %% 1000) || ' renewal ' || i,
			       (hashint4(i) & 2147483647) %% 1000000000, (ARRAY['USD','EUR','GBP'])[1 + i %% 3],
			       (ARRAY['new','in_progress','won','lost'])[1 + (i / 7) %% 4],
			       (ARRAY['qualification','proposal','negotiation','closed'])[1 + (i / 3) %% 4],
			       'closed', NULL, 5, i %% 50 = 0,
			       $2::timestamptz + i * interval '1 minute', $2::timestamptz + i * interval '1 minute' + (i %% 97) * interval '1 hour'
			FROM generate_series(1, %d) i`, 30000/div, 100000/div),
		fmt.Sprintf(`INSERT INTO tasks (org_id, id, deal_id, title, description, due_date, is_done, version, created_at, updated_at)
			SELECT $1, bench_id($1, '3/' || i), bench_id($1, '2/' || (1 + i %% %d)), 'Task ' || i, NULL,
			       $2::date + (i %% 365), i %% 3 = 0, 1, $2::timestamptz + i * interval '30 seconds', $2::timestamptz + i * interval '30 seconds'
			FROM generate_series(1, %d) i`, 100000/div, 200000/div),
		fmt.Sprintf(`INSERT INTO activities (org_id, id, deal_id, author_id, type, payload, created_at)
			SELECT $1, bench_id($1, '4/' || i), bench_id($1, '2/' || CASE WHEN i <= 1000 THEN 1 ELSE 1 + i %% %d END),
			       bench_id($1, '0/' || (i %% 20)), CASE WHEN i %% 5 = 0 THEN 'comment' ELSE 'stage_changed' END,
			       '{"text": "hello"}', $2::timestamptz + i * interval '1 minute'
			FROM generate_series(1, %d) i`, 100000/div, 200000/div),
		// The counter tables the projectors keep (migration 00006 dropped
		// their triggers): what list totals and deep pages read.
		`INSERT INTO contact_counts (org_id, owner_id, n)
			SELECT org_id, owner_id, count(*) FROM contacts WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2`,
		`INSERT INTO deal_counts (org_id, status, stage, currency, n, total_cents)
			SELECT org_id, status, stage, currency, count(*), sum(amount_cents) FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2, 3, 4`,
		// The deals' search side table (migration 00080).
		`INSERT INTO deal_titles (org_id, id, title) SELECT org_id, id, title FROM deals WHERE org_id = $1 AND NOT deleted`,
		`INSERT INTO task_counts (org_id, due_date, is_done, n)
			SELECT org_id, due_date, is_done, count(*) FROM tasks WHERE org_id = $1 AND NOT deleted AND NOT deal_deleted GROUP BY 1, 2, 3`,
	}
	for _, s := range stmts {
		if _, err := pool.Exec(ctx, s, pgArgs(s, org)...); err != nil {
			b.Fatalf("%v\n%s", err, s)
		}
	}
	// seqID must agree with bench_id.
	var got uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT bench_id($1, '2/1')`, org).Scan(&got); err != nil || got != seqID(org, 2, 1) {
		b.Fatalf("bench_id %s, seqID %s (%v)", got, seqID(org, 2, 1), err)
	}
}

// pgArgs passes the organization and the base time to the statements
// that use them.
func pgArgs(stmt string, org uuid.UUID) []any {
	switch {
	case strings.Contains(stmt, "$2"):
		return []any{org, benchBase}
	case strings.Contains(stmt, "$1") && !strings.Contains(stmt, "FUNCTION"):
		return []any{org}
	}
	return nil
}
