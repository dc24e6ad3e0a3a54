package pgread_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

func contactID(c readapi.Contact) uuid.UUID { return c.ID }

func TestContactLists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	other := uuid.New()

	alice := o.newContact(events.ContactCreated{Name: "alice Smith", Email: ptr("alice@example.com"), Phone: ptr("+1 555 0100")})
	bob := o.newContact(events.ContactCreated{Name: "Bob", Email: ptr("bob@corp.io"), OwnerID: other})
	carol := o.newContact(events.ContactCreated{Name: "carol_x", Phone: ptr("555-0199")})
	dave := o.newContact(events.ContactCreated{Name: "Dave 100%", Email: ptr("DAVE@Example.com")})
	eve := o.newContact(events.ContactCreated{Name: "Eve Smith"})
	o.onContact(eve, events.ContactDeleted{})
	names := map[uuid.UUID]string{alice: "alice", bob: "bob", carol: "carol", dave: "dave", eve: "eve"}
	caughtUp(t, e, o)
	checkCounters(t, e, o.id)

	cases := []struct {
		name string
		f    readapi.ContactFilter
		want []uuid.UUID
	}{
		{"default: newest first, deleted left out", readapi.ContactFilter{}, []uuid.UUID{dave, carol, bob, alice}},
		{"created_at asc", readapi.ContactFilter{Order: readapi.Asc}, []uuid.UUID{alice, bob, carol, dave}},
		{"name asc, case-insensitive", readapi.ContactFilter{OrderBy: readapi.ContactsByName, Order: readapi.Asc}, []uuid.UUID{alice, bob, carol, dave}},
		{"name desc", readapi.ContactFilter{OrderBy: readapi.ContactsByName}, []uuid.UUID{dave, carol, bob, alice}},
		{"search in name, any case", readapi.ContactFilter{Search: "SMITH"}, []uuid.UUID{alice}},
		{"search in email", readapi.ContactFilter{Search: "corp.i"}, []uuid.UUID{bob}},
		{"search in email, any case", readapi.ContactFilter{Search: "example.COM"}, []uuid.UUID{dave, alice}},
		{"search in phone", readapi.ContactFilter{Search: "0199"}, []uuid.UUID{carol}},
		{"search is trimmed", readapi.ContactFilter{Search: "  bob "}, []uuid.UUID{bob}},
		{"underscore is literal", readapi.ContactFilter{Search: "_"}, []uuid.UUID{carol}},
		{"percent is literal", readapi.ContactFilter{Search: "%"}, []uuid.UUID{dave}},
		{"no match", readapi.ContactFilter{Search: "zzz"}, []uuid.UUID{}},
		{"owner", readapi.ContactFilter{OwnerID: other}, []uuid.UUID{bob}},
		{"owner and search", readapi.ContactFilter{OwnerID: o.actor, Search: "a"}, []uuid.UUID{dave, carol, alice}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, o.id, c.f))
			wantIDs(t, idsOf(l.Items, contactID), c.want, names)
			if l.Total != int64(len(c.want)) || l.Page != 1 || l.PageSize != 20 {
				t.Fatalf("total %d page %d size %d, want %d 1 20", l.Total, l.Page, l.PageSize, len(c.want))
			}
			// One item a page: every total is counted (or summed from the
			// counters), never told by a short page.
			var got []uuid.UUID
			for page := 1; page <= len(c.want)+1; page++ {
				c.f.Page = readapi.Page{Page: page, PageSize: 1}
				l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, o.id, c.f))
				if l.Total != int64(len(c.want)) {
					t.Fatalf("page %d of 1: total %d, want %d", page, l.Total, len(c.want))
				}
				got = append(got, idsOf(l.Items, contactID)...)
			}
			wantIDs(t, got, c.want, names)
			// Deep pages and capped totals give the same pages (see
			// TestDealLists).
			deep := e.q.WithCaps(1, 1).WithSearchMax(1)
			got = nil
			for page := 1; page <= len(c.want)+1; page++ {
				c.f.Page = readapi.Page{Page: page, PageSize: 1}
				l := mustList[readapi.Contact](t)(deep.ListContacts(ctx, o.id, c.f))
				got = append(got, idsOf(l.Items, contactID)...)
				if l.Total > int64(len(c.want)) || (!l.TotalIsLowerBound && l.Total != int64(len(c.want))) {
					t.Fatalf("page %d of 1, capped: total %d (lower bound %v), want %d", page, l.Total, l.TotalIsLowerBound, len(c.want))
				}
			}
			wantIDs(t, got, c.want, names)
			// A search finds the same page whichever way it takes.
			if c.f.Search != "" {
				c.f.Page = readapi.Page{}
				l := mustList[readapi.Contact](t)(e.q.WithSearchMax(0).ListContacts(ctx, o.id, c.f))
				wantIDs(t, idsOf(l.Items, contactID), c.want, names)
			}
		})
	}

	t.Run("paging", func(t *testing.T) {
		t.Parallel()
		for _, p := range []struct {
			page, size int
			want       []uuid.UUID
		}{
			{1, 2, []uuid.UUID{dave, carol}},
			{2, 2, []uuid.UUID{bob, alice}},
			{3, 2, []uuid.UUID{}},
			{2, 3, []uuid.UUID{alice}},
			{5, 1, []uuid.UUID{}},
		} {
			l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, o.id, readapi.ContactFilter{Page: readapi.Page{Page: p.page, PageSize: p.size}}))
			wantIDs(t, idsOf(l.Items, contactID), p.want, names)
			if l.Total != 4 || l.Page != p.page || l.PageSize != p.size {
				t.Fatalf("page %d size %d: total %d page %d size %d", p.page, p.size, l.Total, l.Page, l.PageSize)
			}
		}
	})

	t.Run("empty list is [] not null", func(t *testing.T) {
		t.Parallel()
		l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, o.id, readapi.ContactFilter{Search: "nobody"}))
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `{"items":[],"total":0,"page":1,"page_size":20}` {
			t.Fatalf("got %s", b)
		}
	})

	t.Run("invalid filter", func(t *testing.T) {
		t.Parallel()
		_, err := e.q.ListContacts(ctx, o.id, readapi.ContactFilter{OrderBy: "email"})
		wantCode(t, err, crm.CodeValidation)
		_, err = e.q.ListContacts(ctx, o.id, readapi.ContactFilter{Page: readapi.Page{PageSize: 101}})
		wantCode(t, err, crm.CodeValidation)
	})
}

// A search matches within one field: name, email and phone are searched
// as one lowercased text joined by newlines (migrations/00070), and a term
// that holds a newline must not match across two of them.
func TestContactSearchNeverSpansTwoFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	alice := o.newContact(events.ContactCreated{Name: "Alice Smith", Email: ptr("alice@example.com")})
	multi := o.newContact(events.ContactCreated{Name: "Ted\nJones", Email: ptr("ted@example.com")})
	names := map[uuid.UUID]string{alice: "alice", multi: "ted"}
	caughtUp(t, e, o)
	for _, c := range []struct {
		term string
		want []uuid.UUID
	}{
		{"smith\nalice@", []uuid.UUID{}},   // the end of a name and the start of an email
		{"jones\nted@", []uuid.UUID{}},     // the same, where the name holds a newline itself
		{"TED\nJONES", []uuid.UUID{multi}}, // a newline inside one field matches
		{"ALICE@EXAMPLE", []uuid.UUID{alice}},
	} {
		for _, q := range []*pgread.Store{e.q, e.q.WithSearchMax(0)} {
			l := mustList[readapi.Contact](t)(q.ListContacts(ctx, o.id, readapi.ContactFilter{Search: c.term}))
			wantIDs(t, idsOf(l.Items, contactID), c.want, names)
		}
	}
}

func TestContactTiesBreakByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	o.step = 0 // every contact created at the same instant, with the same name
	var ids []uuid.UUID
	for range 6 {
		ids = append(ids, o.newContact(events.ContactCreated{Name: "Same"}))
	}
	ctx := context.Background()
	for _, c := range []struct {
		f    readapi.ContactFilter
		desc bool
	}{
		{readapi.ContactFilter{}, true},
		{readapi.ContactFilter{Order: readapi.Asc}, false},
		{readapi.ContactFilter{OrderBy: readapi.ContactsByName, Order: readapi.Asc}, false},
		{readapi.ContactFilter{OrderBy: readapi.ContactsByName, Order: readapi.Desc}, true},
	} {
		// Page through two at a time: pages must neither overlap nor skip.
		var got []uuid.UUID
		for page := 1; page <= 3; page++ {
			c.f.Page = readapi.Page{Page: page, PageSize: 2}
			l := mustList[readapi.Contact](t)(e.q.ListContacts(ctx, o.id, c.f))
			got = append(got, idsOf(l.Items, contactID)...)
		}
		wantIDs(t, got, byID(ids, c.desc), nil)
	}
}

func TestContactGetAndChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	created := o.clock
	id := o.newContact(events.ContactCreated{Name: "Ann", Email: ptr("ann@example.com"), Phone: ptr("123")})
	newOwner := uuid.New()
	updated := o.clock
	o.onContact(id, events.ContactUpdated{Changes: map[string]events.Change{
		"name":     {Old: "Ann", New: "Ann B."},
		"email":    {Old: "ann@example.com", New: nil},
		"owner_id": {Old: o.actor.String(), New: newOwner.String()},
	}})
	deal := o.newDeal(events.DealCreated{ContactID: id, Title: "T", Amount: 100})

	c, err := e.q.GetContact(ctx, o.id, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + id.String() + `","organization_id":"` + o.id.String() + `","owner_id":"` + newOwner.String() +
		`","name":"Ann B.","email":null,"phone":"123","version":3,` +
		`"created_at":"` + created.Format("2006-01-02T15:04:05.000Z") + `",` +
		`"updated_at":"` + updated.Format("2006-01-02T15:04:05.000Z") + `"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}

	// Unlinking moves the version, not updated_at; deletion removes it.
	o.deleteDeal(deal)
	if c, err = e.q.GetContact(ctx, o.id, id); err != nil || c.Version != 4 || !c.UpdatedAt.Equal(updated) {
		t.Fatalf("after unlink: %+v, %v", c, err)
	}
	o.onContact(id, events.ContactDeleted{})
	_, err = e.q.GetContact(ctx, o.id, id)
	wantCode(t, err, crm.CodeContactNotFound)
	_, err = e.q.GetContact(ctx, o.id, uuid.New())
	wantCode(t, err, crm.CodeContactNotFound)
}
