package pgread_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/readapi"
)

func TestTimeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	c2 := o.newContact(events.ContactCreated{Name: "C2"})
	deal := o.newDeal(events.DealCreated{ContactID: c, Title: "Big deal", Amount: amount(t, "10"), Currency: "EUR"})
	// One PATCH: stage first, then status, then the other fields, all at
	// the same instant: the timeline keeps their order (ties by id, and
	// event ids are time-ordered).
	o.onDeal(deal,
		events.DealStageChanged{Old: "qualification", New: "proposal"},
		events.DealStatusChanged{Old: "new", New: "in_progress"},
		events.DealUpdated{Changes: map[string]events.Change{
			"title":  {Old: "Big deal", New: "Bigger deal"},
			"amount": {Old: "10.00", New: "2500.5"},
		}})
	o.moveDeal(deal, c2)
	commenter := uuid.New()
	comment := uuid.Must(uuid.NewV7())
	o.append(commenter, part{events.StreamDeal, deal, []events.Payload{events.DealCommented{CommentID: comment, Text: "Call them back"}}})
	task := o.newTask(events.TaskCreated{DealID: deal, Title: "call", Description: ptr("x"), DueDate: "2026-04-01"})
	o.onTask(task, events.TaskUpdated{DealID: deal, Changes: map[string]events.Change{"due_date": {Old: "2026-04-01", New: "2026-04-02"}}})
	o.onTask(task, events.TaskCompleted{DealID: deal, Title: "call"})
	o.onTask(task, events.TaskReopened{DealID: deal, Title: "call"})
	o.onTask(task, events.TaskDeleted{DealID: deal, Title: "call"})
	// Another deal's timeline stays apart.
	otherDeal := o.newDeal(events.DealCreated{ContactID: c, Title: "Other", Amount: 1})

	type entry struct {
		typ     string
		payload string
	}
	t1 := task.String()
	want := []entry{
		{"deal_created", `{"title":"Big deal","amount":"10.00","currency":"EUR","status":"new","stage":"qualification","contact_id":"` + c.String() + `","owner_id":"` + o.actor.String() + `"}`},
		{"stage_changed", `{"old":"qualification","new":"proposal"}`},
		{"status_changed", `{"old":"new","new":"in_progress"}`},
		{"deal_updated", `{"changes":{"title":{"old":"Big deal","new":"Bigger deal"},"amount":{"old":"10.00","new":"2500.50"}}}`},
		{"deal_updated", `{"changes":{"contact_id":{"old":"` + c.String() + `","new":"` + c2.String() + `"}}}`},
		{"comment", `{"text":"Call them back"}`},
		{"task_created", `{"task_id":"` + t1 + `","title":"call","due_date":"2026-04-01"}`},
		{"task_updated", `{"task_id":"` + t1 + `","changes":{"due_date":{"old":"2026-04-01","new":"2026-04-02"}}}`},
		{"task_completed", `{"task_id":"` + t1 + `","title":"call"}`},
		{"task_reopened", `{"task_id":"` + t1 + `","title":"call"}`},
		{"task_deleted", `{"task_id":"` + t1 + `","title":"call"}`},
	}

	l := mustList[readapi.Activity](t)(e.q.ListActivities(ctx, o.id, deal, readapi.ActivityFilter{}))
	if l.Total != int64(len(want)) || len(l.Items) != len(want) {
		t.Fatalf("got %d entries (total %d), want %d: %+v", len(l.Items), l.Total, len(want), l.Items)
	}
	for i, w := range want {
		a := l.Items[i]
		if a.Type != w.typ || !sameJSON(t, a.Payload, w.payload) {
			t.Errorf("entry %d: %s %s, want %s %s", i, a.Type, a.Payload, w.typ, w.payload)
		}
		if a.DealID != deal {
			t.Errorf("entry %d: deal %s", i, a.DealID)
		}
		author := o.actor
		if a.Type == "comment" {
			author = commenter
			if a.ID != comment {
				t.Errorf("comment entry id %s, want the comment id %s", a.ID, comment)
			}
		}
		if a.AuthorID == nil || *a.AuthorID != author {
			t.Errorf("entry %d (%s): author %v, want %s", i, a.Type, a.AuthorID, author)
		}
		if i > 0 && a.CreatedAt.Before(l.Items[i-1].CreatedAt.Time) {
			t.Errorf("entry %d is older than entry %d", i, i-1)
		}
	}

	t.Run("newest first", func(t *testing.T) {
		t.Parallel()
		d := mustList[readapi.Activity](t)(e.q.ListActivities(ctx, o.id, deal, readapi.ActivityFilter{Order: readapi.Desc}))
		got := idsOf(d.Items, func(a readapi.Activity) uuid.UUID { return a.ID })
		asc := idsOf(l.Items, func(a readapi.Activity) uuid.UUID { return a.ID })
		slices.Reverse(asc)
		wantIDs(t, got, asc, nil)
	})
	t.Run("type filter and paging", func(t *testing.T) {
		t.Parallel()
		f := readapi.ActivityFilter{Types: []string{"deal_updated", "comment"}, Page: readapi.Page{Page: 2, PageSize: 2}}
		p := mustList[readapi.Activity](t)(e.q.ListActivities(ctx, o.id, deal, f))
		if p.Total != 3 || len(p.Items) != 1 || p.Items[0].Type != "comment" {
			t.Fatalf("got %+v", p)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		t.Parallel()
		_, err := e.q.ListActivities(ctx, o.id, deal, readapi.ActivityFilter{Types: []string{"deal_deleted"}})
		wantCode(t, err, crm.CodeValidation)
	})
	t.Run("get one", func(t *testing.T) {
		t.Parallel()
		a, err := e.q.GetActivity(ctx, o.id, comment)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(a)
		want := `{"id":"` + comment.String() + `","deal_id":"` + deal.String() + `","author_id":"` + commenter.String() +
			`","type":"comment","payload":{"text":"Call them back"},"created_at":"` + a.CreatedAt.String() + `"}`
		if string(b) != want {
			t.Fatalf("got  %s\nwant %s", b, want)
		}
		_, err = e.q.GetActivity(ctx, o.id, uuid.New())
		wantCode(t, err, crm.CodeNotFound)
	})
	t.Run("other deal", func(t *testing.T) {
		t.Parallel()
		p := mustList[readapi.Activity](t)(e.q.ListActivities(ctx, o.id, otherDeal, readapi.ActivityFilter{}))
		if p.Total != 1 || p.Items[0].Type != "deal_created" {
			t.Fatalf("got %+v", p)
		}
		_, err := e.q.ListActivities(ctx, o.id, uuid.New(), readapi.ActivityFilter{})
		wantCode(t, err, crm.CodeDealNotFound)
	})
}

func TestTimelineOfDeletedDealIsNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	deal := o.newDeal(events.DealCreated{ContactID: c, Title: "D", Amount: 1})
	o.onDeal(deal, events.DealCommented{CommentID: uuid.Must(uuid.NewV7()), Text: "x"})
	o.deleteDeal(deal)
	_, err := e.q.ListActivities(ctx, o.id, deal, readapi.ActivityFilter{})
	wantCode(t, err, crm.CodeDealNotFound)
	// Its history stays in the read model (and deal.deleted adds no entry).
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM activities WHERE org_id = $1 AND deal_id = $2`, o.id, deal).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d timeline rows, want 2", n)
	}
}

func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}
