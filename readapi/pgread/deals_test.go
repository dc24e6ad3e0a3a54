package pgread_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/readapi"
)

func dealID(d readapi.Deal) uuid.UUID { return d.ID }

func TestDealLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	other := uuid.New()
	ca := o.newContact(events.ContactCreated{Name: "A"})
	cb := o.newContact(events.ContactCreated{Name: "B"})

	alpha := o.newDeal(events.DealCreated{ContactID: ca, Title: "Alpha deal", Amount: amount(t, "100.00")})
	o.onDeal(alpha, events.DealStageChanged{Old: "qualification", New: "proposal"},
		events.DealStatusChanged{Old: "new", New: "in_progress"})
	betaCreated := o.clock
	beta := o.newDeal(events.DealCreated{ContactID: cb, Title: "beta", Amount: amount(t, "2500.50"), Currency: "EUR", OwnerID: other})
	o.onDeal(beta, events.DealStageChanged{Old: "qualification", New: "negotiation"})
	o.onDeal(beta, events.DealStageChanged{Old: "negotiation", New: "proposal"}, events.DealStatusChanged{Old: "new", New: "won"})
	gammaCreated := o.clock
	gamma := o.newDeal(events.DealCreated{ContactID: ca, Title: "Gamma 50%", Amount: amount(t, "0.05")})
	o.onDeal(gamma, events.DealStatusChanged{Old: "new", New: "lost"})
	o.onDeal(gamma, events.DealStatusChanged{Old: "lost", New: "in_progress"})
	delta := o.newDeal(events.DealCreated{ContactID: cb, Title: "delta", Amount: amount(t, "10000.00")})
	o.deleteDeal(delta)
	eps := o.newDeal(events.DealCreated{ContactID: cb, Title: "Epsilon", Amount: crm.MaxAmount})
	zeta := o.newDeal(events.DealCreated{ContactID: ca, Title: "zeta", Amount: amount(t, "1.00")})
	o.onDeal(zeta, events.DealUpdated{Changes: map[string]events.Change{
		"title":    {Old: "zeta", New: "Zeta renamed"},
		"amount":   {Old: "1.00", New: "75.25"},
		"owner_id": {Old: o.actor.String(), New: other.String()},
		"currency": {Old: "USD", New: "GBP"},
	}})
	o.moveDeal(zeta, cb)
	// A comment moves the version, not updated_at (so not the updated_at order).
	o.onDeal(alpha, events.DealCommented{CommentID: uuid.Must(uuid.NewV7()), Text: "hi"})
	names := map[uuid.UUID]string{alpha: "alpha", beta: "beta", gamma: "gamma", delta: "delta", eps: "eps", zeta: "zeta"}
	caughtUp(t, e, o)
	checkCounters(t, e, o.id)

	cases := []struct {
		name string
		f    readapi.DealFilter
		want []uuid.UUID
	}{
		{"default: newest first, deleted left out", readapi.DealFilter{}, []uuid.UUID{zeta, eps, gamma, beta, alpha}},
		{"created_at asc", readapi.DealFilter{Order: readapi.Asc}, []uuid.UUID{alpha, beta, gamma, eps, zeta}},
		{"updated_at desc", readapi.DealFilter{OrderBy: readapi.DealsByUpdatedAt}, []uuid.UUID{zeta, eps, gamma, beta, alpha}},
		{"updated_at asc", readapi.DealFilter{OrderBy: readapi.DealsByUpdatedAt, Order: readapi.Asc}, []uuid.UUID{alpha, beta, gamma, eps, zeta}},
		{"amount asc", readapi.DealFilter{OrderBy: readapi.DealsByAmount, Order: readapi.Asc}, []uuid.UUID{gamma, zeta, alpha, beta, eps}},
		{"amount desc", readapi.DealFilter{OrderBy: readapi.DealsByAmount}, []uuid.UUID{eps, beta, alpha, zeta, gamma}},
		{"title asc, case-insensitive", readapi.DealFilter{OrderBy: readapi.DealsByTitle, Order: readapi.Asc}, []uuid.UUID{alpha, beta, eps, gamma, zeta}},
		{"title desc", readapi.DealFilter{OrderBy: readapi.DealsByTitle, Order: readapi.Desc}, []uuid.UUID{zeta, gamma, eps, beta, alpha}},
		{"one status", readapi.DealFilter{Statuses: []string{"won"}}, []uuid.UUID{beta}},
		{"several statuses", readapi.DealFilter{Statuses: []string{"new", "in_progress"}}, []uuid.UUID{zeta, eps, gamma, alpha}},
		{"stage", readapi.DealFilter{Stages: []string{"proposal"}}, []uuid.UUID{beta, alpha}},
		{"stages", readapi.DealFilter{Stages: []string{"qualification", "negotiation"}}, []uuid.UUID{zeta, eps, gamma}},
		{"status and stage", readapi.DealFilter{Statuses: []string{"in_progress"}, Stages: []string{"proposal"}}, []uuid.UUID{alpha}},
		{"owner", readapi.DealFilter{OwnerID: other}, []uuid.UUID{zeta, beta}},
		{"contact", readapi.DealFilter{ContactID: ca}, []uuid.UUID{gamma, alpha}},
		{"contact after a move", readapi.DealFilter{ContactID: cb}, []uuid.UUID{zeta, eps, beta}},
		{"currency, any case", readapi.DealFilter{Currency: "usd"}, []uuid.UUID{eps, gamma, alpha}},
		{"min amount, inclusive", readapi.DealFilter{MinAmount: ptr(amount(t, "100.00"))}, []uuid.UUID{eps, beta, alpha}},
		{"max amount, inclusive", readapi.DealFilter{MaxAmount: ptr(amount(t, "75.25"))}, []uuid.UUID{zeta, gamma}},
		{"min = max", readapi.DealFilter{MinAmount: ptr(amount(t, "100")), MaxAmount: ptr(amount(t, "100"))}, []uuid.UUID{alpha}},
		{"min > max", readapi.DealFilter{MinAmount: ptr(amount(t, "101")), MaxAmount: ptr(amount(t, "100"))}, []uuid.UUID{}},
		{"search title, any case", readapi.DealFilter{Search: "ALPHA"}, []uuid.UUID{alpha}},
		{"search is literal", readapi.DealFilter{Search: "50%"}, []uuid.UUID{gamma}},
		{"search sees renames", readapi.DealFilter{Search: "renamed"}, []uuid.UUID{zeta}},
		{"search misses deleted", readapi.DealFilter{Search: "delta"}, []uuid.UUID{}},
		// The bounds compare created_at as the API shows it, to the
		// millisecond (the store keeps the microsecond): a bound copied
		// from a deal keeps it.
		{"created_after, inclusive", readapi.DealFilter{CreatedAfter: shown(gammaCreated)}, []uuid.UUID{zeta, eps, gamma}},
		{"created_before, inclusive", readapi.DealFilter{CreatedBefore: shown(betaCreated)}, []uuid.UUID{beta, alpha}},
		{"created window", readapi.DealFilter{CreatedAfter: shown(betaCreated), CreatedBefore: shown(gammaCreated)}, []uuid.UUID{gamma, beta}},
		{"created window of one millisecond", readapi.DealFilter{CreatedAfter: shown(betaCreated), CreatedBefore: shown(betaCreated)}, []uuid.UUID{beta}},
		{"created_after, past the millisecond shown", readapi.DealFilter{CreatedAfter: shown(gammaCreated).Add(time.Microsecond)}, []uuid.UUID{zeta, eps}},
		{"created_before, before the millisecond shown", readapi.DealFilter{CreatedBefore: shown(betaCreated).Add(-time.Microsecond)}, []uuid.UUID{alpha}},
		{"everything at once", readapi.DealFilter{
			Statuses: []string{"in_progress", "new"}, Stages: []string{"qualification"}, OwnerID: o.actor,
			ContactID: ca, Currency: "USD", MinAmount: ptr(crm.Amount(1)), MaxAmount: ptr(amount(t, "1")),
			Search: "gam", CreatedAfter: shown(gammaCreated), CreatedBefore: shown(gammaCreated), OrderBy: readapi.DealsByTitle,
		}, []uuid.UUID{gamma}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := mustList[readapi.Deal](t)(e.q.ListDeals(ctx, o.id, c.f))
			wantIDs(t, idsOf(l.Items, dealID), c.want, names)
			if l.Total != int64(len(c.want)) || l.Page != 1 || l.PageSize != 20 {
				t.Fatalf("total %d page %d size %d, want %d 1 20", l.Total, l.Page, l.PageSize, len(c.want))
			}
			// One item a page: every total is counted (or summed from the
			// counters), never told by a short page.
			var got []uuid.UUID
			for page := 1; page <= len(c.want)+1; page++ {
				c.f.Page = readapi.Page{Page: page, PageSize: 1}
				l := mustList[readapi.Deal](t)(e.q.ListDeals(ctx, o.id, c.f))
				if l.Total != int64(len(c.want)) {
					t.Fatalf("page %d of 1: total %d, want %d", page, l.Total, len(c.want))
				}
				got = append(got, idsOf(l.Items, dealID)...)
			}
			wantIDs(t, got, c.want, names)
			// Deep pages (found in the sort index first, from the nearer
			// end when the total is exact) and capped totals give the
			// same pages; a capped total is a lower bound, and says so.
			deep := e.q.WithCaps(1, 1).WithSearchMax(1)
			got = nil
			for page := 1; page <= len(c.want)+1; page++ {
				c.f.Page = readapi.Page{Page: page, PageSize: 1}
				l := mustList[readapi.Deal](t)(deep.ListDeals(ctx, o.id, c.f))
				got = append(got, idsOf(l.Items, dealID)...)
				switch {
				case l.TotalIsLowerBound && (l.Total > int64(len(c.want)) || l.Total < int64(min(page, len(c.want)))):
					t.Fatalf("page %d of 1, capped: total %d, want a lower bound of %d", page, l.Total, len(c.want))
				case !l.TotalIsLowerBound && l.Total != int64(len(c.want)):
					t.Fatalf("page %d of 1, capped: total %d, want %d", page, l.Total, len(c.want))
				}
			}
			wantIDs(t, got, c.want, names)
			// A search finds the same page whichever way it takes.
			if c.f.Search != "" {
				c.f.Page = readapi.Page{}
				l := mustList[readapi.Deal](t)(e.q.WithSearchMax(0).ListDeals(ctx, o.id, c.f))
				wantIDs(t, idsOf(l.Items, dealID), c.want, names)
			}
		})
	}

	t.Run("paging with total", func(t *testing.T) {
		t.Parallel()
		var got []uuid.UUID
		for page := 1; page <= 3; page++ {
			l := mustList[readapi.Deal](t)(e.q.ListDeals(ctx, o.id, readapi.DealFilter{
				OrderBy: readapi.DealsByAmount, Order: readapi.Asc, Page: readapi.Page{Page: page, PageSize: 2}}))
			if l.Total != 5 {
				t.Fatalf("page %d: total %d, want 5", page, l.Total)
			}
			got = append(got, idsOf(l.Items, dealID)...)
		}
		wantIDs(t, got, []uuid.UUID{gamma, zeta, alpha, beta, eps}, names)
	})

	t.Run("fields follow the events", func(t *testing.T) {
		t.Parallel()
		d, err := e.q.GetDeal(ctx, o.id, zeta)
		if err != nil {
			t.Fatal(err)
		}
		if d.Title != "Zeta renamed" || d.Amount.String() != "75.25" || d.Currency != "GBP" || d.OwnerID != other || d.ContactID != cb {
			t.Fatalf("zeta: %+v", d)
		}
		g, err := e.q.GetDeal(ctx, o.id, gamma)
		if err != nil {
			t.Fatal(err)
		}
		if g.Status != "in_progress" || g.ClosedAt != nil {
			t.Fatalf("gamma reopened: status %s closed_at %v", g.Status, g.ClosedAt)
		}
		b, err := e.q.GetDeal(ctx, o.id, beta)
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != "won" || b.Stage != "proposal" || b.ClosedAt == nil || !b.ClosedAt.Equal(b.UpdatedAt.Time) {
			t.Fatalf("beta won: %+v", b)
		}
		// The furthest stage survives the rollback (for the funnel).
		var furthest string
		if err := e.pool.QueryRow(ctx, `SELECT furthest_stage FROM deals WHERE org_id = $1 AND id = $2`, o.id, beta).Scan(&furthest); err != nil {
			t.Fatal(err)
		}
		if furthest != "negotiation" {
			t.Fatalf("beta's furthest stage: %s", furthest)
		}
		_, err = e.q.GetDeal(ctx, o.id, delta)
		wantCode(t, err, crm.CodeDealNotFound)
	})
}

func TestDealJSONAndVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	created := o.clock
	id := o.newDeal(events.DealCreated{ContactID: c, Title: "Big", Amount: amount(t, "10000"), Currency: "EUR"})
	won := o.clock
	o.onDeal(id, events.DealStatusChanged{Old: "new", New: "won"})
	o.onDeal(id, events.DealCommented{CommentID: uuid.Must(uuid.NewV7()), Text: "a comment"})
	o.newTask(events.TaskCreated{DealID: id, Title: "call", DueDate: "2026-04-01"})

	d, err := e.q.GetDeal(ctx, o.id, id)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z") }
	want := `{"id":"` + id.String() + `","organization_id":"` + o.id.String() + `","contact_id":"` + c.String() +
		`","owner_id":"` + o.actor.String() + `","title":"Big","amount":"10000.00","currency":"EUR",` +
		`"status":"won","stage":"qualification","closed_at":"` + ms(won) + `","version":4,` +
		`"created_at":"` + ms(created) + `","updated_at":"` + ms(won) + `"}`
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for _, a := range []struct{ cents crm.Amount }{{0}, {5}, {100}, {crm.MaxAmount}} {
		b, _ := json.Marshal(readapi.Deal{Amount: a.cents})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if m["amount"] != a.cents.String() || m["closed_at"] != nil {
			t.Fatalf("amount %d: %s", a.cents, b)
		}
	}
}

func TestDealTiesBreakByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "C"})
	o.step = 0
	var ids []uuid.UUID
	for range 5 {
		ids = append(ids, o.newDeal(events.DealCreated{ContactID: c, Title: "same", Amount: 100}))
	}
	for _, by := range []readapi.DealOrderBy{readapi.DealsByCreatedAt, readapi.DealsByUpdatedAt, readapi.DealsByAmount, readapi.DealsByTitle} {
		for _, order := range []readapi.Order{readapi.Asc, readapi.Desc} {
			var got []uuid.UUID
			for page := 1; page <= 3; page++ {
				l := mustList[readapi.Deal](t)(e.q.ListDeals(ctx, o.id, readapi.DealFilter{
					OrderBy: by, Order: order, Page: readapi.Page{Page: page, PageSize: 2}}))
				got = append(got, idsOf(l.Items, dealID)...)
			}
			wantIDs(t, got, byID(ids, order == readapi.Desc), nil)
		}
	}
}

// shown is t as the API writes it: to the millisecond (readapi.TimeLayout).
func shown(t time.Time) time.Time { return t.Truncate(time.Millisecond) }
