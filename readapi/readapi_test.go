package readapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"example.com/crm"
	"example.com/crm/readapi"
)

func TestTimeSerializesAsAPIWants(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 19, 8, 38, 123_456_789, time.UTC), `"2026-11-25T19:08:38.123Z"`},
		{time.Date(2026, 11, 25, 20, 8, 38, 0, paris), `"2026-11-25T19:08:38.000Z"`},
		{time.Date(2026, 1, 2, 3, 4, 5, 1_000_000, time.UTC), `"2026-01-02T03:04:05.001Z"`},
	} {
		got, err := json.Marshal(readapi.NewTime(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("%v: got %s (%v), want %s", c.in, got, err, c.want)
		}
		var back readapi.Time
		if err := json.Unmarshal(got, &back); err != nil || !back.Equal(c.in.Truncate(time.Millisecond)) {
			t.Errorf("%s read back as %v (%v)", got, back, err)
		}
	}
	var nullable struct {
		At *readapi.Time `json:"at"`
	}
	if b, _ := json.Marshal(nullable); string(b) != `{"at":null}` {
		t.Errorf("nil *Time: %s", b)
	}
}

func TestListItemsAreNeverNull(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(readapi.List[readapi.Deal]{Items: []readapi.Deal{}, Page: 1, PageSize: 20})
	if err != nil || string(b) != `{"items":[],"total":0,"page":1,"page_size":20}` {
		t.Fatalf("got %s, %v", b, err)
	}
}

func TestFiltersApplyTheAPIDefaults(t *testing.T) {
	t.Parallel()
	c, err := readapi.ContactFilter{Search: "  ann "}.Normalize()
	if err != nil || c.Page != (readapi.Page{Page: 1, PageSize: 20}) || c.OrderBy != readapi.ContactsByCreatedAt || c.Order != readapi.Desc || c.Search != "ann" {
		t.Errorf("contacts: %+v, %v", c, err)
	}
	d, err := readapi.DealFilter{Currency: "eur"}.Normalize()
	if err != nil || d.OrderBy != readapi.DealsByCreatedAt || d.Order != readapi.Desc || d.Currency != "EUR" {
		t.Errorf("deals: %+v, %v", d, err)
	}
	tk, err := readapi.TaskFilter{}.Normalize()
	if err != nil || tk.OrderBy != readapi.TasksByDueDate || tk.Order != readapi.Asc {
		t.Errorf("tasks: %+v, %v", tk, err)
	}
	a, err := readapi.ActivityFilter{Page: readapi.Page{Page: 3, PageSize: 100}}.Normalize()
	if err != nil || a.Order != readapi.Asc || a.Page.Offset() != 200 {
		t.Errorf("activities: %+v, %v", a, err)
	}
}

func TestFiltersRejectWhatTheAPIRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		fields []string
	}{
		{"page 0 is the default, -1 is not", second(readapi.ContactFilter{Page: readapi.Page{Page: -1}}.Normalize()), []string{"page"}},
		{"page_size above 100", second(readapi.DealFilter{Page: readapi.Page{PageSize: 101}}.Normalize()), []string{"page_size"}},
		{"page_size below 1", second(readapi.TaskFilter{Page: readapi.Page{PageSize: -5}}.Normalize()), []string{"page_size"}},
		{"contact order_by", second(readapi.ContactFilter{OrderBy: "email"}.Normalize()), []string{"order_by"}},
		{"deal order_by", second(readapi.DealFilter{OrderBy: "stage"}.Normalize()), []string{"order_by"}},
		{"task order_by", second(readapi.TaskFilter{OrderBy: "title"}.Normalize()), []string{"order_by"}},
		{"order", second(readapi.DealFilter{Order: "up"}.Normalize()), []string{"order"}},
		{"unknown currency", second(readapi.DealFilter{Currency: "XYZ"}.Normalize()), []string{"currency"}},
		{"search that is not UTF-8", second(readapi.ContactFilter{Search: "a\xffb"}.Normalize()), []string{"search"}},
		{"search with NUL", second(readapi.DealFilter{Search: "a\x00b"}.Normalize()), []string{"search"}},
		{"activity type", second(readapi.ActivityFilter{Types: []string{"comment", "deal_deleted"}}.Normalize()), []string{"type"}},
		{"every field at fault", second(readapi.DealFilter{OrderBy: "x", Order: "y", Page: readapi.Page{Page: -1, PageSize: 1000}}.Normalize()),
			[]string{"page", "page_size", "order_by", "order"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var e *crm.Error
			if !errors.As(c.err, &e) || e.Code != crm.CodeValidation {
				t.Fatalf("want VALIDATION_ERROR, got %v", c.err)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(fields, c.fields) {
				t.Fatalf("fields %v, want %v", fields, c.fields)
			}
		})
	}
}

func TestEventualConsistencyIsAContextFlag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if readapi.IsEventual(ctx) {
		t.Fatal("read-your-writes is the default")
	}
	if !readapi.IsEventual(readapi.WithEventualConsistency(ctx)) {
		t.Fatal("WithEventualConsistency is not seen")
	}
}

func TestActivityTypesAreTheAPIs(t *testing.T) {
	t.Parallel()
	want := []string{"deal_created", "stage_changed", "status_changed", "deal_updated", "task_created",
		"task_completed", "task_reopened", "task_updated", "task_deleted", "comment"}
	if !slices.Equal(readapi.ActivityTypes(), want) {
		t.Fatalf("got %v", readapi.ActivityTypes())
	}
}

func second[T any](_ T, err error) error { return err }
