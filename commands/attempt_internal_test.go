package commands

import (
	"reflect"
	"testing"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// Every state a decision took unread is validated by the append: written
// at the version it was read at, or guarded at it.
func TestAnAppendGuardsEveryStateItsDecisionAssumed(t *testing.T) {
	tenant := uuid.New()
	written, movedOn, readOnly, guarded := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	at := &attempt{optimistic: true}
	for _, id := range []uuid.UUID{written, movedOn, readOnly, guarded} {
		at.assume(streamKey{tenant, id}, 4)
	}
	s := func(id uuid.UUID) events.Stream { return events.Stream{TenantID: tenant, Type: "deal", ID: id} }
	b := events.Batch{
		Streams: []events.Append{
			{Stream: s(written), Expected: 4, Events: make([]events.Pending, 1)},
			{Stream: s(movedOn), Expected: 5, Events: make([]events.Pending, 1)},
		},
		Guards: []events.Guard{{Stream: s(guarded), Version: 4}},
	}
	got := map[uuid.UUID]int{}
	for _, g := range at.guards(b) {
		if g.Stream.TenantID != tenant {
			t.Fatalf("guard of another tenant: %+v", g)
		}
		got[g.Stream.ID]++
		if g.Version != 4 {
			t.Fatalf("guard at version %d, want 4", g.Version)
		}
	}
	want := map[uuid.UUID]int{movedOn: 1, readOnly: 1, guarded: 1}
	if len(got) != len(want) {
		t.Fatalf("guards %v, want %v", got, want)
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("stream %s guarded %d times, want %d (guards %v)", id, got[id], n, got)
		}
	}
}

// A conflict between two requests of this process does not make a stream
// "shared"; one with another writer does.
func TestOnlyAnotherWritersConflictSharesAStream(t *testing.T) {
	c := newStateCache(10)
	k := streamKey{uuid.New(), uuid.New()}
	d := &aggregates.Deal{}
	c.put(k, 3, d)

	// Another request of this process appends to k while this one
	// conflicts on it.
	c.appendStarted([]streamKey{k})
	c.conflicted(k, 3)
	if s, _ := c.get(k, reflect.TypeFor[aggregates.Deal]()); !s.trusted || s.shared {
		t.Fatalf("a conflict with this process's own append shared the stream: %+v", s)
	}
	c.appendEnded([]streamKey{k}, []int{4})
	if s, _ := c.get(k, reflect.TypeFor[aggregates.Deal]()); s.trusted {
		t.Fatalf("a state behind this process's append is still trusted")
	}
	c.conflicted(k, 3)
	c.put(k, 4, d)
	if s, _ := c.get(k, reflect.TypeFor[aggregates.Deal]()); !s.trusted || s.shared {
		t.Fatalf("after this process's append: %+v", s)
	}

	// Nothing of this process in flight: another writer.
	c.conflicted(k, 4)
	if s, _ := c.get(k, reflect.TypeFor[aggregates.Deal]()); s.trusted || !s.shared {
		t.Fatalf("another writer's conflict left the stream trusted: %+v", s)
	}
	c.put(k, 6, d)
	if s, _ := c.get(k, reflect.TypeFor[aggregates.Deal]()); s.trusted || !s.shared || s.version != 6 {
		t.Fatalf("a shared stream became trusted again: %+v", s)
	}
}
