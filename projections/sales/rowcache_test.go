package sales_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/internal/testenv"
	"example.com/crm/projections"
	"example.com/crm/projections/projectionstest"
	"example.com/crm/projections/sales"
)

// appendDealEvent writes one event of deal d straight into the log.
func appendDealEvent(t *testing.T, pool *pgxpool.Pool, org, d uuid.UUID, version int, typ, payload string) {
	t.Helper()
	appendEvent(t, pool, org, "deal", d, version, typ, payload)
}

// appendEvent writes one event of stream id, of type streamType,
// straight into the log.
func appendEvent(t *testing.T, pool *pgxpool.Pool, org uuid.UUID, streamType string, id uuid.UUID, version int, typ, payload string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO events (event_id, tenant_id, stream_type, stream_id, version, event_type, payload, metadata, occurred_at)
		VALUES (gen_random_uuid(), $1, $6, $2, $3, $4, $5::jsonb, jsonb_build_object('tenant_id', $1::uuid), now())`,
		org, id, version, typ, payload, streamType); err != nil {
		t.Fatal(err)
	}
}

// dealCreated is the payload of deal d's creation, with a new contact
// and owner.
func dealCreated(d uuid.UUID) string {
	return fmt.Sprintf(`{"deal_id":%q,"contact_id":%q,"owner_id":%q,"title":"t","amount":"10.00","currency":"USD","status":"new","stage":"qualification"}`,
		d, uuid.New(), uuid.New())
}

// batchLog keeps what a runner's OnBatch hook was told.
type batchLog struct {
	mu    sync.Mutex
	stats []projections.BatchStats
}

func (l *batchLog) add(st projections.BatchStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats = append(l.stats, st)
}

// readRows waits until the last batch reported was of n events (OnBatch
// runs after a batch is readable) and returns every batch's ReadRows.
func (l *batchLog) readRows(t *testing.T, n int) []bool {
	t.Helper()
	return l.await(t, func(got []projections.BatchStats) []projections.BatchStats {
		if len(got) > 0 && got[len(got)-1].Events == n {
			return got
		}
		return nil
	})
}

// first waits until n batches were reported and returns their ReadRows.
func (l *batchLog) first(t *testing.T, n int) []bool {
	t.Helper()
	return l.await(t, func(got []projections.BatchStats) []projections.BatchStats {
		if len(got) >= n {
			return got[:n]
		}
		return nil
	})
}

// await polls the batches reported until pick returns some, and returns
// their ReadRows.
func (l *batchLog) await(t *testing.T, pick func([]projections.BatchStats) []projections.BatchStats) []bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		got := slices.Clone(l.stats)
		l.mu.Unlock()
		if picked := pick(got); picked != nil {
			var out []bool
			for _, st := range picked {
				out = append(out, st.ReadRows)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("batches reported: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newPool connects to a fresh database of this test's.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// runDeals runs a runner of p until the test ends or stop is called,
// its row cache empty when it starts (projections.Config.ColdStart).
func runDeals(t *testing.T, pool *pgxpool.Pool, p projections.Projector, tracer pgx.QueryTracer) (stop func()) {
	t.Helper()
	return runDealsWith(t, pool, p, runOpts{tracer: tracer})
}

type runOpts struct {
	tracer  pgx.QueryTracer
	onBatch func(projections.BatchStats)
	// warm: the runner fills its row cache when it takes the lease.
	warm bool
	// with are more projectors for the same runner.
	with []projections.Projector
}

// runDealsWith is runDeals with more options.
func runDealsWith(t *testing.T, pool *pgxpool.Pool, p projections.Projector, o runOpts) (stop func()) {
	t.Helper()
	tracer := o.tracer
	cfg := pool.Config().Copy()
	cfg.ConnConfig.Tracer = tracer
	ppool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := projections.NewRunner(projections.Config{Pool: ppool, Registry: events.Domain(), Projectors: append([]projections.Projector{p}, o.with...),
		LeaseInterval: 50 * time.Millisecond, OnBatch: o.onBatch, ColdStart: !o.warm})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-r.Running()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = r.Close()
			<-done
			ppool.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

func dealTitle(t *testing.T, pool *pgxpool.Pool, d uuid.UUID, version int) string {
	t.Helper()
	return awaitRow(t, pool, `SELECT title, version FROM deals WHERE id = $1`, d, version)
}

func contactName(t *testing.T, pool *pgxpool.Pool, c uuid.UUID, version int) string {
	t.Helper()
	return awaitRow(t, pool, `SELECT name, version FROM contacts WHERE id = $1`, c, version)
}

// awaitRow waits until the row of id that sql selects (a text and a
// version) reaches version, and returns its text.
func awaitRow(t *testing.T, pool *pgxpool.Pool, sql string, id uuid.UUID, version int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var text string
		var v int
		err := pool.QueryRow(context.Background(), sql, id).Scan(&text, &v)
		if err == nil && v >= version {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("row %s never reached version %d (last: %v, v%d)", id, version, err, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A projector caches the rows it committed, so a deal it knows costs its
// next batch no read (one round trip); and when it takes its projector
// over again after another process wrote meanwhile, it never trusts
// what it cached before: the deal keeps the other process's change.
func TestARowCacheNeverOutlivesTheLease(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	org, contact, d := uuid.New(), uuid.New(), uuid.New()
	created := fmt.Sprintf(`{"deal_id":%q,"contact_id":%q,"owner_id":%q,"title":"first","amount":"10.00","currency":"USD","status":"new","stage":"qualification"}`,
		d, contact, uuid.New())
	renamed := func(from, to string) string {
		return fmt.Sprintf(`{"changes":{"title":{"old":%q,"new":%q}}}`, from, to)
	}

	// This process: the deal is created, then renamed; its second batch
	// finds the deal in the cache and writes in one round trip.
	mine := sales.DealsProjector()
	counter := &testenv.RoundTrips{}
	stop := runDeals(t, pool, mine, counter)
	appendDealEvent(t, pool, org, d, 1, "deal.created", created)
	if got := dealTitle(t, pool, d, 1); got != "first" {
		t.Fatalf("title %q", got)
	}
	// Wait until the second read of the log has nothing more to add.
	time.Sleep(100 * time.Millisecond)
	before := counter.Batches.Load()
	appendDealEvent(t, pool, org, d, 2, "deal.updated", renamed("first", "second"))
	if got := dealTitle(t, pool, d, 2); got != "second" {
		t.Fatalf("title %q", got)
	}
	if used := counter.Batches.Load() - before; used != 1 {
		t.Fatalf("the batch of a cached deal took %d round trips, want 1", used)
	}
	stop()

	// Another process (its own projector value, so its own cache) takes
	// over and renames the deal.
	stopOther := runDeals(t, pool, sales.DealsProjector(), nil)
	appendDealEvent(t, pool, org, d, 3, "deal.updated", renamed("second", "third"))
	if got := dealTitle(t, pool, d, 3); got != "third" {
		t.Fatalf("title %q", got)
	}
	stopOther()

	// This process takes the projector back (the same projector value:
	// its cache still holds "second" at version 2) and applies a stage
	// change: the title must stay "third".
	runDeals(t, pool, mine, nil)
	appendDealEvent(t, pool, org, d, 4, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	if got := dealTitle(t, pool, d, 4); got != "third" {
		t.Fatalf("after taking the projector back: title %q, want \"third\" (a stale cached row was written)", got)
	}
}

// readsKey marks the context of a batch of row reads.
type readsKey struct{}

// interference runs once, right after the first batch of row reads of a
// runner's connection has returned: what another process could do in
// that instant.
type interference struct {
	once sync.Once
	do   func()
}

func (i *interference) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (i *interference) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (i *interference) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	if readsRows(d.Batch) {
		return context.WithValue(ctx, readsKey{}, true)
	}
	return ctx
}

// readsRows: b is a fold's read of read-model rows (Table.QueueLoad).
func readsRows(b *pgx.Batch) bool {
	return len(b.QueuedQueries) > 0 && strings.HasPrefix(b.QueuedQueries[0].SQL, "SELECT t.org_id")
}
func (i *interference) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (i *interference) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if ctx.Value(readsKey{}) != nil {
		i.once.Do(i.do)
	}
}

// A batch reads the rows it does not know before its transaction
// begins. Should another process move the projector's checkpoint between
// those reads and the writes (it took the projector over meanwhile), the
// checkpoint guard fails the transaction: what the other process wrote
// stays, and the projector goes on from where the other one left it.
func TestRowsReadBeforeTheTransactionNeverOverwriteAnotherProcesssWrites(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	ctx := context.Background()
	org, d := uuid.New(), uuid.New()
	// The deal exists before: a stream's first event needs no read.
	stop := runDeals(t, pool, sales.DealsProjector(), nil)
	appendDealEvent(t, pool, org, d, 1, "deal.created", fmt.Sprintf(
		`{"deal_id":%q,"contact_id":%q,"owner_id":%q,"title":"first","amount":"10.00","currency":"USD","status":"new","stage":"qualification"}`,
		d, uuid.New(), uuid.New()))
	dealTitle(t, pool, d, 1)
	stop()

	hook := &interference{do: func() {
		// The other process applied the stage change too, and wrote its
		// row its own way.
		if _, err := pool.Exec(ctx, `
			WITH e AS (SELECT position, transaction_id FROM events WHERE stream_id = $1 AND version = 2)
			UPDATE projector_checkpoints c SET offset_acked = e.position, last_processed_transaction_id = e.transaction_id,
			       high_position = e.position
			FROM e WHERE c.consumer_group = 'deals'`, d); err != nil {
			t.Error(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE deals SET title = 'theirs', stage = 'proposal', version = 2 WHERE id = $1`, d); err != nil {
			t.Error(err)
		}
	}}
	runDeals(t, pool, sales.DealsProjector(), hook) // a new process: its row cache is empty
	appendDealEvent(t, pool, org, d, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	appendDealEvent(t, pool, org, d, 3, "deal.stage_changed", `{"old":"proposal","new":"negotiation"}`)
	if got := dealTitle(t, pool, d, 3); got != "theirs" {
		t.Fatalf("title %q, want \"theirs\": rows read before another process moved the checkpoint were written", got)
	}
	var fired bool
	hook.once.Do(func() { fired = true })
	if fired {
		t.Fatal("the runner never read a row: the test did not test anything")
	}
}

// rowReads counts the round trips that read read-model rows.
type rowReads struct{ n atomic.Int64 }

func (r *rowReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (r *rowReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *rowReads) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	if readsRows(d.Batch) {
		r.n.Add(1)
	}
	return ctx
}
func (r *rowReads) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *rowReads) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// A deal's first event costs no read of its row: none can exist yet,
// since the read model commits with its checkpoint and the event comes
// after it. A deal this process has not seen before costs one.
func TestADealIsCreatedWithoutReadingItsRow(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	org, d1, d2 := uuid.New(), uuid.New(), uuid.New()
	reads := &rowReads{}
	stop := runDeals(t, pool, sales.DealsProjector(), reads)
	appendDealEvent(t, pool, org, d1, 1, "deal.created", dealCreated(d1))
	appendDealEvent(t, pool, org, d2, 1, "deal.created", dealCreated(d2))
	appendDealEvent(t, pool, org, d1, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	dealTitle(t, pool, d1, 2)
	dealTitle(t, pool, d2, 1)
	if n := reads.n.Load(); n != 0 {
		t.Fatalf("read rows %d times for deals created after the checkpoint", n)
	}
	stop()

	reads = &rowReads{}
	runDeals(t, pool, sales.DealsProjector(), reads) // another process: it knows no deal
	appendDealEvent(t, pool, org, d2, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	dealTitle(t, pool, d2, 2)
	if n := reads.n.Load(); n != 1 {
		t.Fatalf("read rows %d times for a deal created before, want 1", n)
	}
}

// A backlog's catch-up fills the row cache as live traffic does: after a
// restart, the backlog holds what the commands are touching, so the
// deal a large catch-up batch read is known to the next batch, which
// reads no row. The batches say so to the metrics (BatchStats.ReadRows).
func TestACatchUpFillsTheRowCache(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	org, d := uuid.New(), uuid.New()
	stop := runDeals(t, pool, sales.DealsProjector(), nil)
	appendDealEvent(t, pool, org, d, 1, "deal.created", dealCreated(d))
	dealTitle(t, pool, d, 1)
	stop()

	// While no process projects: the deal moves on, and 150 other deals
	// are created, so the catch-up reads more than a live batch's worth
	// (ParallelBelow, 100 by default) in one batch.
	appendDealEvent(t, pool, org, d, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	last := uuid.New()
	for i := range 150 {
		other := uuid.New()
		if i == 149 {
			other = last
		}
		appendDealEvent(t, pool, org, other, 1, "deal.created", dealCreated(other))
	}
	reads, batches := &rowReads{}, &batchLog{}
	runDealsWith(t, pool, sales.DealsProjector(), runOpts{tracer: reads, onBatch: batches.add}) // a new process: its cache is empty
	dealTitle(t, pool, last, 1)
	dealTitle(t, pool, d, 2)
	if n := reads.n.Load(); n != 1 {
		t.Fatalf("the catch-up read rows %d times, want 1 (the deal created before)", n)
	}
	appendDealEvent(t, pool, org, d, 3, "deal.stage_changed", `{"old":"proposal","new":"negotiation"}`)
	dealTitle(t, pool, d, 3)
	if n := reads.n.Load(); n != 1 {
		t.Fatalf("rows read %d times in all: the batch after the catch-up read the deal the catch-up wrote", n)
	}
	// The catch-up may take more than one batch (a transaction elsewhere
	// in the cluster can hold the snapshot xmin back for a moment): its
	// first, with the deal's move, reads the deal; none after it does.
	if got := batches.readRows(t, 1); len(got) < 2 || !got[0] || slices.Contains(got[1:], true) {
		t.Fatalf("batches reported ReadRows %v, want true for the catch-up's first batch and false for every one after it", got)
	}
}

// A process that takes the projector over fills its row cache with the
// rows of the streams the log's newest events touched: the deal the
// previous process was patching costs the next batch no read.
func TestTakingTheProjectorWarmsItsRowCache(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	org, d := uuid.New(), uuid.New()
	stop := runDeals(t, pool, sales.DealsProjector(), nil)
	appendDealEvent(t, pool, org, d, 1, "deal.created", dealCreated(d))
	appendDealEvent(t, pool, org, d, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	dealTitle(t, pool, d, 2)
	stop()

	batches := &batchLog{}
	runDealsWith(t, pool, sales.DealsProjector(), runOpts{warm: true, onBatch: batches.add})
	appendDealEvent(t, pool, org, d, 3, "deal.stage_changed", `{"old":"proposal","new":"negotiation"}`)
	dealTitle(t, pool, d, 3)
	if got := batches.readRows(t, 1); !slices.Equal(got, []bool{false}) {
		t.Fatalf("batches reported ReadRows %v, want [false]: the warmed cache should have held the deal", got)
	}
	// The warmed row is the table's: the stage change applied to it.
	var stage string
	if err := pool.QueryRow(context.Background(), `SELECT stage FROM deals WHERE id = $1`, d).Scan(&stage); err != nil || stage != "negotiation" {
		t.Fatalf("stage %q (%v), want negotiation", stage, err)
	}
}

// A process taking several projectors at once reads the log's newest
// events once and warms every row cache from it: the next deal's and
// contact's events cost no read of their rows.
func TestTakingSeveralProjectorsWarmsTheirCachesFromOneRead(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	org, d, c := uuid.New(), uuid.New(), uuid.New()
	both := runOpts{with: []projections.Projector{sales.ContactsProjector()}}
	stop := runDealsWith(t, pool, sales.DealsProjector(), both)
	appendDealEvent(t, pool, org, d, 1, "deal.created", dealCreated(d))
	appendEvent(t, pool, org, "contact", c, 1, "contact.created",
		fmt.Sprintf(`{"contact_id":%q,"owner_id":%q,"name":"Ann","email":null,"phone":null}`, c, uuid.New()))
	dealTitle(t, pool, d, 1)
	contactName(t, pool, c, 1)
	stop()

	reads := &projectionstest.Statements{Containing: "ORDER BY transaction_id DESC"} // the warm-up's walk back
	batches := &batchLog{}
	both.warm, both.tracer, both.onBatch = true, reads, batches.add
	runDealsWith(t, pool, sales.DealsProjector(), both)
	appendDealEvent(t, pool, org, d, 2, "deal.stage_changed", `{"old":"qualification","new":"proposal"}`)
	dealTitle(t, pool, d, 2)
	appendEvent(t, pool, org, "contact", c, 2, "contact.updated", `{"changes":{"name":{"old":"Ann","new":"Bea"}}}`)
	if name := contactName(t, pool, c, 2); name != "Bea" {
		t.Fatalf("contact named %q, want Bea", name)
	}
	if got := batches.first(t, 2); !slices.Equal(got, []bool{false, false}) {
		t.Fatalf("batches reported ReadRows %v, want [false false]: both caches should have been warm", got)
	}
	if n := reads.N.Load(); n != 1 {
		t.Fatalf("the warm-up read the log %d times for two projectors, want once", n)
	}
}
