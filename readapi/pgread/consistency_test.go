package pgread_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

func TestOrganizationsAreIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.newOrg(t), e.newOrg(t)
	ctx := context.Background()
	c := a.newContact(events.ContactCreated{Name: "Shared name", Email: ptr("x@example.com")})
	d := a.newDeal(events.DealCreated{ContactID: c, Title: "Shared title", Amount: 100})
	task := a.newTask(events.TaskCreated{DealID: d, Title: "t", DueDate: "2026-03-01"})
	comment := uuid.Must(uuid.NewV7())
	a.onDeal(d, events.DealCommented{CommentID: comment, Text: "hi"})
	// b has data of its own, so that its queries really run.
	bc := b.newContact(events.ContactCreated{Name: "Shared name"})
	b.newDeal(events.DealCreated{ContactID: bc, Title: "Shared title", Amount: 100})

	notFound := []struct {
		name string
		code crm.Code
		call func() error
	}{
		{"contact", crm.CodeContactNotFound, func() error { _, err := e.q.GetContact(ctx, b.id, c); return err }},
		{"deal", crm.CodeDealNotFound, func() error { _, err := e.q.GetDeal(ctx, b.id, d); return err }},
		{"task", crm.CodeNotFound, func() error { _, err := e.q.GetTask(ctx, b.id, task); return err }},
		{"timeline", crm.CodeDealNotFound, func() error {
			_, err := e.q.ListActivities(ctx, b.id, d, readapi.ActivityFilter{})
			return err
		}},
		{"activity", crm.CodeNotFound, func() error { _, err := e.q.GetActivity(ctx, b.id, comment); return err }},
	}
	for _, n := range notFound {
		t.Run(n.name+" of another org is not found", func(t *testing.T) {
			t.Parallel()
			wantCode(t, n.call(), n.code)
		})
	}
	t.Run("lists of another org", func(t *testing.T) {
		t.Parallel()
		if l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, b.id, readapi.ContactFilter{Search: "x@example"})); l.Total != 0 {
			t.Fatalf("contacts: %+v", l)
		}
		if l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, b.id, readapi.ContactFilter{})); l.Total != 1 || l.Items[0].ID != bc {
			t.Fatalf("contacts: %+v", l)
		}
		if l := mustList[readapi.Deal](t)(e.q.ListDeals(ctx, b.id, readapi.DealFilter{ContactID: c})); l.Total != 0 {
			t.Fatalf("deals: %+v", l)
		}
		if l := mustList[readapi.Deal](t)(e.q.ListDeals(ctx, b.id, readapi.DealFilter{Search: "shared"})); l.Total != 1 {
			t.Fatalf("deals: %+v", l)
		}
		if l := mustList[readapi.Task](t)(e.q.ListTasks(ctx, b.id, readapi.TaskFilter{})); l.Total != 0 {
			t.Fatalf("tasks: %+v", l)
		}
		if l := mustList[readapi.Task](t)(e.q.ListTasks(ctx, b.id, readapi.TaskFilter{DealID: d})); l.Total != 0 {
			t.Fatalf("tasks: %+v", l)
		}
	})
}

func TestNoOrganizationFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id := uuid.New()
	for name, call := range map[string]func() error{
		"GetContact":     func() error { _, err := e.q.GetContact(ctx, uuid.Nil, id); return err },
		"ListContacts":   func() error { _, err := e.q.ListContacts(ctx, uuid.Nil, readapi.ContactFilter{}); return err },
		"GetDeal":        func() error { _, err := e.q.GetDeal(ctx, uuid.Nil, id); return err },
		"ListDeals":      func() error { _, err := e.q.ListDeals(ctx, uuid.Nil, readapi.DealFilter{}); return err },
		"GetTask":        func() error { _, err := e.q.GetTask(ctx, uuid.Nil, id); return err },
		"ListTasks":      func() error { _, err := e.q.ListTasks(ctx, uuid.Nil, readapi.TaskFilter{}); return err },
		"ListActivities": func() error { _, err := e.q.ListActivities(ctx, uuid.Nil, id, readapi.ActivityFilter{}); return err },
		"GetActivity":    func() error { _, err := e.q.GetActivity(ctx, uuid.Nil, id); return err },
	} {
		if err := call(); !errors.Is(err, crm.ErrNoTenant) {
			t.Errorf("%s without an organization: %v, want crm.ErrNoTenant", name, err)
		}
	}
}

// snapshot dumps every read-model row of an organization, counters
// included, in a stable order, as JSON text.
func snapshot(t *testing.T, e *env, orgID uuid.UUID) []string {
	t.Helper()
	var out []string
	for _, table := range []string{"contacts", "deals", "tasks", "activities", "contact_counts", "deal_counts", "task_counts"} {
		rows, err := e.pool.Query(context.Background(),
			`SELECT to_jsonb(r)::text FROM `+table+` r WHERE org_id = $1 ORDER BY 1`, orgID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, table+" "+s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkCounters compares the counter tables the triggers keep with the
// counts of the rows they stand for.
func checkCounters(t *testing.T, e *env, orgID uuid.UUID) {
	t.Helper()
	for name, sql := range map[string]string{
		"contact_counts": `
			SELECT coalesce(c.owner_id, r.owner_id)::text, coalesce(c.n, 0)::text, coalesce(r.n, 0)::text
			FROM (SELECT owner_id, n FROM contact_counts WHERE org_id = $1 AND n <> 0) c
			FULL JOIN (SELECT owner_id, count(*) AS n FROM contacts WHERE org_id = $1 AND NOT deleted GROUP BY 1) r
			USING (owner_id) WHERE c.n IS DISTINCT FROM r.n`,
		"deal_counts": `
			SELECT concat_ws('/', status, stage, currency), coalesce(c.n, '0 0'), coalesce(r.n, '0 0')
			FROM (SELECT status, stage, currency, n || ' ' || total_cents AS n FROM deal_counts WHERE org_id = $1 AND n <> 0) c
			FULL JOIN (SELECT status, stage, currency, count(*) || ' ' || sum(amount_cents) AS n
			           FROM deals WHERE org_id = $1 AND NOT deleted GROUP BY 1, 2, 3) r
			USING (status, stage, currency) WHERE c.n IS DISTINCT FROM r.n`,
		"task_counts": `
			SELECT concat_ws('/', due_date, is_done), coalesce(c.n, 0)::text, coalesce(r.n, 0)::text
			FROM (SELECT due_date, is_done, n FROM task_counts WHERE org_id = $1 AND n <> 0) c
			FULL JOIN (SELECT due_date, is_done, count(*) AS n FROM tasks WHERE org_id = $1 AND NOT deleted AND NOT deal_deleted GROUP BY 1, 2) r
			USING (due_date, is_done) WHERE c.n IS DISTINCT FROM r.n`,
	} {
		rows, err := e.pool.Query(context.Background(), sql, orgID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var key, counted, actual string
			if err := rows.Scan(&key, &counted, &actual); err != nil {
				t.Fatal(err)
			}
			t.Errorf("%s %s: counter says %s, rows say %s", name, key, counted, actual)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// seed writes a bit of everything: creations, updates, deletions, a
// rollback, comments, tasks on a deal that is then deleted.
func seed(t *testing.T, o *org) {
	t.Helper()
	c := o.newContact(events.ContactCreated{Name: "C", Email: ptr("c@example.com")})
	c2 := o.newContact(events.ContactCreated{Name: "C2"})
	o.onContact(c2, events.ContactUpdated{Changes: map[string]events.Change{"phone": {Old: nil, New: "555"}}})
	d := o.newDeal(events.DealCreated{ContactID: c, Title: "D", Amount: 1000})
	o.onDeal(d, events.DealStageChanged{Old: "qualification", New: "closed"}, events.DealStatusChanged{Old: "new", New: "won"})
	o.onDeal(d, events.DealStageChanged{Old: "closed", New: "proposal"})
	o.onDeal(d, events.DealUpdated{Changes: map[string]events.Change{"amount": {Old: "10.00", New: "20.00"}}})
	o.onDeal(d, events.DealCommented{CommentID: uuid.Must(uuid.NewV7()), Text: "c"})
	tk := o.newTask(events.TaskCreated{DealID: d, Title: "t", DueDate: "2026-03-01"})
	o.onTask(tk, events.TaskCompleted{DealID: d, Title: "t"})
	d2 := o.newDeal(events.DealCreated{ContactID: c2, Title: "D2", Amount: 5})
	o.newTask(events.TaskCreated{DealID: d2, Title: "t2", DueDate: "2026-03-02"})
	o.deleteDeal(d2)
	o.onContact(c2, events.ContactDeleted{})
}

func TestReplayingEveryEventChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	seed(t, o)
	ctx := context.Background()
	// Read through every projector, so all have caught up.
	if _, err := e.q.ListActivities(ctx, o.id, uuid.New(), readapi.ActivityFilter{}); crm.ErrorCode(err) != crm.CodeDealNotFound {
		t.Fatal(err)
	}
	for _, q := range []func() error{
		func() error { _, err := e.q.ListContacts(ctx, o.id, readapi.ContactFilter{}); return err },
		func() error { _, err := e.q.ListTasks(ctx, o.id, readapi.TaskFilter{}); return err },
	} {
		if err := q(); err != nil {
			t.Fatal(err)
		}
	}
	checkCounters(t, e, o.id)
	before := snapshot(t, e, o.id)
	if len(before) < 10 {
		t.Fatalf("suspiciously small read model: %v", before)
	}

	// Rewind every checkpoint: the projectors see every event again.
	e.stopAll(t)
	tag, err := e.pool.Exec(ctx, `UPDATE projector_checkpoints SET offset_acked = 0, last_processed_transaction_id = '0'
		WHERE consumer_group = ANY($1)`, projectorNames())
	if err != nil || tag.RowsAffected() != 4 {
		t.Fatalf("rewind: %v, %d rows", err, tag.RowsAffected())
	}
	e.start(t)
	w := projections.NewWaiter(e.pool, e.progress, 10*time.Second)
	if err := w.Wait(ctx, o.id, projectorNames()...); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, e, o.id)
	if !slices.Equal(before, after) {
		t.Fatalf("replay changed the read models:\nbefore %v\nafter  %v", before, after)
	}
}

func projectorNames() []string {
	var names []string
	for _, p := range sales.Projectors() {
		names = append(names, p.Name)
	}
	return names
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	// A second query side whose Progress never hears of this process's
	// projector commits: it stands for another server process, which
	// only sees the checkpoints in the database.
	remote := pgread.New(e.pool, projections.NewWaiter(e.pool, projections.NewProgress(), 10*time.Second))
	c := o.newContact(events.ContactCreated{Name: "C"})
	for i := range 25 {
		q := e.q
		if i%2 == 1 {
			q = remote
		}
		// No sleeps: each query runs right after the append returns.
		d := o.newDeal(events.DealCreated{ContactID: c, Title: fmt.Sprintf("deal %d", i), Amount: 100})
		if _, err := q.GetDeal(ctx, o.id, d); err != nil {
			t.Fatalf("round %d: deal not visible right after its creation: %v", i, err)
		}
		title := fmt.Sprintf("renamed-%d", i)
		o.onDeal(d, events.DealUpdated{Changes: map[string]events.Change{"title": {Old: "x", New: title}}})
		l, err := q.ListDeals(ctx, o.id, readapi.DealFilter{Search: title})
		if err != nil || l.Total != 1 || l.Items[0].ID != d {
			t.Fatalf("round %d: renamed deal not listed: %+v, %v", i, l, err)
		}
		task := o.newTask(events.TaskCreated{DealID: d, Title: "t", DueDate: "2026-03-01"})
		o.onTask(task, events.TaskCompleted{DealID: d, Title: "t"})
		tk, err := q.GetTask(ctx, o.id, task)
		if err != nil || !tk.IsDone {
			t.Fatalf("round %d: completion not visible: %+v, %v", i, tk, err)
		}
		tl, err := q.ListActivities(ctx, o.id, d, readapi.ActivityFilter{Order: readapi.Desc})
		if err != nil || tl.Total != 4 || tl.Items[0].Type != readapi.ActivityTaskCompleted {
			t.Fatalf("round %d: timeline behind: %+v, %v", i, tl, err)
		}
		ct, err := q.GetContact(ctx, o.id, c)
		if err != nil || ct.Version != i+2 {
			t.Fatalf("round %d: contact version %d, want %d (%v)", i, ct.Version, i+2, err)
		}
	}
}

func TestEventualConsistencySkipsTheWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	if _, err := e.q.GetContact(ctx, o.id, c); err != nil {
		t.Fatal(err)
	}
	e.stopAll(t) // the projectors fall behind from here on
	d := o.newDeal(events.DealCreated{ContactID: c, Title: "D", Amount: 1})

	impatient := pgread.New(e.pool, projections.NewWaiter(e.pool, e.progress, 50*time.Millisecond))
	_, err := impatient.GetDeal(ctx, o.id, d)
	wantCode(t, err, crm.CodeProjectionBehind)

	// Eventual: what the read model holds now, at once.
	_, err = impatient.GetDeal(readapi.WithEventualConsistency(ctx), o.id, d)
	wantCode(t, err, crm.CodeDealNotFound)
	ct, err := impatient.GetContact(readapi.WithEventualConsistency(ctx), o.id, c)
	if err != nil || ct.Version != 1 {
		t.Fatalf("eventual read of the contact: %+v, %v", ct, err)
	}
	if !readapi.IsEventual(readapi.WithEventualConsistency(ctx)) || readapi.IsEventual(ctx) {
		t.Fatal("IsEventual does not reflect WithEventualConsistency")
	}
}
