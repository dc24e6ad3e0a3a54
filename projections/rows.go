package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Rows is one table's working set during a fold: each row as it was
// loaded (for counter deltas) and as the events left it. Reducers read
// and replace rows by key; Rows remembers which changed.
type Rows[R any] struct {
	T      *Table[R]
	before map[Key]R
	cur    map[Key]*R
	order  []Key
	dirty  map[Key]bool
	// fresh are the keys taken to have no row without reading (Fresh).
	fresh map[Key]bool
}

// NewRows starts an empty working set of t.
func NewRows[R any](t *Table[R]) *Rows[R] {
	return &Rows[R]{T: t, before: map[Key]R{}, cur: map[Key]*R{}, dirty: map[Key]bool{}}
}

// Load queues the read of the rows of keys not in the working set yet.
func (r *Rows[R]) Load(b *pgx.Batch, names Names, keys []Key) {
	var missing []Key
	seen := map[Key]bool{}
	for _, k := range keys {
		if _, ok := r.cur[k]; !ok && !seen[k] {
			missing, seen[k] = append(missing, k), true
		}
	}
	r.T.QueueLoad(b, names, missing, r.adopt)
}

// Fresh records keys as having no row yet, unread: streams that start
// in the batch (see StreamKeys). Their writes check it (CR011).
func (r *Rows[R]) Fresh(keys []Key) {
	for _, k := range keys {
		if r.fresh == nil {
			r.fresh = map[Key]bool{}
		}
		r.fresh[k] = true
	}
}

// LoadWhere queues the read of the rows matching cond (see
// Table.QueueLoadWhere); loaded calls back once they are in.
func (r *Rows[R]) LoadWhere(b *pgx.Batch, names Names, loaded func([]*R), cond string, args ...any) {
	r.T.QueueLoadWhere(b, names, func(rs []*R) {
		r.adopt(rs)
		if loaded != nil {
			loaded(rs)
		}
	}, cond, args...)
}

func (r *Rows[R]) adopt(got []*R) {
	for _, row := range got {
		k := r.T.Key(row)
		if _, ok := r.cur[k]; ok {
			continue // the working set's copy is newer
		}
		r.before[k] = *row
		r.cur[k] = row
	}
}

// Get returns the row of k, nil when there is none.
func (r *Rows[R]) Get(k Key) *R { return r.cur[k] }

// Put stores row as the new state of its key.
func (r *Rows[R]) Put(row *R) {
	k := r.T.Key(row)
	r.cur[k] = row
	if !r.dirty[k] {
		r.dirty[k] = true
		r.order = append(r.order, k)
	}
}

// Changed calls f for every row that changed, with its state before the
// fold (nil for a new row) and after.
func (r *Rows[R]) Changed(f func(before, after *R)) {
	for _, k := range r.order {
		var b *R
		if old, ok := r.before[k]; ok {
			b = &old
		}
		f(b, r.cur[k])
	}
}

// Dirty lists the changed rows, in the order they first changed.
func (r *Rows[R]) Dirty() []*R {
	out := make([]*R, len(r.order))
	for i, k := range r.order {
		out[i] = r.cur[k]
	}
	return out
}

// All lists every row of the working set (a rebuild's result).
func (r *Rows[R]) All() []*R {
	out := make([]*R, 0, len(r.cur))
	for _, row := range r.cur {
		out = append(out, row)
	}
	return out
}

// QueueUpsert queues the write of every changed row.
func (r *Rows[R]) QueueUpsert(b *pgx.Batch, names Names) error {
	var fresh []Key
	for _, k := range r.order {
		if r.fresh[k] {
			fresh = append(fresh, k)
		}
	}
	return r.T.QueueUpsertFresh(b, names, r.Dirty(), fresh)
}

// Copy writes every row into the shadow table.
func (r *Rows[R]) Copy(ctx context.Context, conn *pgx.Conn, names Names) error {
	_, err := r.T.Copy(ctx, conn, names, r.All())
	return err
}
