package projections

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/events"
)

// RebuildOptions configures Rebuild and Verify.
type RebuildOptions struct {
	Pool       *pgxpool.Pool
	Registry   *events.Registry
	Projectors []Projector
	// Progress is told how far each phase is (done of total, total 0 when
	// unknown); may be nil.
	Progress func(phase string, done, total int64)
	// CatchUpTimeout bounds Verify's wait for live projectors that lag
	// behind the rebuilt copy. Default 60 s.
	CatchUpTimeout time.Duration
}

// RebuildResult says what a rebuild or verification did.
type RebuildResult struct {
	// Events is how many events the bulk pass folded.
	Events int64
	// Bulk is the time of the bulk pass (read, fold, COPY, indexes).
	Bulk time.Duration
	// Total is the whole time, catch-up and swap included.
	Total time.Duration
	// Differences lists, for Verify, what differs between the live read
	// models and the rebuilt copy (empty: equal).
	Differences []string
	// UnderLock is, for Rebuild, the most events the swap applied to one
	// copy while it held the projectors' checkpoints (the live projectors
	// stood still meanwhile).
	UnderLock int64
}

// Rebuild replaces the read models of opts.Projectors with copies built
// from the event log, without downtime: it folds the whole log once (in
// a read-only snapshot) with the same reducers the live projectors use,
// COPYs the rows into shadow tables with no indexes, derives the
// counters with GROUP BY, builds the indexes, catches the copies up
// through the same batch code as the live path, and swaps them in, in
// one transaction that holds the projectors' checkpoint rows (so no live
// batch runs meanwhile). The API reads the old tables until the swap.
func Rebuild(ctx context.Context, opts RebuildOptions) (RebuildResult, error) {
	return rebuild(ctx, opts, false)
}

// Verify rebuilds the read models into shadow copies as Rebuild does and
// compares them row for row with the live ones at the same checkpoint,
// then drops the copies. Differences are listed in the result.
func Verify(ctx context.Context, opts RebuildOptions) (RebuildResult, error) {
	return rebuild(ctx, opts, true)
}

func rebuild(ctx context.Context, opts RebuildOptions, verify bool) (res RebuildResult, err error) {
	started := time.Now()
	if opts.Progress == nil {
		opts.Progress = func(string, int64, int64) {}
	}
	var progressMu sync.Mutex
	report := opts.Progress
	opts.Progress = func(phase string, done, total int64) { // called from several goroutines
		progressMu.Lock()
		defer progressMu.Unlock()
		report(phase, done, total)
	}
	if opts.CatchUpTimeout == 0 {
		opts.CatchUpTimeout = time.Minute
	}
	conn, err := opts.Pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Release()
	unlock, err := lockRebuilds(ctx, conn.Conn())
	if err != nil {
		return res, err
	}
	defer unlock()
	var tables []TableInfo
	for _, p := range opts.Projectors {
		tables = append(tables, p.Model.Tables()...)
	}
	if err := createShadows(ctx, conn.Conn(), tables); err != nil {
		return res, err
	}
	defer func() {
		if verify || err != nil {
			dropShadows(context.WithoutCancel(ctx), conn.Conn(), tables)
		}
	}()
	folds := make([]Fold, len(opts.Projectors))
	for i, p := range opts.Projectors {
		folds[i] = p.Model.NewFold(Shadow)
	}
	stopStreams, err := startStreams(ctx, opts.Pool, folds)
	if err != nil {
		return res, err
	}
	defer stopStreams()
	at, n, err := bulkFold(ctx, opts, folds)
	if err != nil {
		return res, err
	}
	res.Events = n
	// Three workers where the pool allows: this function and each
	// streaming fold hold a connection already.
	workers := max(1, min(3, int(opts.Pool.Config().MaxConns)-1-streaming(folds)))
	if err := copyAndIndex(ctx, opts, folds, workers); err != nil {
		return res, err
	}
	stopStreams()
	res.Bulk = time.Since(started)
	// Catch the copies up with what was committed meanwhile, outside
	// any lock: the final step then has little left to apply.
	if at, err = catchUp(ctx, opts, at, Checkpoint{TransactionID: ^uint64(0)}); err != nil {
		return res, err
	}
	if verify {
		if err := waitLive(ctx, opts, at); err != nil {
			return res, err
		}
		res.Differences, err = compareAtCheckpoint(ctx, opts, at, tables)
	} else {
		res.UnderLock, err = swap(ctx, opts, at, tables)
	}
	res.Total = time.Since(started)
	return res, err
}

// ErrRebuildRunning: another rebuild or verify holds the shadow tables.
var ErrRebuildRunning = errors.New("projections: another rebuild or verify is running against this database; wait for it to end")

// rebuildLock names the session advisory lock (in the leases' class) that
// one rebuild or verify at a time holds: they all build the same shadow
// tables, and each begins by dropping what it finds of them, so a second
// one (say a verify started while a rebuild runs) would drop the first's
// copies under it.
const rebuildLock = "crm projections rebuild or verify"

// lockRebuilds takes the rebuild lock on conn for as long as the caller
// holds conn, or fails with ErrRebuildRunning at once; unlock releases it
// before conn goes back to its pool.
func lockRebuilds(ctx context.Context, conn *pgx.Conn) (unlock func(), err error) {
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int, hashtext($2))`, leaseClass, rebuildLock).Scan(&got); err != nil {
		return nil, err
	}
	if !got {
		return nil, ErrRebuildRunning
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1::int, hashtext($2))`, leaseClass, rebuildLock); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx)) // its session, and the lock with it, ends
		}
	}, nil
}

// streaming counts the folds that stream their COPY (one connection each).
func streaming(folds []Fold) int {
	n := 0
	for _, f := range folds {
		if _, ok := f.(Streamer); ok {
			n++
		}
	}
	return n
}

// startStreams starts the COPY of every Streamer fold, each on a
// connection of its own, and returns the function that releases them
// (idempotent; it first ends any COPY still running, which a fold's Copy
// ends otherwise).
func startStreams(ctx context.Context, pool *pgxpool.Pool, folds []Fold) (stop func(), err error) {
	streamCtx, cancel := context.WithCancel(ctx)
	var conns []*pgxpool.Conn
	var streamers []Fold
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			for _, f := range streamers {
				_ = f.Copy(streamCtx, nil) // ends an unfinished COPY; a no-op after the fold's own Copy
			}
			for _, c := range conns {
				c.Release()
			}
		})
	}
	for _, f := range folds {
		s, ok := f.(Streamer)
		if !ok {
			continue
		}
		c, err := pool.Acquire(ctx)
		if err != nil {
			stop()
			return nil, err
		}
		conns, streamers = append(conns, c), append(streamers, f)
		s.StartCopy(streamCtx, c.Conn())
	}
	return stop, nil
}

// bulkFold reads every event below the snapshot xmin, in projection
// order, within one read-only snapshot, and folds it into every fold.
// Reading and decoding run in one goroutine, folding in another, so the
// two use both cores.
func bulkFold(ctx context.Context, opts RebuildOptions, folds []Fold) (Checkpoint, int64, error) {
	var at Checkpoint
	tx, err := opts.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return at, 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var total int64
	if err := tx.QueryRow(ctx, `SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'events'::regclass`).Scan(&total); err != nil {
		return at, 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []item, 8)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		readErr <- readAll(ctx, tx, opts.Registry, chunks)
	}()
	// Each fold runs on its own goroutine over the same chunks (read
	// only: the folds share the events, as live batches do), so the
	// folds use the cores the decoders leave.
	ins := make([]chan []item, len(folds))
	foldErrs := make(chan error, len(folds))
	var workers sync.WaitGroup
	for i, f := range folds {
		in := make(chan []item, 8)
		ins[i] = in
		workers.Add(1)
		go func() {
			defer workers.Done()
			for chunk := range in {
				if err := foldChunk(opts.Projectors[i], f, chunk); err != nil {
					foldErrs <- err
					cancel()
					for range in { // drain: the dispatcher may be sending
					}
					return
				}
			}
		}()
	}
	var n int64
	last := time.Now()
	opts.Progress("fold", 0, total)
dispatch:
	for chunk := range chunks {
		for _, in := range ins {
			select {
			case in <- chunk:
			case <-ctx.Done():
				break dispatch
			}
		}
		at = checkpointOf(chunk[len(chunk)-1].Event)
		n += int64(len(chunk))
		if time.Since(last) > 250*time.Millisecond {
			opts.Progress("fold", n, max(total, n))
			last = time.Now()
		}
	}
	for _, in := range ins {
		close(in)
	}
	workers.Wait()
	select {
	case err := <-foldErrs:
		return at, n, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return at, n, err
	}
	if err := <-readErr; err != nil {
		return at, n, err
	}
	opts.Progress("fold", n, n)
	return at, n, nil
}

// foldChunk folds chunk into f, the fold of projector p.
func foldChunk(p Projector, f Fold, chunk []item) error {
	for _, it := range chunk {
		if it.err != nil && p.Model.Wants(it.Type) {
			return fmt.Errorf("projections: %s cannot read event %s (%s): %w", p.Name, it.ID, it.Type, it.err)
		}
		if err := f.Apply(it.Event); err != nil {
			return fmt.Errorf("projections: %s: event %s (%s, position %d): %w", p.Name, it.ID, it.Type, it.Position, err)
		}
	}
	return nil
}

// readAll streams every event below the snapshot xmin to out in chunks,
// in order. This goroutine only scans; two others decode the payloads
// (the costliest part), a chunk each, and out receives the chunks in the
// order they were read.
func readAll(ctx context.Context, tx pgx.Tx, reg *events.Registry, out chan<- []item) error {
	rows, err := tx.Query(ctx, strings.Replace(pollSQL, "LIMIT $3", "", 1), "0", int64(0))
	if err != nil {
		return err
	}
	defer rows.Close()
	type job struct {
		raw  []rawItem
		done chan []item
	}
	jobs := make(chan job, 4)
	order := make(chan chan []item, 8)
	var decoders sync.WaitGroup
	// Decoded chunks of raw rows go back to the scanner to be filled
	// again: a chunk is large and holds pointers, so allocating one per
	// thousand events cost garbage collection. (What a reused chunk still
	// points to is overwritten as it fills.)
	free := make(chan []rawItem, 16)
	for range 2 {
		decoders.Add(1)
		go func() {
			defer decoders.Done()
			for j := range jobs {
				items := make([]item, len(j.raw))
				for i := range j.raw {
					j.raw[i].decodeInto(reg, &items[i])
				}
				j.done <- items
				select {
				case free <- j.raw[:0]:
				default:
				}
			}
		}()
	}
	forwarded := make(chan error, 1)
	go func() { // hand the decoded chunks on in read order
		for done := range order {
			select {
			case out <- <-done:
			case <-ctx.Done():
				for range order { // drain
				}
				forwarded <- ctx.Err()
				return
			}
		}
		forwarded <- nil
	}()
	const size = 1000
	chunk := make([]rawItem, 0, size)
	send := func() bool {
		j := job{raw: chunk, done: make(chan []item, 1)}
		select {
		case order <- j.done:
		case <-ctx.Done():
			return false
		}
		jobs <- j
		select {
		case chunk = <-free:
		default:
			chunk = make([]rawItem, 0, size)
		}
		return true
	}
	var scanErr error
	var buf arena // the payloads of a chunk share its blocks
	for rows.Next() {
		r, err := scanRaw(rows, &buf)
		if err != nil {
			scanErr = err
			break
		}
		if chunk = append(chunk, r); len(chunk) == size && !send() {
			break
		}
	}
	if scanErr == nil {
		scanErr = rows.Err()
	}
	if scanErr == nil && len(chunk) > 0 {
		send()
	}
	close(jobs)
	decoders.Wait()
	close(order)
	if err := <-forwarded; err != nil && scanErr == nil {
		scanErr = err
	}
	if scanErr == nil {
		scanErr = ctx.Err()
	}
	return scanErr
}

// catchUp applies the events after `from` (up to `to`, inclusive) to the
// shadow copies, a batch per transaction, and returns where it stopped.
func catchUp(ctx context.Context, opts RebuildOptions, from, to Checkpoint) (Checkpoint, error) {
	tx, err := opts.Pool.Begin(ctx)
	if err != nil {
		return from, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	at, _, err := applyRange(ctx, tx, opts, opts.Projectors, from, to)
	if err != nil {
		return from, err
	}
	return at, tx.Commit(ctx)
}

// applyRange applies the events in (from, to] to the shadow copies of
// ps inside tx, and says where it stopped and how many events it
// applied.
func applyRange(ctx context.Context, tx pgx.Tx, opts RebuildOptions, ps []Projector, from, to Checkpoint) (at Checkpoint, n int64, err error) {
	at = from
	for {
		items, err := readLog(ctx, tx, opts.Registry, at, 5000)
		if err != nil {
			return at, n, err
		}
		var evs []events.Event
		for _, it := range items {
			if to.Before(checkpointOf(it.Event)) {
				break
			}
			evs = append(evs, it.Event)
		}
		if len(evs) == 0 {
			return at, n, nil
		}
		for _, p := range ps {
			ws, err := wanted(p, items[:len(evs)])
			if err != nil {
				return at, n, err
			}
			if err := applyBatch(ctx, tx, p.Model.NewFold(Shadow), ws); err != nil {
				return at, n, fmt.Errorf("projections: catch-up of %s: %w", p.Name, err)
			}
		}
		at, n = checkpointOf(evs[len(evs)-1]), n+int64(len(evs))
		opts.Progress("catch-up", int64(len(evs)), 0)
	}
}

// copyAndIndex COPYs every fold into its shadow tables and gives each
// shadow table its live table's indexes (named with the shadow suffix)
// and statistics, on `workers` connections. A table's indexes are built
// as soon as its rows are in: its primary key first (ALTER TABLE locks the
// table), then every other index as a job of its own, so that the big
// tables' indexes spread over the workers while other folds still copy;
// ANALYZE runs after a table's last index (expression indexes get their
// statistics then). The workers take the largest job first (jobQueue): the
// copies, then the indexes by their table's size, a trigram index counting
// as gin's build costs (several times a B-tree's over the same rows).
func copyAndIndex(ctx context.Context, opts RebuildOptions, folds []Fold, workers int) error {
	type table struct {
		info    TableInfo
		idx     []indexDef
		pending atomic.Int64 // its index jobs not done yet
		size    int64        // its shadow's bytes once copied
	}
	tablesOf := make([][]*table, len(folds))
	total := int64(len(folds))
	for i, p := range opts.Projectors {
		for _, ti := range p.Model.Tables() {
			idx, err := indexesOf(ctx, opts.Pool, ti.Name)
			if err != nil {
				return err
			}
			tablesOf[i] = append(tablesOf[i], &table{info: ti, idx: idx})
			total += int64(len(idx)) + 1 // its indexes and its ANALYZE
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := newJobQueue[func(context.Context, *pgx.Conn) error]()
	var pending sync.WaitGroup
	var done atomic.Int64
	tick := func() { opts.Progress("copy+indexes", done.Add(1), total) }
	submit := func(size int64, f func(context.Context, *pgx.Conn) error) {
		pending.Add(1)
		jobs.push(size, f)
	}
	analyze := func(t *table) func(context.Context, *pgx.Conn) error {
		return func(ctx context.Context, c *pgx.Conn) error {
			if _, err := c.Exec(ctx, `ANALYZE `+pgx.Identifier{Shadow(t.info.Name)}.Sanitize()); err != nil {
				return err
			}
			tick()
			return nil
		}
	}
	index := func(t *table, ix indexDef) func(context.Context, *pgx.Conn) error {
		return func(ctx context.Context, c *pgx.Conn) error {
			stmt, err := shadowIndexDef(ix, t.info.Name)
			if err != nil {
				return err
			}
			if _, err := c.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("projections: index %s: %w", ix.name, err)
			}
			tick()
			if t.pending.Add(-1) == 0 {
				submit(t.size/analyzeShare, analyze(t))
			}
			return nil
		}
	}
	opts.Progress("copy+indexes", 0, total)
	for i := range folds {
		submit(math.MaxInt64, func(ctx context.Context, c *pgx.Conn) error {
			if err := folds[i].Copy(ctx, c); err != nil {
				return fmt.Errorf("projections: copy %s: %w", opts.Projectors[i].Name, err)
			}
			folds[i] = nil // let the rows go
			tick()
			for _, t := range tablesOf[i] {
				if err := c.QueryRow(ctx, `SELECT pg_relation_size($1::regclass)`,
					pgx.Identifier{Shadow(t.info.Name)}.Sanitize()).Scan(&t.size); err != nil {
					return fmt.Errorf("projections: size of %s: %w", t.info.Name, err)
				}
				var others []indexDef
				for _, ix := range t.idx {
					if !ix.primary {
						others = append(others, ix)
						continue
					}
					shadow := pgx.Identifier{Shadow(t.info.Name)}.Sanitize()
					if _, err := c.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s)`, shadow,
						pgx.Identifier{ix.name + shadowSuffix}.Sanitize(), ix.columns)); err != nil {
						return fmt.Errorf("projections: index %s: %w", ix.name, err)
					}
					tick()
				}
				if len(others) == 0 {
					submit(t.size/analyzeShare, analyze(t))
					continue
				}
				t.pending.Store(int64(len(others)))
				for _, ix := range others {
					submit(t.size*buildCost(ix), index(t, ix))
				}
			}
			return nil
		})
	}
	go func() {
		pending.Wait()
		jobs.close()
	}()
	errs := make(chan error, workers)
	for range workers {
		go func() {
			c, err := opts.Pool.Acquire(ctx)
			if err != nil {
				cancel()
				errs <- err
				for _, ok := jobs.pop(); ok; _, ok = jobs.pop() { // let the others finish
					pending.Done()
				}
				return
			}
			defer c.Release()
			first := oneCoreEach(ctx, c.Conn())
			if first != nil {
				cancel()
			} else {
				defer resetOneCoreEach(c.Conn())
			}
			for f, ok := jobs.pop(); ok; f, ok = jobs.pop() {
				if first == nil && ctx.Err() == nil {
					if first = f(ctx, c.Conn()); first != nil {
						cancel()
					}
				}
				pending.Done()
			}
			errs <- first
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// oneCoreEach makes conn's index builds run on one core, sorting in
// memory: the phase's jobs already run side by side on every core, and a
// parallel build costs more CPU for the same index (the tasks' deal
// index over 200k rows: 0.76–0.81 s on three processes with 64 MB each,
// 0.52–0.56 s on one with 256 MB; the timeline's deal index over 738k
// rows: 1.74–1.76 s against 1.21–1.30 s). A server configured with more
// than 256 MB keeps its setting. The statements of a rebuild are never
// short enough for JIT compilation to pay either.
func oneCoreEach(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `SET max_parallel_maintenance_workers = 0; SET jit = off;
		SELECT set_config('maintenance_work_mem', greatest(setting::bigint, 262144)::text || 'kB', false)
		FROM pg_settings WHERE name = 'maintenance_work_mem'`)
	return err
}

// resetOneCoreEach gives a pooled connection its settings back.
func resetOneCoreEach(conn *pgx.Conn) {
	_, _ = conn.Exec(context.Background(), `RESET max_parallel_maintenance_workers; RESET maintenance_work_mem; RESET jit`)
}

// analyzeShare is how much cheaper ANALYZE is than an index build over
// the same table (it reads a sample).
const analyzeShare = 8

// buildCost weighs an index build per byte of its table: a trigram (gin)
// index costs several times a B-tree (over the contacts, in a rebuild of
// a 4.5M-event log: 7.9 s against 1.0–1.3 s for each of their B-trees).
func buildCost(ix indexDef) int64 {
	if strings.Contains(ix.def, " USING gin ") {
		return 8
	}
	return 1
}
