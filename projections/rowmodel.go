package projections

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
)

// RowModel is a read model of one row per stream (a contact, a deal, a
// stream's statistics): a reducer folding the events of one stream type
// into the stream's row, and counters derived from what each row
// contributes. It is the shell every such projector shares: load the
// rows a batch touches, reduce, write the changed rows and the counter
// deltas; on a rebuild, COPY the rows and derive the counters by GROUP BY.
type RowModel[R any] struct {
	Table *Table[R]
	// StreamType is the type of the streams folded ("" for every stream).
	StreamType string
	// Reduce is the read model's reducer: row is nil before the
	// stream's first event; it returns row itself when e changes
	// nothing (the version guard is its first rule).
	Reduce func(row *R, e events.Event) (*R, error)
	// Counters are the tables derived from the rows.
	Counters []CounterSpec[R]
	// Sides are narrow tables derived row by row (see SideSpec).
	Sides []SideSpec[R]
	// Reads reports whether the reducer reads payloads of an event type
	// (see Model.Wants).
	Reads func(eventType string) bool

	cacheOnce sync.Once
	cache     *rowCache[R]
}

// rows is the model's cache of committed rows (see rowCache).
func (m *RowModel[R]) rows() *rowCache[R] {
	m.cacheOnce.Do(func() { m.cache = newRowCache[R](rowCacheMax) })
	return m.cache
}

// Forget implements Forgetter: the cached rows may be stale.
func (m *RowModel[R]) Forget() { m.rows().clear() }

// warmEvents is how far back in the log the warm-up looks for streams.
const warmEvents = 2 * rowCacheMax

// warmSQL lists the streams among the log's newest warmEvents events
// with their types, the newest first: a backward walk of the log's
// primary key, (transaction_id, position), whatever the size of the log
// and the tables. The bound is a constant in the text so that a generic
// plan keeps that walk: on a 3.8M-event log it takes ~0.1–0.4 s, where
// ordering by position alone sorted the whole log (2.8 s).
var warmSQL = fmt.Sprintf(`
SELECT stream_type, tenant_id, stream_id FROM (
    SELECT tenant_id, stream_id, stream_type, position FROM events
    ORDER BY transaction_id DESC, position DESC LIMIT %d) e
GROUP BY stream_type, tenant_id, stream_id
ORDER BY max(position) DESC`, warmEvents)

// readRecent reads the Recent streams for a warm-up, at most rowCacheMax
// of each type.
func readRecent(ctx context.Context, q Querier) (Recent, error) {
	rows, err := q.Query(ctx, warmSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recent := Recent{}
	for rows.Next() {
		var typ string
		var k Key
		if err := rows.Scan(&typ, &k.Org, &k.ID); err != nil {
			return nil, err
		}
		if len(recent[typ]) < rowCacheMax {
			recent[typ] = append(recent[typ], k)
		}
	}
	return recent, rows.Err()
}

// Warm implements Warmer: it fills the row cache with the rows of the
// recent streams of the model's type. Without it, a process that had
// just started (a deploy, a fail-over) read rows before most of its first
// batches: in W2 after W1's restarts, 45 % of them.
func (m *RowModel[R]) Warm(ctx context.Context, q Querier, recent Recent) error {
	keys := recent[m.StreamType]
	if m.StreamType == "" || len(keys) == 0 {
		return nil
	}
	var got []*R
	b := &pgx.Batch{}
	m.Table.QueueLoad(b, Live, keys, func(rs []*R) { got = rs })
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	// Oldest first, so that the newest are evicted last.
	byKey := make(map[Key]*R, len(got))
	for _, r := range got {
		byKey[m.Table.Key(r)] = r
	}
	ordered := make([]*R, 0, len(got))
	for i := len(keys) - 1; i >= 0; i-- {
		if r, ok := byKey[keys[i]]; ok {
			ordered = append(ordered, r)
		}
	}
	m.rows().put(ordered, m.Table.Key)
	return nil
}

// CounterSpec derives one counter table from a RowModel's rows.
type CounterSpec[R any] struct {
	Counter *Counter
	// Of returns the key and the sums a row adds to the counter, or
	// false when it counts nowhere (a deleted row).
	Of func(row *R) (key []any, sums []int64, counts bool)
	// Derive is the rebuild's SELECT of the counter's columns from the
	// base table, written as %s (e.g. `SELECT org_id, count(*) FROM %s
	// WHERE NOT deleted GROUP BY org_id`).
	Derive string
}

// Tables implements Model.
func (m *RowModel[R]) Tables() []TableInfo {
	out := []TableInfo{m.Table.Info()}
	for _, c := range m.Counters {
		out = append(out, c.Counter.Info())
	}
	for _, s := range m.Sides {
		out = append(out, s.info(m.Table.KeyCols))
	}
	return out
}

// Wants implements Model.
func (m *RowModel[R]) Wants(eventType string) bool { return m.Reads != nil && m.Reads(eventType) }

// NewFold implements Model.
func (m *RowModel[R]) NewFold(names Names) Fold {
	return &rowFold[R]{m: m, names: names, rows: NewRows(m.Table), live: names(m.Table.Name) == m.Table.Name}
}

type rowFold[R any] struct {
	m     *RowModel[R]
	names Names
	rows  *Rows[R]
	// live: the fold writes the live tables, and may use and fill the
	// model's row cache (a rebuild's shadow tables never do).
	live bool
	// doubt: read the rows of new streams too (Doubter).
	doubt bool
}

// ReadEveryRow implements Doubter.
func (f *rowFold[R]) ReadEveryRow() { f.doubt = true }

func (f *rowFold[R]) folds(e events.Event) bool {
	return f.m.StreamType == "" || e.StreamType == f.m.StreamType
}

// StreamKeys returns the keys of the streams of batch that folds picks,
// split into those whose rows must be read (stored) and those that
// cannot have a row yet (fresh): streams whose first event in batch is
// the stream's first (version 1). A read model's rows commit together
// with its checkpoint, and every event of a batch comes after that
// checkpoint, so no row can exist yet for a stream that starts in it:
// reading one cost a round trip to learn nothing, and in W1, where a
// third of the commands create a contact, a deal or a task, nearly every
// live batch paid it. Rows.Fresh holds the write of such rows to that
// promise.
//
// With doubt (see Doubter), every key is stored.
func StreamKeys(batch []events.Event, folds func(events.Event) bool, doubt bool) (stored, fresh []Key) {
	seen := map[Key]bool{}
	for _, e := range batch {
		if !folds(e) {
			continue
		}
		k := Key{Org: e.TenantID, ID: e.StreamID}
		if seen[k] {
			continue
		}
		seen[k] = true
		if e.Version == 1 && !doubt {
			fresh = append(fresh, k)
		} else {
			stored = append(stored, k)
		}
	}
	return stored, fresh
}

func (f *rowFold[R]) Load(b *pgx.Batch, batch []events.Event) {
	keys, fresh := StreamKeys(batch, f.folds, f.doubt)
	f.rows.Fresh(fresh)
	if f.live {
		cache, missing := f.m.rows(), keys[:0:0]
		for _, k := range keys {
			if row, ok := cache.get(k); ok {
				f.rows.adopt([]*R{row})
			} else {
				missing = append(missing, k)
			}
		}
		keys = missing
	}
	f.rows.Load(b, f.names, keys)
}

// Committed implements Committer: the rows the batch loaded and wrote
// are what the tables now hold, and the likeliest to be touched next.
// Every batch of the live path adds them, a catch-up's too: after a
// restart the backlog is what the commands were touching (W1's phase
// after one without projectors: 80 % of the projectors' batches had to
// read a row first when only batches of live traffic filled the cache,
// 12 % since).
func (f *rowFold[R]) Committed() {
	if f.live {
		f.m.rows().put(f.rows.All(), f.m.Table.Key)
	}
}

func (f *rowFold[R]) Apply(e events.Event) error {
	if !f.folds(e) {
		return nil
	}
	cur, at := f.rows.Row(Key{Org: e.TenantID, ID: e.StreamID})
	next, err := f.m.Reduce(cur, e)
	if err != nil || next == cur {
		return err
	}
	f.rows.Replace(at, next)
	return nil
}

// Flush queues the changed rows, moves each one's contribution to the
// counters from its old cells to its new ones, and writes the side rows
// that changed.
func (f *rowFold[R]) Flush(b *pgx.Batch) error {
	counters := make([]*Counter, len(f.m.Counters))
	for i, c := range f.m.Counters {
		counters[i] = c.Counter.Fresh()
	}
	sides := make([]*sideWrites, len(f.m.Sides))
	for i, s := range f.m.Sides {
		sides[i] = newSideWrites(s, f.m.Table.KeyCols)
	}
	f.rows.Changed(func(before, after *R) {
		for i, s := range f.m.Sides {
			var was []any
			had := false
			if before != nil {
				was, had = s.Of(before)
			}
			now, has := s.Of(after)
			sides[i].change(f.m.Table.Key(after), was, had, now, has)
		}
		for i, c := range f.m.Counters {
			if before != nil {
				if key, sums, ok := c.Of(before); ok {
					counters[i].Add(key, negate(sums)...)
				}
			}
			if key, sums, ok := c.Of(after); ok {
				counters[i].Add(key, sums...)
			}
		}
	})
	if err := f.rows.QueueUpsert(b, f.names); err != nil {
		return err
	}
	for _, c := range counters {
		if err := c.Queue(b, f.names); err != nil {
			return err
		}
	}
	for _, s := range sides {
		if err := s.queue(b, f.names); err != nil {
			return err
		}
	}
	return nil
}

func negate(sums []int64) []int64 {
	out := make([]int64, len(sums))
	for i, s := range sums {
		out[i] = -s
	}
	return out
}

// Copy writes every row into the shadow table and derives the counters
// and the side tables.
func (f *rowFold[R]) Copy(ctx context.Context, conn *pgx.Conn) error {
	if err := f.rows.Copy(ctx, conn, f.names); err != nil {
		return err
	}
	if err := DeriveCounters(ctx, conn, f.names, f.m.Table.Name, f.m.Counters); err != nil {
		return err
	}
	return deriveSides(ctx, conn, f.names, f.m.Table.Name, f.m.Table.KeyCols, f.m.Sides)
}

// DeriveCounters fills the shadow counter tables from the shadow base
// table by GROUP BY (the rebuild's way to the same sums).
func DeriveCounters[R any](ctx context.Context, conn *pgx.Conn, names Names, base string, specs []CounterSpec[R]) error {
	for _, c := range specs {
		cols := append(append([]string{}, c.Counter.KeyCols...), c.Counter.SumCols...)
		sql := fmt.Sprintf(`INSERT INTO %s (%s) `+c.Derive, pgx.Identifier{names(c.Counter.Name)}.Sanitize(),
			strings.Join(cols, ", "), pgx.Identifier{names(base)}.Sanitize())
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("derive %s: %w", c.Counter.Name, err)
		}
	}
	return nil
}

// One is the sums of a row that counts once.
var One = []int64{1}

// Prefix returns a Reads function for the event types starting with p.
func Prefix(p string) func(string) bool {
	return func(t string) bool { return strings.HasPrefix(t, p) }
}
