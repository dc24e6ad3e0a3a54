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
	mu    sync.Mutex
	rows  map[Key]R
	order []Key // first insertion order, for eviction
	max   int
}

// rowCacheMax bounds a cache: 25,000 rows of a few hundred bytes each.
// Only live traffic adds rows (see Committer): at 50,000 rows filled by
// the catch-up of a 1.1M-event log, the server's peak RSS went from ~60
// to 214 MB; at 10,000 the rows W1 touches no longer fit.
const rowCacheMax = 25_000

func newRowCache[R any](max int) *rowCache[R] {
	return &rowCache[R]{rows: map[Key]R{}, max: max}
}

// get returns a copy of the row of k.
func (c *rowCache[R]) get(k Key) (*R, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	row, ok := c.rows[k]
	if !ok {
		return nil, false
	}
	return &row, true
}

// put stores copies of rows, evicting the oldest entries beyond max.
func (c *rowCache[R]) put(rows []*R, key func(*R) Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		k := key(row)
		if _, ok := c.rows[k]; !ok {
			c.order = append(c.order, k)
		}
		c.rows[k] = *row
	}
	for len(c.rows) > c.max && len(c.order) > 0 {
		delete(c.rows, c.order[0])
		c.order = c.order[1:]
	}
	if cap(c.order) > 4*c.max { // let the evicted prefix go
		c.order = append([]Key(nil), c.order...)
	}
}

// refresh replaces the rows of keys already cached with copies of rows,
// adding none.
func (c *rowCache[R]) refresh(rows []*R, key func(*R) Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, row := range rows {
		if k := key(row); c.has(k) {
			c.rows[k] = *row
		}
	}
}

func (c *rowCache[R]) has(k Key) bool { _, ok := c.rows[k]; return ok }

// clear forgets every row.
func (c *rowCache[R]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.rows)
	c.order = nil
}
