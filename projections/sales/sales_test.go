package sales

import (
	"slices"
	"strings"
	"testing"

	"example.com/crm"
	"example.com/crm/events"
)

func TestProjectorNamesAreAPI(t *testing.T) {
	t.Parallel()
	var names []string
	for _, p := range Projectors() {
		if p.Model == nil {
			t.Errorf("%s has no model", p.Name)
		}
		names = append(names, p.Name)
	}
	if want := []string{"contacts", "deals", "tasks", "activities"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
}

func TestAmountsReadFromChanges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   any
		want crm.Amount
		ok   bool
	}{
		{"10.00", 1000, true},
		{"2500.5", 250050, true},
		{"0", 0, true},
		{crm.Amount(42), 42, true},
		{float64(1000), 0, false}, // a JSON number: units or cents? refused
		{"-1.00", 0, false},
		{"1.005", 0, false},
		{nil, 0, false},
	} {
		got, err := amountOf(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("amountOf(%#v) = %d, %v", c.in, got, err)
		}
	}
}

func TestTimelineShowsAmountsAsTheAPIDoes(t *testing.T) {
	t.Parallel()
	got, err := dealChanges(map[string]events.Change{
		"amount": {Old: "10", New: "2500.5"},
		"title":  {Old: "a", New: "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["amount"] != (events.Change{Old: "10.00", New: "2500.50"}) || got["title"] != (events.Change{Old: "a", New: "b"}) {
		t.Fatalf("got %+v", got)
	}
	if _, err := dealChanges(map[string]events.Change{"amount": {Old: 1.5, New: "1.00"}}); err == nil {
		t.Fatal("a numeric amount was accepted")
	}
}

func TestChangesOfTheWrongTypeAreRefused(t *testing.T) {
	t.Parallel()
	if _, err := newString("name", events.Change{New: 3.0}); err == nil {
		t.Error("newString accepted a number")
	}
	if v, err := newNullable("email", events.Change{New: nil}); err != nil || v != nil {
		t.Errorf("null does not clear: %v, %v", v, err)
	}
	if _, err := newUUID("owner_id", events.Change{New: "nope"}); err == nil {
		t.Error("newUUID accepted garbage")
	}
	if d, err := newDate("due_date", events.Change{New: "2026-02-28"}); err != nil || d.Format("2006-01-02") != "2026-02-28" {
		t.Errorf("newDate: %v, %v", d, err)
	}
	if _, err := newDate("due_date", events.Change{New: "2026-02-30"}); err == nil {
		t.Error("newDate accepted Feb 30")
	}
}

// Every event of a stream moves its version, which is the entity's ETag:
// so the projector of each stream type must handle every event type of
// that stream, including ones that change no visible field.
func TestEveryStreamEventIsProjected(t *testing.T) {
	t.Parallel()
	handled := map[string][]string{}
	for _, p := range Projectors() {
		for _, name := range events.Domain().Names() {
			if p.Model.Wants(name) {
				handled[p.Name] = append(handled[p.Name], name)
			}
		}
	}
	owner := map[string]string{"contact.": NameContacts, "deal.": NameDeals, "task.": NameTasks}
	for _, name := range events.Domain().Names() {
		for prefix, projector := range owner {
			if strings.HasPrefix(name, prefix) && !slices.Contains(handled[projector], name) {
				t.Errorf("%s does not handle %s", projector, name)
			}
		}
	}
}
