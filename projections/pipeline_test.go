package projections_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/events/pgstore"
	"example.com/crm/internal/testenv"
	"example.com/crm/internal/testevents"
	"example.com/crm/projections"
	"example.com/crm/projections/projectionstest"
	"example.com/crm/projections/streamstats"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one database with an event store and a recording projector whose
// read model counts how often each event was applied.
type env struct {
	pool     *pgxpool.Pool
	store    *pgstore.Store
	hub      *projections.Hub
	progress *projections.Progress
	reg      *events.Registry
	tenant   uuid.UUID
	// tune, when set, adjusts the runner's configuration in start.
	tune func(*projections.Config)
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20 // as a server would have: appends, projectors and waiters do not queue for 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE applied (event_id uuid PRIMARY KEY, seq int NOT NULL, times int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	hub := projections.NewHub()
	reg := testevents.Registry()
	return &env{
		pool: pool, hub: hub, progress: projections.NewProgress(), reg: reg, tenant: uuid.New(),
		store: pgstore.New(pool, reg, pgstore.Hooks{Committed: hub.Committed, Ended: hub.Ended}),
	}
}

// recorder counts applications per event; fail decides whether one
// application fails (after writing, to prove the batch's rollback undoes
// it).
func recorder(fail func(seq int) bool) projections.Projector {
	return projections.Projector{Name: "recorder", Model: recorderModel{fail: fail}}
}

type recorderModel struct {
	fail func(seq int) bool
	// panics: the failure is a panic in Apply, as a bug would be;
	// flushFails: Flush queues its writes, then returns an error.
	panics, flushFails bool
}

func (recorderModel) Tables() []projections.TableInfo { return nil }
func (recorderModel) Wants(string) bool               { return true }
func (m recorderModel) NewFold(projections.Names) projections.Fold {
	return &recorderFold{m: m}
}

// recorderFold writes every event it applies, and on an injected
// failure queues a failing statement after the writes, so the failure
// has something to undo.
type recorderFold struct {
	m      recorderModel
	noted  []events.Event
	failed bool
}

func (f *recorderFold) Load(*pgx.Batch, []events.Event) {}

func (f *recorderFold) Apply(e events.Event) error {
	n, ok := e.Data.(testevents.Noted)
	if !ok {
		return nil
	}
	f.noted = append(f.noted, e)
	if f.m.fail != nil && f.m.fail(n.Seq) {
		if f.m.panics {
			panic(fmt.Sprintf("recorder: a bug at seq %d", n.Seq))
		}
		f.failed = true
	}
	return nil
}

func (f *recorderFold) Flush(b *pgx.Batch) error {
	for _, e := range f.noted {
		b.Queue(`INSERT INTO applied (event_id, seq, times) VALUES ($1, $2, 1)
			ON CONFLICT (event_id) DO UPDATE SET times = applied.times + 1`, e.ID, e.Data.(testevents.Noted).Seq)
	}
	if f.failed && f.m.flushFails {
		return errors.New("recorder: flush failed after queuing its writes")
	}
	if f.failed {
		b.Queue(`SELECT 1 / 0 -- injected failure`)
	}
	return nil
}

func (f *recorderFold) Copy(context.Context, *pgx.Conn) error { return nil }

// start runs the projectors until the test ends or stop is called.
func (e *env) start(t testing.TB, ps ...projections.Projector) (stop func()) {
	t.Helper()
	cfg := projections.Config{
		Pool: e.pool, Registry: e.reg, Hub: e.hub, Progress: e.progress, Projectors: ps,
		BatchSize: 10, ResendInterval: 5 * time.Millisecond, LeaseInterval: 50 * time.Millisecond, Logger: testLogger(),
	}
	if e.tune != nil {
		e.tune(&cfg)
	}
	return projectionstest.Run(t, cfg, nil)
}

func (e *env) append(t testing.TB, first, n int) events.Result {
	t.Helper()
	res, err := e.store.Append(context.Background(), events.Batch{
		Metadata: events.Metadata{TenantID: e.tenant},
		Streams:  []events.Append{{Stream: testevents.Stream(e.tenant), Events: testevents.Notes(first, n)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitApplied waits (bounded) until the recorder applied want distinct
// events, then checks none was applied twice.
func (e *env) waitApplied(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n, dup int
		if err := e.pool.QueryRow(context.Background(),
			`SELECT count(*), count(*) FILTER (WHERE times <> 1) FROM applied`).Scan(&n, &dup); err != nil {
			t.Fatal(err)
		}
		if dup > 0 {
			t.Fatalf("%d events were applied more than once", dup)
		}
		if n == want {
			return
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("applied %d distinct events, want %d", n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProjectorSeesEveryCommittedEventOnceWhateverTheCommitOrder(t *testing.T) {
	t.Parallel()
	for _, t1Commits := range []bool{true, false} {
		t.Run(fmt.Sprintf("T1 commits=%v", t1Commits), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.start(t, recorder(nil))

			// T1 appends and waits inside its transaction.
			t1Inserted, t1Release := make(chan struct{}), make(chan struct{})
			t1Done := make(chan error, 1)
			go func() {
				_, err := e.store.AppendTx(context.Background(), pgstore.Batch{
					Batch: events.Batch{
						Metadata: events.Metadata{TenantID: e.tenant},
						Streams:  []events.Append{{Stream: testevents.Stream(e.tenant), Events: testevents.Notes(1, 3)}},
					},
					InTx: func(ctx context.Context, _ pgx.Tx, _ []events.Event) error {
						close(t1Inserted)
						<-t1Release
						if !t1Commits {
							return errors.New("T1 rolls back")
						}
						return nil
					},
				})
				t1Done <- err
			}()
			<-t1Inserted

			// T2 appends and commits while T1 is open: a later transaction
			// id, possibly lower positions than T1's... and a projector
			// that read by position alone would skip T1's events forever.
			e.append(t, 100, 2)
			time.Sleep(50 * time.Millisecond) // give the projector every chance to run ahead
			var early int
			if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM applied`).Scan(&early); err != nil {
				t.Fatal(err)
			}
			if early != 0 {
				t.Fatalf("projector applied %d events while an older transaction was open", early)
			}

			close(t1Release)
			err := <-t1Done
			if t1Commits && err != nil {
				t.Fatal(err)
			}
			if !t1Commits && err == nil {
				t.Fatal("T1 should have rolled back")
			}
			want := 2
			if t1Commits {
				want = 5
			}
			e.waitApplied(t, want)

			// The projector did not stall: a later append still arrives.
			e.append(t, 200, 1)
			e.waitApplied(t, want+1)
		})
	}
}

func TestHandlerFailingOnceLeavesNoDuplicateAndNoStall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var failed atomic.Bool
	e.start(t, recorder(func(seq int) bool { return seq == 5 && failed.CompareAndSwap(false, true) }))

	e.append(t, 1, 10)
	e.waitApplied(t, 10)
	if !failed.Load() {
		t.Fatal("the failure was never injected")
	}
	e.append(t, 11, 5)
	e.waitApplied(t, 15)
}

func TestRestartedProjectorResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stop := e.start(t, recorder(nil))
	for i := range 10 {
		e.append(t, i*10, 10)
	}
	time.Sleep(5 * time.Millisecond)
	stop() // mid-stream, most likely

	for i := 10; i < 20; i++ {
		e.append(t, i*10, 10)
	}
	e.start(t, recorder(nil))
	e.waitApplied(t, 200)
}

func TestWaiterReturnsOnceProjectorsCaughtUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, streamstats.Projector(e.reg))
	w := projections.NewWaiter(e.pool, e.progress, 5*time.Second)
	ctx := context.Background()

	for i := range 20 {
		res := e.append(t, i, 3)
		if err := w.Wait(ctx, e.tenant, streamstats.Name); err != nil {
			t.Fatal(err)
		}
		var count int
		err := e.pool.QueryRow(ctx, `SELECT event_count FROM stream_stats WHERE tenant_id = $1 AND stream_id = $2`,
			e.tenant, res.Events[0].StreamID).Scan(&count)
		if err != nil {
			t.Fatalf("append %d not visible right after Wait: %v", i, err)
		}
		if count != 3 {
			t.Fatalf("stream has count %d, want 3", count)
		}
	}

	st, err := projections.ReadStatus(ctx, e.pool, []string{streamstats.Name})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Backlog != 0 || st[0].Position == 0 {
		t.Fatalf("status after catching up: %+v", st[0])
	}
}

func TestWaiterGivesUpWithProjectionBehind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// no projector runs
	if _, err := e.pool.Exec(context.Background(),
		`INSERT INTO projector_checkpoints VALUES ('stream_stats', 0, '0')`); err != nil {
		t.Fatal(err)
	}
	e.append(t, 1, 1)
	w := projections.NewWaiter(e.pool, e.progress, 50*time.Millisecond)
	err := w.Wait(context.Background(), e.tenant, streamstats.Name)
	if crmCode(err) != "PROJECTION_BEHIND" {
		t.Fatalf("want PROJECTION_BEHIND, got %v", err)
	}
}

// Two server processes run the same projector: its checkpoint row is
// locked by whichever polls, so every event is applied exactly once.
func TestTwoRunnersOfOneProjectorApplyEachEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, recorder(nil))
	e.start(t, recorder(nil))
	for i := range 20 {
		e.append(t, i*10, 10)
	}
	e.waitApplied(t, 200)
}

// gated is a projector whose fold writes nothing and, until gate is
// closed, does not finish its writes.
// startGatedHere runs a gated projector "here" in e's process, waits
// until the engine says it runs it, and returns what opens its gate
// (opened at the test's end in any case, before the runner stops).
func (e *env) startGatedHere(t testing.TB) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	e.start(t, gated("here", gate))
	t.Cleanup(release) // runs before the runner's stop: cleanups run last in, first out
	for deadline := time.Now().Add(5 * time.Second); !e.progress.Local("here"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the engine never said it runs the projector")
		}
	}
	return release
}

func gated(name string, gate <-chan struct{}) projections.Projector {
	return projections.Projector{Name: name, Model: gatedModel{gate: gate}}
}

type gatedModel struct{ gate <-chan struct{} }

func (gatedModel) Tables() []projections.TableInfo              { return nil }
func (gatedModel) Wants(string) bool                            { return true }
func (m gatedModel) NewFold(projections.Names) projections.Fold { return gatedFold(m) }

type gatedFold gatedModel

func (gatedFold) Load(*pgx.Batch, []events.Event)       {}
func (gatedFold) Apply(events.Event) error              { return nil }
func (f gatedFold) Flush(*pgx.Batch) error              { <-f.gate; return nil }
func (gatedFold) Copy(context.Context, *pgx.Conn) error { return nil }

// The projectors of a live batch commit in parallel transactions; this
// process's read-your-writes waiters learn that one of them is readable
// as soon as its own transaction is done (in memory, without waiting for
// their poll of the checkpoints), not when the slowest of the batch is.
func TestAReadModelIsReadableOnceItsOwnTransactionCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tune = func(c *projections.Config) { c.ParallelGroups = 2 }
	gate, open := make(chan struct{}), make(chan struct{})
	close(open)
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	e.start(t, gated("fast", open), gated("slow", gate))
	t.Cleanup(release) // runs before the runner's stop: cleanups run last in, first out
	res := e.append(t, 1, 1)
	h := projections.Horizon{TransactionID: res.TransactionID, Position: res.LastPosition}
	reached := func(name string) bool {
		deadline := time.After(5 * time.Second)
		for {
			changed := e.progress.Changed()
			if e.progress.Reached(h, name) {
				return true
			}
			select {
			case <-changed:
			case <-deadline:
				return false
			}
		}
	}
	if !reached("fast") {
		t.Fatal("the projector whose transaction committed is not readable while another one of its batch still writes")
	}
	if e.progress.Reached(h, "slow") {
		t.Fatal("the projector still writing is said to be readable")
	}
	release()
	if !reached("slow") {
		t.Fatal("the slow projector never became readable")
	}
}

// statements counts the statements a pool sends whose SQL contains a
// given text.

// While every projector a query waits for runs in this process, the
// waiters read no checkpoint from the database: the engine tells them of
// each commit. For a projector run elsewhere they poll, as before.
func TestWaitersReadNoCheckpointsOfTheProjectorsThisProcessRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := e.startGatedHere(t)
	reads := &projectionstest.Statements{Containing: "FROM projector_checkpoints c"} // the waiters' poll
	traced := e.tracedPool(t, reads)

	res := e.append(t, 1, 1)
	h := projections.Horizon{TransactionID: res.TransactionID, Position: res.LastPosition}
	w := projections.NewWaiter(traced, e.progress, 5*time.Second)
	done := make(chan error, 1)
	go func() { done <- w.WaitFor(context.Background(), h, "here") }()
	time.Sleep(200 * time.Millisecond) // the batch is held at the gate: the waiter waits
	if n := reads.N.Load(); n != 0 {
		t.Fatalf("the waiters read the checkpoints %d times for a projector this process runs", n)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("waiting for the local projector: %v", err)
	}

	elsewhere := projections.NewWaiter(traced, e.progress, 200*time.Millisecond)
	if err := elsewhere.WaitFor(context.Background(), h, "elsewhere"); crmCode(err) != "PROJECTION_BEHIND" {
		t.Fatalf("waiting for a projector nobody runs here: %v", err)
	}
	if reads.N.Load() == 0 {
		t.Fatal("the waiters never read the checkpoints of a projector run elsewhere")
	}
}

// logReads counts the log reads a pool sends on their own (not in a
// batch's round trip): all of them, and those that start after a given
// checkpoint.
type logReads struct {
	xid        string
	pos        int64
	all, after atomic.Int64
}

func (c *logReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if d.SQL != projections.PollSQL {
		return ctx
	}
	c.all.Add(1)
	if len(d.Args) >= 2 && d.Args[0] == c.xid && d.Args[1] == c.pos {
		c.after.Add(1)
	}
	return ctx
}
func (c *logReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedPool is a second pool on e's database whose statements go
// through tracer.
func (e *env) tracedPool(t testing.TB, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg := e.pool.Config().Copy()
	cfg.ConnConfig.Tracer = tracer
	traced, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	return traced
}

// A projector that keeps up spends one round trip per batch: the events
// committed while a batch is applied come back with its COMMIT, and the
// engine does not read the log for them again. (Not parallel: another
// test's open transaction would hold the horizon back, and the read
// riding along could not see them.)
func TestEventsCommittedDuringABatchComeBackWithItsCommit(t *testing.T) {
	e := newEnv(t)
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	first := e.append(t, 1, 1)
	reads := &logReads{xid: strconv.FormatUint(first.TransactionID, 10), pos: first.LastPosition}
	traced := e.tracedPool(t, reads)
	e.tune = func(c *projections.Config) { c.Pool = traced }
	e.start(t, gated("held", gate))
	t.Cleanup(release) // runs before the runner's stop: cleanups run last in, first out

	time.Sleep(100 * time.Millisecond) // the first event's batch waits at the gate
	e.append(t, 2, 1)
	last := e.append(t, 3, 1)
	release()
	h := projections.Horizon{TransactionID: last.TransactionID, Position: last.LastPosition}
	if err := projections.NewWaiter(e.pool, e.progress, 5*time.Second).WaitFor(context.Background(), h, "held"); err != nil {
		t.Fatalf("the events committed during the batch were never applied: %v", err)
	}
	if n := reads.after.Load(); n != 0 {
		t.Fatalf("the engine read the log after the batch %d times: the events committed meanwhile did not come back with its commit", n)
	}
}

// A projector that has read every commit it was told of does not read
// the log again when woken by appends ending or by commits it has read
// already: only news wakes it.
func TestAProjectorThatReadEverythingIsNotWokenByOldNews(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reads := &logReads{}
	traced := e.tracedPool(t, reads)
	e.tune = func(c *projections.Config) { c.Pool = traced; c.FallbackPoll = time.Minute }
	e.start(t, recorder(nil))
	res := e.append(t, 1, 1)
	e.waitApplied(t, 1)
	time.Sleep(50 * time.Millisecond) // the engine settles into its wait
	before := reads.all.Load()
	for range 20 {
		e.hub.Ended()
		e.hub.Committed(res.TransactionID)
		time.Sleep(2 * time.Millisecond)
	}
	if n := reads.all.Load() - before; n != 0 {
		t.Fatalf("the engine read the log %d times on wake-ups that announced nothing new", n)
	}
	e.append(t, 2, 1)
	e.waitApplied(t, 2) // news still wakes it: the fallback poll is a minute away
}

// slowDecoding holds back the decoding of every slowNote until closed.
var slowDecoding chan struct{}

// slowNote is an event whose decoding waits for slowDecoding.
type slowNote struct{}

func (slowNote) EventType() string { return "test.slow" }

func (*slowNote) UnmarshalJSON([]byte) error { <-slowDecoding; return nil }

// A live batch's read models are readable as soon as its COMMIT is
// acknowledged: the read of the log riding behind it comes back after,
// and so does the decoding of the events it brings.
func TestAReadModelIsReadableBeforeTheReadBehindItsCommitIsDecoded(t *testing.T) {
	e := newEnv(t)
	e.reg.Register(slowNote{}, 1)
	slowDecoding = make(chan struct{})
	gate := make(chan struct{})
	var decoded, opened sync.Once
	letGo := func() { decoded.Do(func() { close(slowDecoding) }) }
	release := func() { opened.Do(func() { close(gate) }) }
	first := e.append(t, 1, 1)
	e.start(t, gated("held", gate))
	t.Cleanup(release) // both before the runner's stop: cleanups run last in, first out
	t.Cleanup(letGo)

	time.Sleep(100 * time.Millisecond) // the first event's batch waits at the gate
	if _, err := e.store.Append(context.Background(), events.Batch{
		Metadata: events.Metadata{TenantID: e.tenant},
		Streams: []events.Append{{Stream: testevents.Stream(e.tenant),
			Events: []events.Pending{{Data: slowNote{}, OccurredAt: time.Now()}}}},
	}); err != nil {
		t.Fatal(err)
	}
	release() // the batch commits; the read behind its COMMIT brings the slow event back
	h := projections.Horizon{TransactionID: first.TransactionID, Position: first.LastPosition}
	if err := projections.NewWaiter(e.pool, e.progress, 2*time.Second).WaitFor(context.Background(), h, "held"); err != nil {
		t.Fatalf("the batch was not readable while the read behind its commit was being decoded: %v", err)
	}
	letGo()
}
