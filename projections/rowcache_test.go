package projections

import (
	"testing"

	"github.com/google/uuid"
)

type cachedRow struct {
	ID uuid.UUID
	N  int
}

// The cache holds copies (a fold changing its row later changes nothing
// cached) and at most max rows, the one put longest ago going first.
func TestRowCacheHoldsCopiesAndEvictsTheOldest(t *testing.T) {
	t.Parallel()
	key := func(r *cachedRow) Key { return Key{ID: r.ID} }
	c := newRowCache[cachedRow](2)
	a, b, d := &cachedRow{uuid.New(), 1}, &cachedRow{uuid.New(), 2}, &cachedRow{uuid.New(), 3}
	c.put([]*cachedRow{a, b}, key)
	a.N = 100
	if got, ok := c.get(key(a)); !ok || got.N != 1 {
		t.Fatalf("a: %+v %v, want the copy with N=1", got, ok)
	}
	got, _ := c.get(key(b))
	got.N = 200
	if again, _ := c.get(key(b)); again.N != 2 {
		t.Fatalf("b changed through a returned row: %+v", again)
	}
	c.put([]*cachedRow{d}, key)
	if _, ok := c.get(key(a)); ok {
		t.Fatal("a, the oldest, is still cached beyond max")
	}
	for _, r := range []*cachedRow{b, d} {
		if _, ok := c.get(key(r)); !ok {
			t.Fatalf("%v evicted", r)
		}
	}
	// A row put again replaces the cached one, and goes last: the next
	// row evicts d, put longest ago, not b.
	c.put([]*cachedRow{{b.ID, 20}}, key)
	if got, _ := c.get(key(b)); got.N != 20 {
		t.Fatalf("b put again: %+v, want N=20", got)
	}
	e := &cachedRow{uuid.New(), 5}
	c.put([]*cachedRow{e}, key)
	if _, ok := c.get(key(d)); ok {
		t.Fatal("d, put longest ago, is still cached beyond max")
	}
	for _, r := range []*cachedRow{b, e} {
		if _, ok := c.get(key(r)); !ok {
			t.Fatalf("%v evicted", r)
		}
	}
	c.clear()
	if _, ok := c.get(key(e)); ok {
		t.Fatal("cleared, yet e is there")
	}
}

// Putting the same rows over and over keeps the cache's bookkeeping
// bounded: the stale entries of rows put again are dropped.
func TestRowCachePutAgainAndAgainStaysBounded(t *testing.T) {
	t.Parallel()
	key := func(r *cachedRow) Key { return Key{ID: r.ID} }
	c := newRowCache[cachedRow](10)
	rows := []*cachedRow{{uuid.New(), 1}, {uuid.New(), 2}}
	for range 1000 {
		c.put(rows, key)
	}
	if len(c.order) > 2*c.max {
		t.Fatalf("%d eviction entries for %d rows (max %d)", len(c.order), len(c.rows), c.max)
	}
	for _, r := range rows {
		if _, ok := c.get(key(r)); !ok {
			t.Fatalf("%v lost", r)
		}
	}
}
