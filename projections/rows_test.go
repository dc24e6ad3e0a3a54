package projections

import (
	"slices"
	"testing"

	"github.com/google/uuid"
)

type workingRow struct {
	ID uuid.UUID `db:"id" json:"id"`
	N  int       `db:"n" json:"n"`
}

// A working set answers each key with its latest row, however the row
// got there (loaded, put, or replaced where Row found it), and reports
// every changed row once, in the order it first changed, beside the
// state it was loaded in (nil for a row the fold created).
func TestAWorkingSetReportsEachChangedRowOnceWithItsLoadedState(t *testing.T) {
	t.Parallel()
	tbl := NewTable("working", [2]string{"id", "id"}, func(r *workingRow) Key { return Key{ID: r.ID} })
	rows := NewRows(tbl)
	loaded, untouched := &workingRow{uuid.New(), 1}, &workingRow{uuid.New(), 7}
	rows.adopt([]*workingRow{loaded, untouched})

	created := &workingRow{uuid.New(), 10}
	if got, at := rows.Row(Key{ID: created.ID}); got != nil || at != -1 {
		t.Fatalf("Row of an absent key: %v at %d, want nil at -1", got, at)
	}
	rows.Replace(-1, created) // as a fold does for a new stream
	cur, at := rows.Row(Key{ID: loaded.ID})
	rows.Replace(at, &workingRow{cur.ID, cur.N + 1})
	cur, at = rows.Row(Key{ID: created.ID})
	rows.Replace(at, &workingRow{cur.ID, cur.N + 1})
	rows.Put(&workingRow{loaded.ID, 3})
	_, at = rows.Row(Key{ID: untouched.ID})
	rows.Replace(at, &workingRow{created.ID, 11}) // another key than at's: stored under its own
	rows.adopt([]*workingRow{{loaded.ID, 100}})   // a late read never overwrites the fold's row

	if got := rows.Get(Key{ID: loaded.ID}); got.N != 3 {
		t.Fatalf("loaded row: N=%d, want 3", got.N)
	}
	if got := rows.Get(Key{ID: created.ID}); got.N != 11 {
		t.Fatalf("created row: N=%d, want 11", got.N)
	}
	type change struct{ before, after int }
	var changes []change
	rows.Changed(func(before, after *workingRow) {
		c := change{-1, after.N}
		if before != nil {
			c.before = before.N
		}
		changes = append(changes, c)
	})
	if want := []change{{-1, 11}, {1, 3}}; !slices.Equal(changes, want) {
		t.Fatalf("changes %v, want %v (each once, in the order they first changed)", changes, want)
	}
	var dirty []int
	for _, r := range rows.Dirty() {
		dirty = append(dirty, r.N)
	}
	if want := []int{11, 3}; !slices.Equal(dirty, want) {
		t.Fatalf("dirty %v, want %v", dirty, want)
	}
	if n := len(rows.All()); n != 3 {
		t.Fatalf("%d rows in all, want 3", n)
	}
}
