package pgread_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/readapi"
)

func taskID(t readapi.Task) uuid.UUID { return t.ID }

func TestTaskLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	d1 := o.newDeal(events.DealCreated{ContactID: c, Title: "one", Amount: 100})
	d2 := o.newDeal(events.DealCreated{ContactID: c, Title: "two", Amount: 100})

	call := o.newTask(events.TaskCreated{DealID: d1, Title: "call", DueDate: "2026-03-01"})
	mail := o.newTask(events.TaskCreated{DealID: d1, Title: "mail", DueDate: "2026-03-05"})
	o.onTask(mail, events.TaskCompleted{DealID: d1, Title: "mail"})
	meet := o.newTask(events.TaskCreated{DealID: d1, Title: "meet", DueDate: "2026-03-06"})
	o.onTask(meet, events.TaskUpdated{DealID: d1, Changes: map[string]events.Change{
		"due_date": {Old: "2026-03-06", New: "2026-03-03"}, "description": {Old: nil, New: "agenda"}}})
	o.onTask(meet, events.TaskCompleted{DealID: d1, Title: "meet"}, events.TaskReopened{DealID: d1, Title: "meet"})
	orphan := o.newTask(events.TaskCreated{DealID: d2, Title: "orphan", DueDate: "2026-03-02"})
	gone := o.newTask(events.TaskCreated{DealID: d1, Title: "gone", DueDate: "2026-03-04"})
	o.onTask(gone, events.TaskDeleted{DealID: d1, Title: "gone"})
	twin := o.newTask(events.TaskCreated{DealID: d1, Title: "twin", DueDate: "2026-03-01"})
	o.deleteDeal(d2)
	names := map[uuid.UUID]string{call: "call", mail: "mail", meet: "meet", orphan: "orphan", gone: "gone", twin: "twin"}
	caughtUp(t, e, o)
	checkCounters(t, e, o.id)
	firstTwo := byID([]uuid.UUID{call, twin}, false) // same due date: by id

	cases := []struct {
		name string
		f    readapi.TaskFilter
		want []uuid.UUID
	}{
		{"default: due date asc, ties by id", readapi.TaskFilter{}, slices.Concat(firstTwo, []uuid.UUID{meet, mail})},
		{"due date desc", readapi.TaskFilter{Order: readapi.Desc}, []uuid.UUID{mail, meet, firstTwo[1], firstTwo[0]}},
		{"created_at asc", readapi.TaskFilter{OrderBy: readapi.TasksByCreatedAt}, []uuid.UUID{call, mail, meet, twin}},
		{"created_at desc", readapi.TaskFilter{OrderBy: readapi.TasksByCreatedAt, Order: readapi.Desc}, []uuid.UUID{twin, meet, mail, call}},
		{"only open", readapi.TaskFilter{OnlyOpen: true}, slices.Concat(firstTwo, []uuid.UUID{meet})},
		{"due_after, inclusive", readapi.TaskFilter{DueAfter: date("2026-03-03")}, []uuid.UUID{meet, mail}},
		{"due_before, inclusive", readapi.TaskFilter{DueBefore: date("2026-03-03")}, slices.Concat(firstTwo, []uuid.UUID{meet})},
		{"due window of one day", readapi.TaskFilter{DueAfter: date("2026-03-05"), DueBefore: date("2026-03-05")}, []uuid.UUID{mail}},
		{"deal", readapi.TaskFilter{DealID: d1, OnlyOpen: true, OrderBy: readapi.TasksByCreatedAt}, []uuid.UUID{call, meet, twin}},
		{"deleted deal's tasks leave the lists", readapi.TaskFilter{DealID: d2}, []uuid.UUID{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := mustList[readapi.Task](t)(e.q.ListTasks(ctx, o.id, c.f))
			wantIDs(t, idsOf(l.Items, taskID), c.want, names)
			if l.Total != int64(len(c.want)) || l.Page != 1 || l.PageSize != 20 {
				t.Fatalf("total %d page %d size %d, want %d 1 20", l.Total, l.Page, l.PageSize, len(c.want))
			}
			// One item a page: every total is counted (or summed from the
			// counters), never told by a short page.
			var got []uuid.UUID
			for page := 1; page <= len(c.want)+1; page++ {
				c.f.Page = readapi.Page{Page: page, PageSize: 1}
				l := mustList[readapi.Task](t)(e.q.ListTasks(ctx, o.id, c.f))
				if l.Total != int64(len(c.want)) {
					t.Fatalf("page %d of 1: total %d, want %d", page, l.Total, len(c.want))
				}
				got = append(got, idsOf(l.Items, taskID)...)
			}
			wantIDs(t, got, c.want, names)
			// Deep pages and capped totals give the same pages (see
			// TestDealLists).
			deep := e.q.WithCaps(1, 1)
			got = nil
			for page := 1; page <= len(c.want)+1; page++ {
				c.f.Page = readapi.Page{Page: page, PageSize: 1}
				l := mustList[readapi.Task](t)(deep.ListTasks(ctx, o.id, c.f))
				got = append(got, idsOf(l.Items, taskID)...)
				if l.Total > int64(len(c.want)) || (!l.TotalIsLowerBound && l.Total != int64(len(c.want))) {
					t.Fatalf("page %d of 1, capped: total %d (lower bound %v), want %d", page, l.Total, l.TotalIsLowerBound, len(c.want))
				}
			}
			wantIDs(t, got, c.want, names)
		})
	}

	t.Run("paging", func(t *testing.T) {
		t.Parallel()
		l := mustList[readapi.Task](t)(e.q.ListTasks(ctx, o.id, readapi.TaskFilter{Page: readapi.Page{Page: 2, PageSize: 3}}))
		wantIDs(t, idsOf(l.Items, taskID), []uuid.UUID{mail}, names)
		if l.Total != 4 {
			t.Fatalf("total %d", l.Total)
		}
	})

	t.Run("get", func(t *testing.T) {
		t.Parallel()
		m, err := e.q.GetTask(ctx, o.id, meet)
		if err != nil {
			t.Fatal(err)
		}
		if m.DueDate != "2026-03-03" || m.Description == nil || *m.Description != "agenda" || m.IsDone || m.CompletedAt != nil || m.Version != 4 {
			t.Fatalf("meet: %+v", m)
		}
		mm, err := e.q.GetTask(ctx, o.id, mail)
		if err != nil {
			t.Fatal(err)
		}
		if !mm.IsDone || mm.CompletedAt == nil || !mm.CompletedAt.Equal(mm.UpdatedAt.Time) {
			t.Fatalf("mail: %+v", mm)
		}
		// A deleted deal's task is gone with it.
		_, err = e.q.GetTask(ctx, o.id, orphan)
		wantCode(t, err, crm.CodeNotFound)
		_, err = e.q.GetTask(ctx, o.id, gone)
		wantCode(t, err, crm.CodeNotFound)
	})
}

func TestTaskJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	c := o.newContact(events.ContactCreated{Name: "C"})
	d := o.newDeal(events.DealCreated{ContactID: c, Title: "D", Amount: 100})
	created := o.clock
	id := o.newTask(events.TaskCreated{DealID: d, Title: "call", DueDate: "2026-12-31"})
	task, err := e.q.GetTask(context.Background(), o.id, id)
	if err != nil {
		t.Fatal(err)
	}
	at := created.Format("2006-01-02T15:04:05.000Z")
	want := `{"id":"` + id.String() + `","deal_id":"` + d.String() + `","title":"call","description":null,` +
		`"due_date":"2026-12-31","is_done":false,"completed_at":null,"version":1,` +
		`"created_at":"` + at + `","updated_at":"` + at + `"}`
	got, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
