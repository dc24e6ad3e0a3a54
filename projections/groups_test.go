package projections

import (
	"slices"
	"strings"
	"testing"

	"example.com/crm/events"
)

// readsPrefix is a model that reads the event types starting with prefix.
type readsPrefix struct {
	Model
	prefix string
}

func (m readsPrefix) Wants(t string) bool { return strings.HasPrefix(t, m.prefix) }

// partOf is a projector's share of a batch of events of the given types.
func partOf(name, reads string, types ...string) *part {
	pt := &part{m: &member{p: Projector{Name: name, Model: readsPrefix{prefix: reads}}}}
	for _, t := range types {
		pt.items = append(pt.items, item{Event: events.Event{Type: t}})
	}
	return pt
}

// names lists each group's projectors.
func names(groups [][]*part) [][]string {
	var out [][]string
	for _, g := range groups {
		var ns []string
		for _, pt := range g {
			ns = append(ns, pt.m.p.Name)
		}
		slices.Sort(ns)
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// The parallel transactions of a live batch share its work: the
// projectors with events to fold are spread over them, and those with
// nothing to fold (their checkpoints move all the same) ride along
// instead of taking a transaction of their own.
func TestTheWorkOfABatchIsSharedByItsTransactions(t *testing.T) {
	t.Parallel()
	patches := []string{"deal.updated", "deal.stage_changed", "deal.updated"}
	contacts := partOf("contacts", "contact.", patches...)
	deals := partOf("deals", "deal.", patches...)
	tasks := partOf("tasks", "task.", patches...)
	timeline := partOf("activities", "deal.", patches...)

	groups := groupParts([]*part{contacts, deals, tasks, timeline}, 2)
	if len(groups) != 2 {
		t.Fatalf("%d groups, want 2", len(groups))
	}
	for _, g := range groups {
		busy := 0
		for _, pt := range g {
			if pt == deals || pt == timeline {
				busy++
			}
		}
		if busy != 1 {
			t.Fatalf("groups %v: want deals and activities in different transactions", names(groups))
		}
	}

	// One busy projector: one transaction for the batch.
	creations := []string{"contact.created", "contact.created"}
	got := names(groupParts([]*part{
		partOf("contacts", "contact.", creations...), partOf("deals", "deal.", creations...),
		partOf("tasks", "task.", creations...), partOf("activities", "deal.", creations...),
	}, 2))
	if want := [][]string{{"activities", "contacts", "deals", "tasks"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups %v, want %v", got, want)
	}

	// The heaviest part alone, the lighter ones together, and the idle
	// one with them (the lighter group).
	got = names(groupParts([]*part{
		partOf("a", "x.", "x.1", "x.2", "x.3", "x.4"), partOf("b", "x.", "x.1", "y.2", "y.3"),
		partOf("c", "x.", "x.1", "x.2", "y.3"), partOf("d", "y.", "x.1"),
	}, 2))
	if want := [][]string{{"a"}, {"b", "c", "d"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups %v, want %v", got, want)
	}
}
