package projections

import "sync"

// rowCache keeps, in this process, the rows a RowModel's projector last
// committed, so that a batch whose streams it already knows needs no read
// before its writes: its transaction is then one round trip instead of
// two (see Runner.applyParts).
//
// It is only ever right because one process at a time writes a
// projector's tables (the lease), and every other writer moves the
// projector's checkpoint (a rebuild's swap, skip and retry), which the
// next batch notices: the engine forgets the cache whenever it takes a
// lease, whenever a batch fails or finds its checkpoint moved. Rows enter
// it only after their transaction committed, as copies.
type rowCache[R any] struct {
	mu   sync.Mutex
	rows map[Key]cached[R]
	// order lists the puts, oldest first, for eviction: the row put
	// longest ago goes first. A row put again is listed again; its
	// earlier entries are stale (their seq is not the row's).
	order []putAt
	seq   uint64
	max   int
}

type cached[R any] struct {
	row R
	seq uint64
}

type putAt struct {
	k   Key
	seq uint64
}

// rowCacheMax bounds a cache: 25,000 rows of a few hundred bytes each.
// Every batch of the live path adds its rows (see rowFold.Committed):
// at 50,000 rows in each of four caches, filled by the catch-up of a
// 1.1M-event log, the server's peak RSS went from ~60 to 214 MB; at
// 10,000 the rows W1 touches no longer fit.
const rowCacheMax = 25_000

func newRowCache[R any](max int) *rowCache[R] {
	return &rowCache[R]{rows: map[Key]cached[R]{}, max: max}
}

// get returns a copy of the row of k.
func (c *rowCache[R]) get(k Key) (*R, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.rows[k]
	if !ok {
		return nil, false
	}
	row := e.row
	return &row, true
}

// put stores copies of rows, evicting the rows put longest ago beyond
// max.
func (c *rowCache[R]) put(rows []*R, key func(*R) Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		c.seq++
		k := key(row)
		c.rows[k] = cached[R]{row: *row, seq: c.seq}
		c.order = append(c.order, putAt{k, c.seq})
	}
	for len(c.rows) > c.max && len(c.order) > 0 {
		p := c.order[0]
		c.order = c.order[1:]
		if e, ok := c.rows[p.k]; ok && e.seq == p.seq {
			delete(c.rows, p.k)
		}
	}
	if len(c.order) > 2*c.max { // drop the stale entries
		live := make([]putAt, 0, len(c.rows))
		for _, p := range c.order {
			if e, ok := c.rows[p.k]; ok && e.seq == p.seq {
				live = append(live, p)
			}
		}
		c.order = live
	}
}

// clear forgets every row.
func (c *rowCache[R]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.rows)
	c.order = nil
}
