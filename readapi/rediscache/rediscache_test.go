package rediscache_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
	"example.com/crm/readapi"
	"example.com/crm/readapi/rediscache"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fake stands for the PostgreSQL queries: every computation answers a
// new number, so a test tells a cached answer from a computed one.
type fake struct {
	mu       sync.Mutex
	computed int64
	waited   []bool // per computation: was ctx read-your-writes?
}

func (f *fake) DealSummary(ctx context.Context, _ uuid.UUID) (readapi.DealSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.computed++
	f.waited = append(f.waited, !readapi.IsEventual(ctx))
	return readapi.DealSummary{TotalDeals: f.computed, WinRate: readapi.RateOf(2, 3)}, nil
}

func (f *fake) DealFunnel(ctx context.Context, _ uuid.UUID) (readapi.DealFunnel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.computed++
	f.waited = append(f.waited, !readapi.IsEventual(ctx))
	return readapi.DealFunnel{Stages: []readapi.FunnelStage{{Stage: "qualification", Count: f.computed}}}, nil
}

func (f *fake) count() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.computed
}

// env is an event store whose "deals" checkpoint (what analytics wait on) the test moves by
// hand (advance), in place of the projector.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	store  *pgstore.Store
	org    uuid.UUID
	waiter *projections.Waiter
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &env{t: t, pool: pool, store: pgstore.New(pool, events.Domain(), pgstore.Hooks{}), org: uuid.New(),
		waiter: projections.NewWaiter(pool, projections.NewProgress(), 300*time.Millisecond)}
}

// command appends one event of the organization, as a command would.
func (e *env) command() {
	e.t.Helper()
	id := uuid.New()
	if _, err := e.store.Append(context.Background(), events.Batch{
		Metadata: events.Metadata{TenantID: e.org},
		Streams: []events.Append{{Stream: events.Stream{TenantID: e.org, Type: events.StreamContact, ID: id},
			Events: []events.Pending{{Data: events.ContactCreated{ContactID: id, Name: "C"}, OccurredAt: time.Now()}}}},
	}); err != nil {
		e.t.Fatal(err)
	}
}

// advance moves the deals checkpoint past every stored event.
func (e *env) advance() {
	e.t.Helper()
	if _, err := e.pool.Exec(context.Background(), `
		INSERT INTO projector_checkpoints (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT 'deals', position, transaction_id FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1
		ON CONFLICT (consumer_group) DO UPDATE
		SET offset_acked = EXCLUDED.offset_acked, last_processed_transaction_id = EXCLUDED.last_processed_transaction_id`); err != nil {
		e.t.Fatal(err)
	}
}

func newRedis(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func summary(t *testing.T, c readapi.Analytics, ctx context.Context, org uuid.UUID) int64 {
	t.Helper()
	s, err := c.DealSummary(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if s.WinRate == nil || *s.WinRate != 6667 {
		t.Fatalf("the answer did not survive the round trip: %+v", s)
	}
	return s.TotalDeals
}

func TestAnEntryServesOnlyItsHorizon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := newRedis(t, testenv.Redis(t))
	reg := prometheus.NewRegistry()
	f := &fake{}
	c, err := rediscache.NewAnalytics(f, rediscache.Options{Redis: rdb, Waiter: e.waiter, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.command()
	e.advance()

	if n := summary(t, c, ctx, e.org); n != 1 {
		t.Fatalf("first answer %d", n)
	}
	if n := summary(t, c, ctx, e.org); n != 1 || f.count() != 1 {
		t.Fatalf("second answer %d after %d computations: not served from the cache", n, f.count())
	}
	keys, err := rdb.Keys(ctx, "crm:"+e.org.String()+":analytics:summary:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > rediscache.TTL {
		t.Fatalf("ttl %v", ttl)
	}
	// The funnel has entries of its own.
	if _, err := c.DealFunnel(ctx, e.org); err != nil || f.count() != 2 {
		t.Fatalf("funnel: %v, %d computations", err, f.count())
	}
	if fu, err := c.DealFunnel(ctx, e.org); err != nil || fu.Stages[0].Count != 2 || f.count() != 2 {
		t.Fatalf("funnel again: %+v, %v, %d computations", fu, err, f.count())
	}

	// A command is acknowledged: the entry no longer answers. While the
	// projector has not caught up, the query waits (and here gives up)
	// rather than serve the old answer.
	e.command()
	if _, err := c.DealSummary(ctx, e.org); crm.ErrorCode(err) != crm.CodeProjectionBehind {
		t.Fatalf("behind the projector: %v", err)
	}
	e.advance()
	if n := summary(t, c, ctx, e.org); n != 3 {
		t.Fatalf("after a command: %d", n)
	}

	// An eventual miss computes without waiting, and is not stored: it
	// may reflect less than the horizon it was asked at.
	e.command()
	if n := summary(t, c, readapi.WithEventualConsistency(ctx), e.org); n != 4 {
		t.Fatalf("eventual: %d", n)
	}
	e.advance()
	if n := summary(t, c, ctx, e.org); n != 5 {
		t.Fatalf("after an eventual miss: %d (served what the eventual read computed)", n)
	}
	// An eventual hit is as good as any.
	if n := summary(t, c, readapi.WithEventualConsistency(ctx), e.org); n != 5 {
		t.Fatalf("eventual hit: %d", n)
	}
	// The next layer never waits again: the cache waited for it.
	for i, w := range f.waited {
		if w {
			t.Errorf("computation %d waited for the projector itself", i+1)
		}
	}

	// Another organization never sees these entries.
	other := *e
	other.org = uuid.New()
	other.command()
	other.advance()
	if n := summary(t, c, ctx, other.org); n != 6 {
		t.Fatalf("other org: %d", n)
	}

	hits := counterValue(t, reg, "crm_cache_hits_total", "summary")
	misses := counterValue(t, reg, "crm_cache_misses_total", "summary")
	if hits != 2 || misses != 6 {
		t.Fatalf("summary hits %v, misses %v; want 2 and 6", hits, misses)
	}
}

// counterValue reads one labelled counter among what reg gathers.
func counterValue(t *testing.T, reg *prometheus.Registry, name, query string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "query" && l.GetValue() == query {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{query=%q}", name, query)
	return 0
}

func TestAGarbledEntryIsRecomputed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rdb := newRedis(t, testenv.Redis(t))
	f := &fake{}
	c, err := rediscache.NewAnalytics(f, rediscache.Options{Redis: rdb, Waiter: e.waiter})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.command()
	e.advance()
	summary(t, c, ctx, e.org)
	keys := rdb.Keys(ctx, "crm:"+e.org.String()+":analytics:summary:*").Val()
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	rdb.Set(ctx, keys[0], "{not json", time.Minute)
	if n := summary(t, c, ctx, e.org); n != 2 {
		t.Fatalf("garbled entry: %d", n)
	}
	if n := summary(t, c, ctx, e.org); n != 2 {
		t.Fatalf("the garbled entry was not replaced: %d", n)
	}
}

// With Redis down, every answer is computed (with read-your-writes), and
// no error reaches the caller; after a failure the cache pauses, so an
// outage does not cost a Redis timeout per request (nor a failed dial:
// go-redis retries those with a backoff).
func TestRedisDownChangesSpeedNotAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	f := &fake{}
	c, err := rediscache.NewAnalytics(f, rediscache.Options{Redis: newRedis(t, "redis://"+addr+"/0"), Waiter: e.waiter})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.command()
	e.advance()
	for i := range 5 {
		start := time.Now()
		if n := summary(t, c, ctx, e.org); n != int64(i+1) {
			t.Fatalf("answer %d: %d", i, n)
		}
		if i > 0 && time.Since(start) > 50*time.Millisecond {
			t.Errorf("answer %d took %v: the cache did not pause", i, time.Since(start))
		}
	}
	// Read-your-writes still holds on the bypass: the cache waited for
	// the first answer, the next layer for the others.
	if f.waited[0] || !f.waited[1] || !f.waited[4] {
		t.Fatalf("read-your-writes: %v", f.waited)
	}
}

func TestWithoutRedisQueriesPassThrough(t *testing.T) {
	t.Parallel()
	f := &fake{}
	c, err := rediscache.NewAnalytics(f, rediscache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	org := uuid.New()
	summary(t, c, ctx, org)
	summary(t, c, ctx, org)
	if f.count() != 2 || !f.waited[0] || !f.waited[1] {
		t.Fatalf("%d computations, read-your-writes %v", f.count(), f.waited)
	}
	if _, err := c.DealSummary(ctx, uuid.Nil); !errors.Is(err, crm.ErrNoTenant) {
		t.Fatalf("no tenant: %v", err)
	}
	if _, err := rediscache.NewAnalytics(f, rediscache.Options{Redis: redis.NewClient(&redis.Options{})}); err == nil ||
		!strings.Contains(err.Error(), "Waiter") {
		t.Fatalf("a cache without a waiter: %v", err)
	}
}
