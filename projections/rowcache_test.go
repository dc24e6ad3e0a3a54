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
// cached) and at most max rows, the oldest going first.
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
	// A catch-up's rows refresh what is cached and add nothing.
	b2, e := &cachedRow{b.ID, 20}, &cachedRow{uuid.New(), 5}
	c.refresh([]*cachedRow{b2, e}, key)
	if got, _ := c.get(key(b)); got.N != 20 {
		t.Fatalf("b after a refresh: %+v, want N=20", got)
	}
	if _, ok := c.get(key(e)); ok {
		t.Fatal("a refresh added a row")
	}
	c.clear()
	if _, ok := c.get(key(d)); ok {
		t.Fatal("cleared, yet d is there")
	}
}
