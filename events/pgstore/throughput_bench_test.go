package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/localpg"
	"example.com/crm/internal/testevents"
	"example.com/crm/migrations"
)

// BenchmarkAppendThroughput appends one event per command to fresh
// streams from 1, 8 and 32 clients on a durable private PostgreSQL
// (fsync on, synchronous_commit on: every acknowledged append is on
// disk), and reports appends/s and latency percentiles:
//
//	go test -run '^$' -bench AppendThroughput -benchtime 3000x ./events/pgstore/
//
// With CRM_BENCH_DATABASE_URL set it uses that database instead
// (migrated).
func BenchmarkAppendThroughput(b *testing.B) {
	ctx := context.Background()
	dsn := os.Getenv("CRM_BENCH_DATABASE_URL")
	if dsn == "" {
		c, err := localpg.Start(ctx, localpg.Options{DataDir: b.TempDir()})
		if err != nil {
			b.Skip("no PostgreSQL binaries: ", err)
		}
		b.Cleanup(func() { _ = c.Stop() })
		dsn = c.URL("postgres")
	}
	if _, err := migrations.Up(ctx, dsn); err != nil {
		b.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	// The authorized mode appends as one member of one organization, as
	// every command does (the append checks the membership and role).
	org, user := uuid.New(), uuid.New()
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email, email_lower, name, password_hash, created_at) VALUES ($1, $2, $2, 'U', 'x', now())`,
			[]any{user, user.String() + "@example.com"}},
		{`INSERT INTO organizations (id, name, version, created_at) VALUES ($1, 'O', 1, now())`, []any{org}},
		{`INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', now())`, []any{org, user}},
	} {
		if _, err := pool.Exec(ctx, st.sql, st.args...); err != nil {
			b.Fatal(err)
		}
	}
	for _, lanes := range []int{-1, 0, 2, 4} {
		store := pgstore.New(pool, testevents.Registry(), pgstore.Hooks{})
		mode := "solo"
		var auth *events.Authorization
		switch {
		case lanes < 0:
			mode, auth = "solo-authorized", &events.Authorization{OrgID: org, UserID: user, Role: "owner"}
		case lanes > 0:
			mode = fmt.Sprintf("group-%d-lanes", lanes)
		}
		for _, clients := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				if lanes > 0 {
					startGroupCommit(b, store, lanes)
				}
				tenant := uuid.New()
				if auth != nil {
					tenant = org
				}
				var mu sync.Mutex
				var lat []time.Duration
				next := make(chan struct{})
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var mine []time.Duration
						for range next {
							t0 := time.Now()
							s := testevents.Stream(tenant)
							if _, err := store.Append(ctx, events.Batch{Metadata: events.Metadata{TenantID: tenant}, Authorization: auth,
								Streams: []events.Append{{Stream: s, Expected: 0, Events: testevents.Notes(1, 1)}}}); err != nil {
								b.Error(err)
							}
							mine = append(mine, time.Since(t0))
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					}()
				}
				for range b.N {
					next <- struct{}{}
				}
				close(next)
				wg.Wait()
				elapsed := time.Since(start)
				slices.Sort(lat)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
			})
		}
	}
}
