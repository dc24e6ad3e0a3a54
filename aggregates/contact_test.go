package aggregates_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// ---- given / when / then, shared by the contact, deal and task tests ----

// The organization and its people. Entities under test belong to
// memberID unless a rule says otherwise: "own" for asMember, someone
// else's for asOther.
var (
	orgID     = uuid.MustParse("0195a000-0000-7000-8000-0000000000a0")
	ownerID   = uuid.MustParse("0195a000-0000-7000-8000-000000000001")
	adminID   = uuid.MustParse("0195a000-0000-7000-8000-000000000002")
	managerID = uuid.MustParse("0195a000-0000-7000-8000-000000000003")
	memberID  = uuid.MustParse("0195a000-0000-7000-8000-000000000004")
	otherID   = uuid.MustParse("0195a000-0000-7000-8000-000000000005")

	asOwner   = aggregates.Caller{UserID: ownerID, Role: crm.RoleOwner}
	asAdmin   = aggregates.Caller{UserID: adminID, Role: crm.RoleAdmin}
	asManager = aggregates.Caller{UserID: managerID, Role: crm.RoleManager}
	asMember  = aggregates.Caller{UserID: memberID, Role: crm.RoleMember}
	asOther   = aggregates.Caller{UserID: otherID, Role: crm.RoleMember}
)

// t0 is when every history starts; its events are one minute apart.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// at is the time of the n-th event (1-based) of a history.
func at(n int) time.Time { return t0.Add(time.Duration(n-1) * time.Minute) }

// registry decodes what the tests replay, as the event store would.
var registry = events.Domain()

// given replays payloads into s as the events 1..n of its stream, after a
// JSON round trip through the registry, so that Apply is tested on what
// a stored stream really holds (uuids and amounts as strings).
func given[S aggregates.State](tb testing.TB, s S, payloads ...events.Payload) S {
	tb.Helper()
	for i, p := range payloads {
		name, version, body, err := registry.Encode(p)
		if err != nil {
			tb.Fatalf("given: %v", err)
		}
		stored, err := registry.Decode(name, version, body)
		if err != nil {
			tb.Fatalf("given: %v", err)
		}
		s.Apply(events.Event{
			TenantID: orgID, Version: i + 1, Type: name, SchemaVersion: version,
			Data: stored, OccurredAt: at(i + 1),
		})
	}
	return s
}

// then checks a decision: with wantCode "" exactly the events want (each
// of them registered, so storable), otherwise an error with that code and
// no events.
func then(tb testing.TB, got []events.Payload, err error, want []events.Payload, wantCode crm.Code) {
	tb.Helper()
	if wantCode != "" {
		if code := crm.ErrorCode(err); code != wantCode {
			tb.Fatalf("error = %v (%s), want %s", err, code, wantCode)
		}
		if len(got) != 0 {
			tb.Fatalf("an error came with events: %s", dump(got))
		}
		return
	}
	if err != nil {
		tb.Fatalf("unexpected error: %v", err)
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		tb.Fatalf("events:\n got %s\nwant %s", dump(got), dump(want))
	}
	for _, p := range got {
		if _, _, _, err := registry.Encode(p); err != nil {
			tb.Fatalf("decided an unstorable event: %v", err)
		}
	}
}

// dump shows events as their type and JSON body.
func dump(ps []events.Payload) string {
	var b strings.Builder
	b.WriteString("[")
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		body, _ := json.Marshal(p)
		b.WriteString(p.EventType() + " " + string(body))
	}
	return b.String() + "]"
}

// rule is one line of a rule table: given these events, when this command,
// then these events or this error code.
type rule[S aggregates.State] struct {
	name  string
	given []events.Payload
	when  func(S) ([]events.Payload, error)
	then  []events.Payload
	code  crm.Code
}

// checkRules runs every rule on a fresh aggregate, in parallel.
func checkRules[T any, S interface {
	*T
	aggregates.State
}](t *testing.T, rules []rule[S]) {
	t.Helper()
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			s := given(t, S(new(T)), r.given...)
			got, err := r.when(s)
			then(t, got, err, r.then, r.code)
		})
	}
}

// failsWith asserts a VALIDATION_ERROR naming exactly fields, in order.
func failsWith(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	var ce *crm.Error
	if !errors.As(err, &ce) || ce.Code != crm.CodeValidation {
		tb.Fatalf("error = %v, want %s on %v", err, crm.CodeValidation, fields)
	}
	var got []string
	for _, f := range ce.Fields {
		got = append(got, f.Field)
	}
	if !reflect.DeepEqual(got, fields) {
		tb.Fatalf("invalid fields = %v (%+v), want %v", got, ce.Fields, fields)
	}
}

func ptr[T any](v T) *T { return &v }

// ---- contacts ----

var (
	contactID = uuid.MustParse("0195a000-0000-7000-8000-0000000000c1")
	dealA     = uuid.MustParse("0195a000-0000-7000-8000-0000000000d1")
	dealB     = uuid.MustParse("0195a000-0000-7000-8000-0000000000d2")
)

// contactCreated is a contact of memberID.
func contactCreated() events.ContactCreated {
	return events.ContactCreated{ContactID: contactID, OwnerID: memberID, Name: "Ada Lovelace", Email: ptr("ada@example.com")}
}

func TestCreateContact(t *testing.T) {
	t.Parallel()
	create := func(c aggregates.Caller, in aggregates.ContactInput) func(*aggregates.Contact) ([]events.Payload, error) {
		return func(*aggregates.Contact) ([]events.Payload, error) {
			return aggregates.CreateContact(c, contactID, orgID, in)
		}
	}
	ada := aggregates.ContactInput{Name: "Ada Lovelace"}
	created := func(owner uuid.UUID) []events.Payload {
		return []events.Payload{events.ContactCreated{ContactID: contactID, OwnerID: owner, Name: "Ada Lovelace"}}
	}
	forOther := ada
	forOther.OwnerID = &otherID
	forSelf := ada
	forSelf.OwnerID = &memberID

	checkRules(t, []rule[*aggregates.Contact]{
		// Every role may create a contact owned by itself; owner_id defaults to the caller.
		{name: "owner for self", when: create(asOwner, ada), then: created(ownerID)},
		{name: "admin for self", when: create(asAdmin, ada), then: created(adminID)},
		{name: "manager for self", when: create(asManager, ada), then: created(managerID)},
		{name: "member for self", when: create(asMember, ada), then: created(memberID)},
		{name: "member names self as owner", when: create(asMember, forSelf), then: created(memberID)},
		// Only managers and up may create one owned by another member.
		{name: "owner for another", when: create(asOwner, forOther), then: created(otherID)},
		{name: "admin for another", when: create(asAdmin, forOther), then: created(otherID)},
		{name: "manager for another", when: create(asManager, forOther), then: created(otherID)},
		{name: "member for another", when: create(asMember, forOther), code: crm.CodeForbidden},
		{name: "403 comes before 400", when: create(asMember, aggregates.ContactInput{OwnerID: &otherID}), code: crm.CodeForbidden},
		{name: "caller without a role for another", when: create(aggregates.Caller{UserID: memberID}, forOther), code: crm.CodeForbidden},
		{name: "nil owner", when: create(asManager, aggregates.ContactInput{Name: "x", OwnerID: &uuid.Nil}), code: crm.CodeValidation},
		// Values are trimmed.
		{
			name: "trimmed",
			when: create(asMember, aggregates.ContactInput{Name: "  Ada  ", Email: ptr(" Ada@Example.com "), Phone: ptr(" +44 (20) 7946-0958. ")}),
			then: []events.Payload{events.ContactCreated{ContactID: contactID, OwnerID: memberID, Name: "Ada", Email: ptr("Ada@Example.com"), Phone: ptr("+44 (20) 7946-0958.")}},
		},
		{
			name: "200 characters",
			when: create(asMember, aggregates.ContactInput{Name: strings.Repeat("é", 200)}),
			then: []events.Payload{events.ContactCreated{ContactID: contactID, OwnerID: memberID, Name: strings.Repeat("é", 200)}},
		},
		{name: "internal without an id", when: func(*aggregates.Contact) ([]events.Payload, error) {
			return aggregates.CreateContact(asMember, uuid.Nil, orgID, ada)
		}, code: crm.CodeInternal},
		{name: "internal without an organization", when: func(*aggregates.Contact) ([]events.Payload, error) {
			return aggregates.CreateContact(asMember, contactID, uuid.Nil, ada)
		}, code: crm.CodeInternal},
	})
}

func TestContactValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     aggregates.ContactInput
		fields []string // nil: valid
	}{
		{name: "empty name", in: aggregates.ContactInput{Name: ""}, fields: []string{"name"}},
		{name: "blank name", in: aggregates.ContactInput{Name: " \t\n"}, fields: []string{"name"}},
		{name: "201 characters", in: aggregates.ContactInput{Name: strings.Repeat("é", 201)}, fields: []string{"name"}},
		{name: "email", in: aggregates.ContactInput{Name: "a", Email: ptr("ada@example.com")}},
		{name: "email without a dot", in: aggregates.ContactInput{Name: "a", Email: ptr("ada@localhost")}},
		{name: "email not an address", in: aggregates.ContactInput{Name: "a", Email: ptr("ada")}, fields: []string{"email"}},
		{name: "email empty", in: aggregates.ContactInput{Name: "a", Email: ptr("")}, fields: []string{"email"}},
		{name: "email with display name", in: aggregates.ContactInput{Name: "a", Email: ptr("Ada <ada@example.com>")}, fields: []string{"email"}},
		{name: "email in brackets", in: aggregates.ContactInput{Name: "a", Email: ptr("<ada@example.com>")}, fields: []string{"email"}},
		{name: "two emails", in: aggregates.ContactInput{Name: "a", Email: ptr("a@example.com, b@example.com")}, fields: []string{"email"}},
		{name: "email of 254", in: aggregates.ContactInput{Name: "a", Email: ptr(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com")}},
		{name: "email of 255", in: aggregates.ContactInput{Name: "a", Email: ptr(strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com")}, fields: []string{"email"}},
		{name: "phone", in: aggregates.ContactInput{Name: "a", Phone: ptr("+1 (555) 010-99.99")}},
		{name: "phone of 32", in: aggregates.ContactInput{Name: "a", Phone: ptr(strings.Repeat("1", 32))}},
		{name: "phone of 33", in: aggregates.ContactInput{Name: "a", Phone: ptr(strings.Repeat("1", 33))}, fields: []string{"phone"}},
		{name: "phone with letters", in: aggregates.ContactInput{Name: "a", Phone: ptr("555-CALL-NOW")}, fields: []string{"phone"}},
		{name: "phone with a slash", in: aggregates.ContactInput{Name: "a", Phone: ptr("555/123")}, fields: []string{"phone"}},
		{name: "phone empty", in: aggregates.ContactInput{Name: "a", Phone: ptr("  ")}, fields: []string{"phone"}},
		{name: "phone without digits", in: aggregates.ContactInput{Name: "a", Phone: ptr("+()")}, fields: []string{"phone"}},
		{name: "every field at once", in: aggregates.ContactInput{Email: ptr("nope"), Phone: ptr("x")}, fields: []string{"name", "email", "phone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := aggregates.CreateContact(asMember, contactID, orgID, tt.in)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("CreateContact: %v", err)
				}
				return
			}
			failsWith(t, err, tt.fields...)
		})
	}
}

func TestUpdateContact(t *testing.T) {
	t.Parallel()
	update := func(c aggregates.Caller, p aggregates.ContactPatch) func(*aggregates.Contact) ([]events.Payload, error) {
		return func(ct *aggregates.Contact) ([]events.Payload, error) { return ct.Update(c, p) }
	}
	rename := aggregates.ContactPatch{Name: aggregates.SetTo("Ada King")}
	renamed := []events.Payload{events.ContactUpdated{Changes: map[string]events.Change{"name": {Old: "Ada Lovelace", New: "Ada King"}}}}
	toOther := aggregates.ContactPatch{OwnerID: aggregates.SetTo(otherID)}
	reassigned := []events.Payload{events.ContactUpdated{Changes: map[string]events.Change{"owner_id": {Old: memberID.String(), New: otherID.String()}}}}
	history := []events.Payload{contactCreated()}

	checkRules(t, []rule[*aggregates.Contact]{
		// Members update their own contacts only; managers and up any.
		{name: "owner updates any", given: history, when: update(asOwner, rename), then: renamed},
		{name: "admin updates any", given: history, when: update(asAdmin, rename), then: renamed},
		{name: "manager updates any", given: history, when: update(asManager, rename), then: renamed},
		{name: "member updates own", given: history, when: update(asMember, rename), then: renamed},
		{name: "member updates another's", given: history, when: update(asOther, rename), code: crm.CodeForbidden},
		{name: "403 comes before 400", given: history, when: update(asOther, aggregates.ContactPatch{Name: aggregates.SetTo("")}), code: crm.CodeForbidden},
		// Reassigning to another member needs a manager or up.
		{name: "owner reassigns", given: history, when: update(asOwner, toOther), then: reassigned},
		{name: "admin reassigns", given: history, when: update(asAdmin, toOther), then: reassigned},
		{name: "manager reassigns", given: history, when: update(asManager, toOther), then: reassigned},
		{name: "member reassigns own", given: history, when: update(asMember, toOther), code: crm.CodeForbidden},
		{name: "member keeps self as owner", given: history, when: update(asMember, aggregates.ContactPatch{OwnerID: aggregates.SetTo(memberID)})},
		{
			name: "manager takes it", given: history, when: update(asManager, aggregates.ContactPatch{OwnerID: aggregates.SetTo(managerID)}),
			then: []events.Payload{events.ContactUpdated{Changes: map[string]events.Change{"owner_id": {Old: memberID.String(), New: managerID.String()}}}},
		},
		{name: "nil owner", given: history, when: update(asManager, aggregates.ContactPatch{OwnerID: aggregates.SetTo(uuid.Nil)}), code: crm.CodeValidation},
		// Only what changes is recorded; nothing changed, nothing recorded.
		{name: "empty patch", given: history, when: update(asMember, aggregates.ContactPatch{})},
		{name: "same values", given: history, when: update(asMember, aggregates.ContactPatch{
			Name: aggregates.SetTo(" Ada Lovelace "), Email: aggregates.SetTo(ptr("ada@example.com")),
			Phone: aggregates.SetTo[*string](nil), OwnerID: aggregates.SetTo(memberID),
		})},
		{
			name: "clear email, set phone", given: history,
			when: update(asMember, aggregates.ContactPatch{Email: aggregates.SetTo[*string](nil), Phone: aggregates.SetTo(ptr("+1 555"))}),
			then: []events.Payload{events.ContactUpdated{Changes: map[string]events.Change{
				"email": {Old: "ada@example.com", New: nil},
				"phone": {Old: nil, New: "+1 555"},
			}}},
		},
		{
			name: "every field", given: history,
			when: update(asAdmin, aggregates.ContactPatch{
				Name: aggregates.SetTo("Ada King"), Email: aggregates.SetTo(ptr("ada@king.example")),
				Phone: aggregates.SetTo(ptr("1")), OwnerID: aggregates.SetTo(otherID),
			}),
			then: []events.Payload{events.ContactUpdated{Changes: map[string]events.Change{
				"name":     {Old: "Ada Lovelace", New: "Ada King"},
				"email":    {Old: "ada@example.com", New: "ada@king.example"},
				"phone":    {Old: nil, New: "1"},
				"owner_id": {Old: memberID.String(), New: otherID.String()},
			}}},
		},
		{name: "invalid values", given: history, when: update(asMember, aggregates.ContactPatch{Name: aggregates.SetTo(" "), Email: aggregates.SetTo(ptr("x"))}), code: crm.CodeValidation},
		// A deleted or unknown contact is not found.
		{name: "deleted", given: append(history, events.ContactDeleted{}), when: update(asOwner, rename), code: crm.CodeContactNotFound},
		{name: "never created", when: update(asOwner, rename), code: crm.CodeContactNotFound},
	})
}

func TestDeleteContact(t *testing.T) {
	t.Parallel()
	remove := func(c aggregates.Caller) func(*aggregates.Contact) ([]events.Payload, error) {
		return func(ct *aggregates.Contact) ([]events.Payload, error) { return ct.Delete(c) }
	}
	history := []events.Payload{contactCreated()}
	deleted := []events.Payload{events.ContactDeleted{}}
	withDeals := append(history[:1:1], events.ContactDealLinked{DealID: dealA}, events.ContactDealLinked{DealID: dealB})

	checkRules(t, []rule[*aggregates.Contact]{
		{name: "owner deletes any", given: history, when: remove(asOwner), then: deleted},
		{name: "admin deletes any", given: history, when: remove(asAdmin), then: deleted},
		{name: "manager deletes any", given: history, when: remove(asManager), then: deleted},
		{name: "member deletes own", given: history, when: remove(asMember), then: deleted},
		{name: "member deletes another's", given: history, when: remove(asOther), code: crm.CodeForbidden},
		{name: "with deals", given: withDeals, when: remove(asOwner), code: crm.CodeContactHasDeals},
		{name: "403 comes before 409", given: withDeals, when: remove(asOther), code: crm.CodeForbidden},
		{name: "after its deals went", given: append(withDeals[:3:3], events.ContactDealUnlinked{DealID: dealA}, events.ContactDealUnlinked{DealID: dealB}), when: remove(asMember), then: deleted},
		{name: "a deal moved away and back", given: append(withDeals[:2:2], events.ContactDealUnlinked{DealID: dealA}, events.ContactDealLinked{DealID: dealA}), when: remove(asMember), code: crm.CodeContactHasDeals},
		{name: "already deleted", given: append(history[:1:1], events.ContactDeleted{}), when: remove(asOwner), code: crm.CodeContactNotFound},
		{name: "never created", when: remove(asOwner), code: crm.CodeContactNotFound},
	})

	t.Run("the message counts the deals", func(t *testing.T) {
		t.Parallel()
		_, err := given(t, &aggregates.Contact{}, withDeals...).Delete(asOwner)
		if msg := crm.ErrorMessage(err); !strings.Contains(msg, "2 deals") || !strings.Contains(msg, contactID.String()) {
			t.Fatalf("message = %q", msg)
		}
		_, err = given(t, &aggregates.Contact{}, withDeals[:2]...).Delete(asOwner)
		if msg := crm.ErrorMessage(err); !strings.Contains(msg, "1 deal") {
			t.Fatalf("message = %q", msg)
		}
	})
}

func TestLinkAndUnlinkDeal(t *testing.T) {
	t.Parallel()
	link := func(id uuid.UUID) func(*aggregates.Contact) ([]events.Payload, error) {
		return func(ct *aggregates.Contact) ([]events.Payload, error) { return ct.LinkDeal(id) }
	}
	unlink := func(id uuid.UUID) func(*aggregates.Contact) ([]events.Payload, error) {
		return func(ct *aggregates.Contact) ([]events.Payload, error) { return ct.UnlinkDeal(id), nil }
	}
	history := []events.Payload{contactCreated(), events.ContactDealLinked{DealID: dealA}}

	checkRules(t, []rule[*aggregates.Contact]{
		{name: "link a new deal", given: history, when: link(dealB), then: []events.Payload{events.ContactDealLinked{DealID: dealB}}},
		{name: "link a linked deal", given: history, when: link(dealA)},
		{name: "link to a deleted contact", given: []events.Payload{contactCreated(), events.ContactDeleted{}}, when: link(dealA), code: crm.CodeContactNotFound},
		{name: "link to an unknown contact", when: link(dealA), code: crm.CodeContactNotFound},
		{name: "unlink a linked deal", given: history, when: unlink(dealA), then: []events.Payload{events.ContactDealUnlinked{DealID: dealA}}},
		{name: "unlink a deal not linked", given: history, when: unlink(dealB)},
	})
}

func TestContactApply(t *testing.T) {
	t.Parallel()
	ct := given(t, &aggregates.Contact{},
		contactCreated(),
		events.ContactDealLinked{DealID: dealA},
		events.ContactUpdated{Changes: map[string]events.Change{
			"name":     {Old: "Ada Lovelace", New: "Ada King"},
			"email":    {Old: "ada@example.com", New: nil},
			"phone":    {Old: nil, New: "+1 555"},
			"owner_id": {Old: memberID.String(), New: otherID.String()},
		}},
		events.ContactDealLinked{DealID: dealB},
		events.ContactDealUnlinked{DealID: dealA},
	)
	want := aggregates.Contact{
		ID: contactID, OrgID: orgID, OwnerID: otherID, Name: "Ada King", Phone: ptr("+1 555"),
		Deals: map[uuid.UUID]bool{dealB: true}, Version: 5,
		CreatedAt: at(1), UpdatedAt: at(3), // linking deals moves no field
	}
	if !reflect.DeepEqual(*ct, want) {
		t.Fatalf("state:\n got %+v\nwant %+v", *ct, want)
	}

	ct.Apply(events.Event{Version: 6, Data: events.ContactDeleted{}, OccurredAt: at(6)})
	if !ct.Deleted || ct.Version != 6 || !ct.UpdatedAt.Equal(at(6)) {
		t.Fatalf("after delete: %+v", *ct)
	}
}

// What Update decides, once recorded, is what the contact becomes: the
// same patch again decides nothing.
func TestContactUpdateThenSamePatchIsNoop(t *testing.T) {
	t.Parallel()
	ct := given(t, &aggregates.Contact{}, contactCreated())
	patch := aggregates.ContactPatch{
		Name: aggregates.SetTo("Ada King"), Email: aggregates.SetTo[*string](nil),
		Phone: aggregates.SetTo(ptr("+1 555")), OwnerID: aggregates.SetTo(otherID),
	}
	decided, err := ct.Update(asAdmin, patch)
	if err != nil || len(decided) != 1 {
		t.Fatalf("Update = %s, %v", dump(decided), err)
	}
	aggregates.Record(ct, events.Stream{TenantID: ct.OrgID, ID: ct.ID}, ct.Version, at(2), decided...)
	again, err := ct.Update(asAdmin, patch)
	then(t, again, err, nil, "")
	if ct.OwnerID != otherID || ct.Email != nil || *ct.Phone != "+1 555" || ct.Version != 2 {
		t.Fatalf("state after record: %+v", *ct)
	}
}
