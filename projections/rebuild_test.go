package projections_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
	"example.com/crm/internal/testevents"
	"example.com/crm/projections"
	"example.com/crm/projections/streamstats"
)

// A rebuild under concurrent writes swaps in a copy equal to what the
// live projector builds, and verify then finds no difference; a live row
// changed behind the projector's back is named by verify.
func TestRebuildUnderConcurrentWritesThenVerifyFindsNoDifference(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, streamstats.Projector(e.reg))
	for i := range 50 {
		e.append(t, i*10, 10)
	}
	ctx := context.Background()
	e.waitCaughtUp(t, streamstats.Name)
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // writes go on during the rebuild
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e.append(t, 10000+i*3, 3)
			time.Sleep(time.Millisecond)
		}
	}()
	res, err := projections.Rebuild(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events < 500 {
		t.Fatalf("rebuild folded %d events, want at least 500", res.Events)
	}
	close(stop)
	wg.Wait()

	ver, err := projections.Verify(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ver.Differences) != 0 {
		t.Fatalf("differences after a rebuild: %v", ver.Differences)
	}
	// Every event counted exactly once: the stream has all its events.
	var count, total int
	if err := e.pool.QueryRow(ctx, `SELECT count(*), sum(event_count) FROM stream_stats`).Scan(&count, &total); err != nil {
		t.Fatal(err)
	}
	var events int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp(t, streamstats.Name)
	if err := e.pool.QueryRow(ctx, `SELECT sum(event_count) FROM stream_stats`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != events {
		t.Fatalf("stream_stats counts %d events, the log has %d", total, events)
	}
	wantHighPosition(t, e, streamstats.Name)

	if _, err := e.pool.Exec(ctx, `UPDATE stream_stats SET event_count = event_count + 1
		WHERE stream_id = (SELECT stream_id FROM stream_stats LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	ver, err = projections.Verify(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ver.Differences) != 2 { // the live row, and the rebuilt one
		t.Fatalf("verify after tampering: %v", ver.Differences)
	}
}

// A rebuild with no live projector running moves the checkpoint itself,
// high position included, to the end of what it folded.
func TestARebuildWithoutALiveProjectorSetsTheCheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 20 {
		e.append(t, i*10, 10)
	}
	e.awaitBelowHorizon(t)
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}
	if _, err := projections.Rebuild(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	st, err := projections.ReadStatus(context.Background(), e.pool, []string{streamstats.Name})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Backlog != 0 {
		t.Fatalf("after the rebuild: %+v", st[0])
	}
	wantHighPosition(t, e, streamstats.Name)
}

// wantHighPosition checks that a projector with no backlog reports the
// log's highest position as its high position.
func wantHighPosition(t *testing.T, e *env, projector string) {
	t.Helper()
	var high, max int64
	if err := e.pool.QueryRow(context.Background(), `SELECT high_position, (SELECT max(position) FROM events)
		FROM projector_checkpoints WHERE consumer_group = $1`, projector).Scan(&high, &max); err != nil {
		t.Fatal(err)
	}
	if high != max {
		t.Fatalf("%s: high position %d, the log's highest %d", projector, high, max)
	}
}

// newStreamStatsEnv returns an env whose live stream_stats projector has
// applied 50 events.
func newStreamStatsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.start(t, streamstats.Projector(e.reg))
	for i := range 5 {
		e.append(t, i*10, 10)
	}
	e.waitCaughtUp(t, streamstats.Name)
	return e
}

// waitCaughtUp waits (bounded) until projector has no backlog.
func (e *env) waitCaughtUp(t testing.TB, projector string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := projections.ReadStatus(context.Background(), e.pool, []string{projector})
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Backlog == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still has a backlog: %+v", projector, st[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A rebuild's copies are not vacuumed while it builds them (autovacuum
// on a copy just filled held up the swap while the swap held every
// projector), and the swapped-in table keeps the live one's storage
// settings, its autovacuum setting included.
func TestARebuildKeepsAutovacuumOffItsCopiesAndTheTablesSettings(t *testing.T) {
	t.Parallel()
	e := newStreamStatsEnv(t)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `ALTER TABLE stream_stats SET (fillfactor = 90, autovacuum_enabled = true)`); err != nil {
		t.Fatal(err)
	}
	reloptions := func(table string) []string {
		var opts []string
		if err := e.pool.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass`, table).Scan(&opts); err != nil {
			t.Errorf("reloptions of %s: %v", table, err)
		}
		slices.Sort(opts)
		return opts
	}
	var mu sync.Mutex
	var copyOpts []string
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second,
		Progress: func(phase string, done, _ int64) {
			mu.Lock()
			defer mu.Unlock()
			if phase == "copy+indexes" && done == 0 {
				copyOpts = reloptions("stream_stats__rebuild")
			}
		}}
	if _, err := projections.Rebuild(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if want := []string{"autovacuum_enabled=false", "fillfactor=90"}; !slices.Equal(copyOpts, want) {
		t.Errorf("the copy's options while it was built: %q, want %q", copyOpts, want)
	}
	if got, want := reloptions("stream_stats"), []string{"autovacuum_enabled=true", "fillfactor=90"}; !slices.Equal(got, want) {
		t.Errorf("the swapped-in table's options: %q, want %q", got, want)
	}
	// A table left at the default autovacuum setting is left at it.
	if _, err := e.pool.Exec(ctx, `ALTER TABLE stream_stats RESET (autovacuum_enabled)`); err != nil {
		t.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if got, want := reloptions("stream_stats"), []string{"fillfactor=90"}; !slices.Equal(got, want) {
		t.Errorf("after a second rebuild, the table's options: %q, want %q", got, want)
	}
}

// A rebuild that finds a live table being vacuumed waits for the vacuum
// before it holds the projectors' checkpoints for its swap: the live
// projectors go on meanwhile, and the swap follows once the vacuum ends,
// having applied what was committed during the wait before it stops them.
// (Held the other way round, the swap's DROP TABLE waited for the vacuum
// with every projector stopped.)
func TestARebuildWaitsForAVacuumWithoutStoppingTheLiveProjectors(t *testing.T) {
	t.Parallel()
	e := newStreamStatsEnv(t)
	ctx := context.Background()
	vacuum, err := e.pool.Begin(ctx) // holds the lock a VACUUM holds
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = vacuum.Rollback(ctx) }()
	if _, err := vacuum.Exec(ctx, `LOCK TABLE stream_stats IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}
	done := make(chan error, 1)
	var res projections.RebuildResult
	go func() {
		var err error
		res, err = projections.Rebuild(ctx, opts)
		done <- err
	}()

	untilWhileRebuilding(t, e, done, "a vacuum held its table", "the rebuild never waited for the table's lock",
		`SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_database d ON d.oid = l.database
			WHERE d.datname = current_database() AND l.relation = 'stream_stats'::regclass AND NOT l.granted)`)
	e.append(t, 1000, 10)
	e.waitCaughtUp(t, streamstats.Name) // the live projector applies it while the rebuild waits

	if err := vacuum.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res.UnderLock != 0 { // the events of the wait were applied before it stopped them
		t.Errorf("the swap applied %d events with the projectors stopped, want 0", res.UnderLock)
	}
	ver, err := projections.Verify(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ver.Differences) != 0 {
		t.Fatalf("differences after the rebuild: %v", ver.Differences)
	}
}

// The swap renames the old tables out of the way and drops them only
// after it commits: whatever holds an old table's TOAST table (its
// autovacuum, which no lock the swap can take keeps out, or a query
// reading it) holds up that drop alone, never the live projectors.
func TestASwapDoesNotHoldTheProjectorsWhileTheOldTablesDropWaits(t *testing.T) {
	t.Parallel()
	e := newStreamStatsEnv(t)
	ctx := context.Background()
	var toast string
	if err := e.pool.QueryRow(ctx, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'stream_stats'::regclass AND reltoastrelid <> 0`).Scan(&toast); err != nil {
		t.Fatal(err)
	}
	holder, err := e.pool.Begin(ctx) // holds the old table's TOAST table as a vacuum of it would
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback(ctx) }()
	if _, err := holder.Exec(ctx, `SELECT count(*) FROM `+toast); err != nil {
		t.Fatal(err)
	}
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		_, err := projections.Rebuild(ctx, opts)
		done <- err
	}()

	untilWhileRebuilding(t, e, done, "the old table's TOAST table was held", "the swap did not commit while the old table's TOAST table was held",
		`SELECT to_regclass('stream_stats__retired') IS NOT NULL`)
	e.append(t, 1000, 10)
	e.waitCaughtUp(t, streamstats.Name) // the live projector writes the new table meanwhile
	select {
	case err := <-done:
		t.Fatalf("the rebuild ended before the old table could be dropped: %v", err)
	default:
	}

	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var left bool
	if err := e.pool.QueryRow(ctx, `SELECT to_regclass('stream_stats__retired') IS NOT NULL`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Error("the old table is still there after the rebuild")
	}
	ver, err := projections.Verify(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ver.Differences) != 0 {
		t.Fatalf("differences after the rebuild: %v", ver.Differences)
	}
}

// untilWhileRebuilding polls query (a boolean) until it is true, failing
// the test if the rebuild behind done ends first ("while <during>") or
// if 15 s pass (never).
func untilWhileRebuilding(t *testing.T, e *env, done <-chan error, during, never, query string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for ok := false; !ok; {
		if err := e.pool.QueryRow(context.Background(), query).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the rebuild ended while %s: %v", during, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal(never)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// One rebuild or verify runs at a time: they share the shadow tables, and
// a second one would drop the first's copies under it. A second one
// fails at once, naming the reason; the lock goes when the first ends.
func TestOnlyOneRebuildOrVerifyRunsAtATime(t *testing.T) {
	t.Parallel()
	e := newStreamStatsEnv(t)
	ctx := context.Background()
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}
	other, err := pgx.Connect(ctx, e.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tryLock := func() bool { // as another rebuild would
		t.Helper()
		var got bool
		if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock(x'63726d'::int, hashtext('crm projections rebuild or verify'))`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if !tryLock() {
		t.Fatal("the rebuild lock is taken before any rebuild ran")
	}
	for _, run := range []func(context.Context, projections.RebuildOptions) (projections.RebuildResult, error){projections.Rebuild, projections.Verify} {
		if _, err := run(ctx, opts); !errors.Is(err, projections.ErrRebuildRunning) {
			t.Fatalf("with another rebuild running: %v, want ErrRebuildRunning", err)
		}
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if !tryLock() {
		t.Fatal("a finished rebuild left its lock held")
	}
}

// A rebuild's index builds run each on one core with more memory (see
// oneCoreEach), and the pool gets its connections back with the
// settings they had: a pool shared with other work must not keep them.
func TestARebuildHandsItsConnectionsBackWithTheirSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 5 {
		e.append(t, i*10, 10)
	}
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, e.pool.Config().Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	opts := projections.RebuildOptions{Pool: pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}
	if _, err := projections.Rebuild(ctx, opts); err != nil {
		t.Fatal(err)
	}
	conns := pool.AcquireAllIdle(ctx)
	if len(conns) < 2 {
		t.Fatalf("%d idle connections after the rebuild, want its workers' too", len(conns))
	}
	for _, c := range conns {
		var changed []string
		if err := c.QueryRow(ctx, `SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM pg_settings
			WHERE name IN ('max_parallel_maintenance_workers', 'maintenance_work_mem', 'jit') AND setting IS DISTINCT FROM reset_val`).Scan(&changed); err != nil {
			t.Fatal(err)
		}
		c.Release()
		if len(changed) > 0 {
			t.Errorf("a connection came back with %v changed", changed)
		}
	}
}

// awaitBelowHorizon waits until every appended event is below the
// cluster's xmin horizon, where the log is read: until no transaction (of
// another test, say) older than the appends is open.
func (e *env) awaitBelowHorizon(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var visible bool
		if err := e.pool.QueryRow(context.Background(), `SELECT (SELECT max(transaction_id) FROM events) < pg_snapshot_xmin(pg_current_snapshot())`).Scan(&visible); err != nil {
			t.Fatal(err)
		}
		if visible {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the appends stayed above the xmin horizon")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A rebuilt table comes in frozen and all-visible (COPY FREEZE): no
// vacuum has to visit its pages after the swap, and index-only scans
// need not read them.
func TestARebuiltTableComesInAllVisible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// stream_stats has a row per stream: 400 streams fill a few pages.
	var streams []events.Append
	for i := range 400 {
		streams = append(streams, events.Append{Stream: testevents.Stream(e.tenant), Events: testevents.Notes(i, 1)})
	}
	if _, err := e.store.Append(ctx, events.Batch{Metadata: events.Metadata{TenantID: e.tenant}, Streams: streams}); err != nil {
		t.Fatal(err)
	}
	e.awaitBelowHorizon(t)
	opts := projections.RebuildOptions{Pool: e.pool, Registry: e.reg,
		Projectors: []projections.Projector{streamstats.Projector(e.reg)}, CatchUpTimeout: 10 * time.Second}
	if _, err := projections.Rebuild(ctx, opts); err != nil {
		t.Fatal(err)
	}
	var pages, allVisible int
	if err := e.pool.QueryRow(ctx, `SELECT relpages, relallvisible FROM pg_class WHERE oid = 'stream_stats'::regclass`).Scan(&pages, &allVisible); err != nil {
		t.Fatal(err)
	}
	if pages < 2 || allVisible != pages {
		t.Fatalf("stream_stats after a rebuild: %d of %d pages all-visible, want all (and more than one)", allVisible, pages)
	}
}
