package aggregates_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

var (
	dealID       = uuid.MustParse("0195a000-0000-7000-8000-0000000000d0")
	otherContact = uuid.MustParse("0195a000-0000-7000-8000-0000000000c2")
	commentID    = uuid.MustParse("0195a000-0000-7000-8000-0000000000e1")
)

// dealCreated is a deal of memberID: 100.00 USD, new, qualification.
func dealCreated() events.DealCreated {
	return events.DealCreated{
		DealID: dealID, ContactID: contactID, OwnerID: memberID, Title: "Licences",
		Amount: 10000, Currency: "USD", Status: aggregates.StatusNew, Stage: aggregates.StageQualification,
	}
}

// dealAt is a history whose deal is in stage with status and amount
// (cents).
func dealAt(stage, status string, amount int64) []events.Payload {
	created := dealCreated()
	created.Amount = crm.Amount(amount)
	h := []events.Payload{created}
	if stage != created.Stage {
		h = append(h, events.DealStageChanged{Old: created.Stage, New: stage})
	}
	if status != created.Status {
		h = append(h, events.DealStatusChanged{Old: created.Status, New: status})
	}
	return h
}

func updateDeal(c aggregates.Caller, p aggregates.DealPatch) func(*aggregates.Deal) ([]events.Payload, error) {
	return func(d *aggregates.Deal) ([]events.Payload, error) { return d.Update(c, p) }
}

func stageTo(s string) aggregates.DealPatch {
	return aggregates.DealPatch{Stage: aggregates.SetTo(s)}
}

func statusTo(s string) aggregates.DealPatch {
	return aggregates.DealPatch{Status: aggregates.SetTo(s)}
}

func TestCreateDeal(t *testing.T) {
	t.Parallel()
	create := func(c aggregates.Caller, in aggregates.DealInput) func(*aggregates.Deal) ([]events.Payload, error) {
		return func(*aggregates.Deal) ([]events.Payload, error) { return aggregates.CreateDeal(c, dealID, orgID, in) }
	}
	in := aggregates.DealInput{ContactID: contactID, Title: "Licences", Amount: 10000, Currency: "USD"}
	created := func(owner uuid.UUID) []events.Payload {
		e := dealCreated()
		e.OwnerID = owner
		return []events.Payload{e}
	}
	forOther := in
	forOther.OwnerID = &otherID
	with := func(f func(*aggregates.DealInput)) aggregates.DealInput {
		v := in
		f(&v)
		return v
	}

	checkRules(t, []rule[*aggregates.Deal]{
		{name: "owner for self", when: create(asOwner, in), then: created(ownerID)},
		{name: "admin for self", when: create(asAdmin, in), then: created(adminID)},
		{name: "manager for self", when: create(asManager, in), then: created(managerID)},
		{name: "member for self", when: create(asMember, in), then: created(memberID)},
		{name: "owner for another", when: create(asOwner, forOther), then: created(otherID)},
		{name: "admin for another", when: create(asAdmin, forOther), then: created(otherID)},
		{name: "manager for another", when: create(asManager, forOther), then: created(otherID)},
		{name: "member for another", when: create(asMember, forOther), code: crm.CodeForbidden},
		{name: "403 comes before 400", when: create(asMember, aggregates.DealInput{OwnerID: &otherID}), code: crm.CodeForbidden},
		{name: "title trimmed, currency upper-cased", when: create(asMember, with(func(d *aggregates.DealInput) { d.Title, d.Currency = "  Licences ", "usd" })), then: created(memberID)},
		{name: "amount zero", when: create(asMember, with(func(d *aggregates.DealInput) { d.Amount = 0 })), then: func() []events.Payload {
			e := dealCreated()
			e.Amount = 0
			return []events.Payload{e}
		}()},
		{name: "negative amount", when: create(asMember, with(func(d *aggregates.DealInput) { d.Amount = -1 })), code: crm.CodeValidation},
		{name: "too large", when: create(asMember, with(func(d *aggregates.DealInput) { d.Amount = crm.MaxAmount + 1 })), code: crm.CodeValidation},
		{name: "unknown currency", when: create(asMember, with(func(d *aggregates.DealInput) { d.Currency = "XYZ" })), code: crm.CodeValidation},
		{name: "no currency", when: create(asMember, with(func(d *aggregates.DealInput) { d.Currency = "" })), code: crm.CodeValidation},
		{name: "no contact", when: create(asMember, with(func(d *aggregates.DealInput) { d.ContactID = uuid.Nil })), code: crm.CodeValidation},
		{name: "empty title", when: create(asMember, with(func(d *aggregates.DealInput) { d.Title = " " })), code: crm.CodeValidation},
		{name: "title of 201", when: create(asMember, with(func(d *aggregates.DealInput) { d.Title = strings.Repeat("x", 201) })), code: crm.CodeValidation},
		{name: "internal without an id", when: func(*aggregates.Deal) ([]events.Payload, error) {
			return aggregates.CreateDeal(asMember, uuid.Nil, orgID, in)
		}, code: crm.CodeInternal},
	})

	t.Run("every invalid field is named", func(t *testing.T) {
		t.Parallel()
		_, err := aggregates.CreateDeal(asMember, dealID, orgID, aggregates.DealInput{Amount: -5, Currency: "dollars"})
		failsWith(t, err, "contact_id", "title", "amount", "currency")
	})
}

// API.md §3 for deals: members update, delete and reassign their own
// deals only; reassigning to another member needs a manager or up.
func TestDealRoles(t *testing.T) {
	t.Parallel()
	history := []events.Payload{dealCreated()}
	retitle := aggregates.DealPatch{Title: aggregates.SetTo("Support")}
	retitled := []events.Payload{events.DealUpdated{Changes: map[string]events.Change{"title": {Old: "Licences", New: "Support"}}}}
	toOther := aggregates.DealPatch{OwnerID: aggregates.SetTo(otherID)}
	reassigned := []events.Payload{events.DealUpdated{Changes: map[string]events.Change{"owner_id": {Old: memberID.String(), New: otherID.String()}}}}
	remove := func(c aggregates.Caller) func(*aggregates.Deal) ([]events.Payload, error) {
		return func(d *aggregates.Deal) ([]events.Payload, error) { return d.Delete(c) }
	}
	deleted := []events.Payload{events.DealDeleted{}}

	checkRules(t, []rule[*aggregates.Deal]{
		{name: "owner updates any", given: history, when: updateDeal(asOwner, retitle), then: retitled},
		{name: "admin updates any", given: history, when: updateDeal(asAdmin, retitle), then: retitled},
		{name: "manager updates any", given: history, when: updateDeal(asManager, retitle), then: retitled},
		{name: "member updates own", given: history, when: updateDeal(asMember, retitle), then: retitled},
		{name: "member updates another's", given: history, when: updateDeal(asOther, retitle), code: crm.CodeForbidden},
		{name: "member's 403 comes before 400", given: history, when: updateDeal(asOther, statusTo("bogus")), code: crm.CodeForbidden},

		{name: "owner reassigns", given: history, when: updateDeal(asOwner, toOther), then: reassigned},
		{name: "admin reassigns", given: history, when: updateDeal(asAdmin, toOther), then: reassigned},
		{name: "manager reassigns", given: history, when: updateDeal(asManager, toOther), then: reassigned},
		{name: "member reassigns own", given: history, when: updateDeal(asMember, toOther), code: crm.CodeForbidden},
		{name: "member keeps self as owner", given: history, when: updateDeal(asMember, aggregates.DealPatch{OwnerID: aggregates.SetTo(memberID)})},
		{name: "nil owner", given: history, when: updateDeal(asOwner, aggregates.DealPatch{OwnerID: aggregates.SetTo(uuid.Nil)}), code: crm.CodeValidation},

		{name: "owner deletes any", given: history, when: remove(asOwner), then: deleted},
		{name: "admin deletes any", given: history, when: remove(asAdmin), then: deleted},
		{name: "manager deletes any", given: history, when: remove(asManager), then: deleted},
		{name: "member deletes own", given: history, when: remove(asMember), then: deleted},
		{name: "member deletes another's", given: history, when: remove(asOther), code: crm.CodeForbidden},
		{name: "delete twice", given: append(history[:1:1], events.DealDeleted{}), when: remove(asOwner), code: crm.CodeDealNotFound},

		{name: "update deleted", given: append(history[:1:1], events.DealDeleted{}), when: updateDeal(asOwner, retitle), code: crm.CodeDealNotFound},
		{name: "update unknown", when: updateDeal(asOwner, retitle), code: crm.CodeDealNotFound},
	})
}

// Deal rule 1: the stage moves forward (skipping allowed) for every role,
// backwards only for the owner and admins.
func TestDealRule1StageDirection(t *testing.T) {
	t.Parallel()
	inProposal := dealAt(aggregates.StageProposal, aggregates.StatusInProgress, 10000)
	inNegotiation := dealAt(aggregates.StageNegotiation, aggregates.StatusInProgress, 10000)
	forward := []events.Payload{events.DealStageChanged{Old: "proposal", New: "negotiation"}}
	skip := []events.Payload{events.DealStageChanged{Old: "proposal", New: "closed"}}
	back := []events.Payload{events.DealStageChanged{Old: "negotiation", New: "qualification"}}

	checkRules(t, []rule[*aggregates.Deal]{
		{name: "owner forward", given: inProposal, when: updateDeal(asOwner, stageTo("negotiation")), then: forward},
		{name: "admin forward", given: inProposal, when: updateDeal(asAdmin, stageTo("negotiation")), then: forward},
		{name: "manager forward", given: inProposal, when: updateDeal(asManager, stageTo("negotiation")), then: forward},
		{name: "member forward on own", given: inProposal, when: updateDeal(asMember, stageTo("negotiation")), then: forward},
		{name: "member skips stages", given: inProposal, when: updateDeal(asMember, stageTo("closed")), then: skip},
		{name: "member forward on another's", given: inProposal, when: updateDeal(asOther, stageTo("negotiation")), code: crm.CodeForbidden},

		{name: "owner backwards", given: inNegotiation, when: updateDeal(asOwner, stageTo("qualification")), then: back},
		{name: "admin backwards", given: inNegotiation, when: updateDeal(asAdmin, stageTo("qualification")), then: back},
		{name: "manager backwards", given: inNegotiation, when: updateDeal(asManager, stageTo("qualification")), code: crm.CodeStageRollback},
		{name: "member backwards on own", given: inNegotiation, when: updateDeal(asMember, stageTo("qualification")), code: crm.CodeStageRollback},
		{name: "member backwards on another's", given: inNegotiation, when: updateDeal(asOther, stageTo("qualification")), code: crm.CodeForbidden},
		{name: "manager stays", given: inNegotiation, when: updateDeal(asManager, stageTo("negotiation"))},

		{name: "unknown stage", given: inNegotiation, when: updateDeal(asOwner, stageTo("won")), code: crm.CodeValidation},
		{name: "stage is case-sensitive", given: inNegotiation, when: updateDeal(asOwner, stageTo("Closed")), code: crm.CodeValidation},
		{
			name: "400 comes before the rollback's 403", given: inNegotiation,
			when: updateDeal(asManager, aggregates.DealPatch{Stage: aggregates.SetTo("proposal"), Title: aggregates.SetTo("")}), code: crm.CodeValidation,
		},
		{
			name: "a rollback refused decides nothing else", given: inNegotiation,
			when: updateDeal(asManager, aggregates.DealPatch{Stage: aggregates.SetTo("proposal"), Title: aggregates.SetTo("Support")}), code: crm.CodeStageRollback,
		},
	})
}

// Deal rule 2: a deal cannot end up won with amount ≤ 0, whether the
// patch sets the status, the amount or both.
func TestDealRule2WonNeedsPositiveAmount(t *testing.T) {
	t.Parallel()
	free := dealAt(aggregates.StageNegotiation, aggregates.StatusInProgress, 0)
	paid := dealAt(aggregates.StageNegotiation, aggregates.StatusInProgress, 10000)
	won := dealAt(aggregates.StageClosed, aggregates.StatusWon, 10000)
	amount := func(a crm.Amount) aggregates.DealPatch { return aggregates.DealPatch{Amount: aggregates.SetTo(a)} }
	wonFor := func(a crm.Amount) aggregates.DealPatch {
		return aggregates.DealPatch{Status: aggregates.SetTo("won"), Amount: aggregates.SetTo(a)}
	}
	becameWon := events.DealStatusChanged{Old: "in_progress", New: "won"}

	checkRules(t, []rule[*aggregates.Deal]{
		{name: "status won, amount 0", given: free, when: updateDeal(asMember, statusTo("won")), code: crm.CodeWonRequiresAmount},
		{name: "status won, amount positive", given: paid, when: updateDeal(asMember, statusTo("won")), then: []events.Payload{becameWon}},
		{name: "amount 0 on a won deal", given: won, when: updateDeal(asMember, amount(0)), code: crm.CodeWonRequiresAmount},
		{
			name: "amount changed on a won deal", given: won, when: updateDeal(asMember, amount(1)),
			then: []events.Payload{events.DealUpdated{Changes: map[string]events.Change{"amount": {Old: "100.00", New: "0.01"}}}},
		},
		{name: "both, amount 0", given: paid, when: updateDeal(asMember, wonFor(0)), code: crm.CodeWonRequiresAmount},
		{
			name: "both, amount positive", given: free, when: updateDeal(asMember, wonFor(5)),
			then: []events.Payload{becameWon, events.DealUpdated{Changes: map[string]events.Change{"amount": {Old: "0.00", New: "0.05"}}}},
		},
		{name: "negative amount is invalid, not a won rule", given: won, when: updateDeal(asMember, amount(-1)), code: crm.CodeValidation},
		{
			name: "leaving won with amount 0", given: won,
			when: updateDeal(asMember, aggregates.DealPatch{Status: aggregates.SetTo("lost"), Amount: aggregates.SetTo[crm.Amount](0)}),
			then: []events.Payload{
				events.DealStatusChanged{Old: "won", New: "lost"},
				events.DealUpdated{Changes: map[string]events.Change{"amount": {Old: "100.00", New: "0.00"}}},
			},
		},
		{name: "lost with amount 0", given: free, when: updateDeal(asMember, statusTo("lost")), then: []events.Payload{events.DealStatusChanged{Old: "in_progress", New: "lost"}}},
		{name: "unknown status", given: free, when: updateDeal(asMember, statusTo("closed")), code: crm.CodeValidation},
	})
}

// Deal rule 3: closed_at is set when the status becomes won or lost, and
// cleared when it leaves them.
func TestDealRule3ClosedAt(t *testing.T) {
	t.Parallel()
	d := given(t, &aggregates.Deal{},
		dealCreated(), // 1
		events.DealStatusChanged{Old: "new", New: "in_progress"}, // 2
		events.DealStatusChanged{Old: "in_progress", New: "won"}, // 3
	)
	if d.ClosedAt == nil || !d.ClosedAt.Equal(at(3)) {
		t.Fatalf("won: closed_at = %v, want %v", d.ClosedAt, at(3))
	}

	d = given(t, &aggregates.Deal{}, dealCreated(),
		events.DealStatusChanged{Old: "new", New: "won"},  // 2
		events.DealStatusChanged{Old: "won", New: "lost"}, // 3
	)
	if d.ClosedAt == nil || !d.ClosedAt.Equal(at(3)) {
		t.Fatalf("won then lost: closed_at = %v, want %v", d.ClosedAt, at(3))
	}

	d = given(t, &aggregates.Deal{}, dealCreated(),
		events.DealStatusChanged{Old: "new", New: "lost"},         // 2
		events.DealStatusChanged{Old: "lost", New: "in_progress"}, // 3
	)
	if d.ClosedAt != nil {
		t.Fatalf("reopened: closed_at = %v, want nil", d.ClosedAt)
	}

	// Through Update and Record, as a command does it.
	d = given(t, &aggregates.Deal{}, dealCreated())
	decided, err := d.Update(asMember, statusTo("won"))
	if err != nil {
		t.Fatal(err)
	}
	aggregates.Record(d, events.Stream{TenantID: d.OrgID, ID: d.ID}, d.Version, at(9), decided...)
	if d.Status != "won" || d.ClosedAt == nil || !d.ClosedAt.Equal(at(9)) || d.Version != 2 {
		t.Fatalf("after recording a win: %+v", *d)
	}
}

// Deal rule 4, the part a deal can decide alone: contact_id is a
// non-nil id, and a move to another contact is reported to the command,
// which checks the contact and moves the link.
func TestDealRule4ContactChange(t *testing.T) {
	t.Parallel()
	history := []events.Payload{dealCreated()}
	checkRules(t, []rule[*aggregates.Deal]{
		{
			name: "another contact", given: history, when: updateDeal(asMember, aggregates.DealPatch{ContactID: aggregates.SetTo(otherContact)}),
			then: []events.Payload{events.DealUpdated{Changes: map[string]events.Change{"contact_id": {Old: contactID.String(), New: otherContact.String()}}}},
		},
		{name: "the same contact", given: history, when: updateDeal(asMember, aggregates.DealPatch{ContactID: aggregates.SetTo(contactID)})},
		{name: "nil contact", given: history, when: updateDeal(asMember, aggregates.DealPatch{ContactID: aggregates.SetTo(uuid.Nil)}), code: crm.CodeValidation},
	})

	d := given(t, &aggregates.Deal{}, history...)
	tests := []struct {
		name        string
		patch       aggregates.DealPatch
		from, to    uuid.UUID
		wantChanged bool
	}{
		{"not in the patch", aggregates.DealPatch{Title: aggregates.SetTo("x")}, contactID, contactID, false},
		{"the same", aggregates.DealPatch{ContactID: aggregates.SetTo(contactID)}, contactID, contactID, false},
		{"another", aggregates.DealPatch{ContactID: aggregates.SetTo(otherContact)}, contactID, otherContact, true},
	}
	for _, tt := range tests {
		from, to, changed := d.ContactChange(tt.patch)
		if from != tt.from || to != tt.to || changed != tt.wantChanged {
			t.Errorf("%s: ContactChange = %s, %s, %v", tt.name, from, to, changed)
		}
	}
}

// Deal rule 5: a patch that changes nothing appends no event.
func TestDealRule5NoopPatch(t *testing.T) {
	t.Parallel()
	history := dealAt(aggregates.StageProposal, aggregates.StatusInProgress, 10000)
	checkRules(t, []rule[*aggregates.Deal]{
		{name: "empty patch", given: history, when: updateDeal(asMember, aggregates.DealPatch{})},
		{name: "every field to its value", given: history, when: updateDeal(asMember, aggregates.DealPatch{
			Title: aggregates.SetTo(" Licences "), Amount: aggregates.SetTo[crm.Amount](10000), Currency: aggregates.SetTo("usd"),
			Status: aggregates.SetTo("in_progress"), Stage: aggregates.SetTo("proposal"),
			ContactID: aggregates.SetTo(contactID), OwnerID: aggregates.SetTo(memberID),
		})},
		{name: "no-op by another member is still 403", given: history, when: updateDeal(asOther, aggregates.DealPatch{}), code: crm.CodeForbidden},
	})
}

// Deal rule 6: updated_at moves with every change of the deal, not with
// comments or tasks (which still bump the version).
func TestDealRule6UpdatedAt(t *testing.T) {
	t.Parallel()
	d := given(t, &aggregates.Deal{}, dealCreated())
	if !d.CreatedAt.Equal(at(1)) || !d.UpdatedAt.Equal(at(1)) {
		t.Fatalf("created: %v %v", d.CreatedAt, d.UpdatedAt)
	}
	steps := []struct {
		p     events.Payload
		moves bool
	}{
		{events.DealStageChanged{Old: "qualification", New: "proposal"}, true},
		{events.DealCommented{CommentID: commentID, Text: "hi"}, false},
		{events.DealStatusChanged{Old: "new", New: "in_progress"}, true},
		{events.DealTaskAdded{TaskID: taskID}, false},
		{events.DealUpdated{Changes: map[string]events.Change{"title": {Old: "Licences", New: "Support"}}}, true},
		{events.DealDeleted{}, true},
	}
	for i, s := range steps {
		v := i + 2
		before := d.UpdatedAt
		d.Apply(events.Event{Version: v, Data: s.p, OccurredAt: at(v)})
		if d.Version != v {
			t.Errorf("%s: version %d, want %d", s.p.EventType(), d.Version, v)
		}
		if moved := !d.UpdatedAt.Equal(before); moved != s.moves || (moved && !d.UpdatedAt.Equal(at(v))) {
			t.Errorf("%s: updated_at %v → %v, want moved=%v", s.p.EventType(), before, d.UpdatedAt, s.moves)
		}
	}
}

// Deal rule 7: one patch may decide several events: stage first, then
// status, then one deal.updated with every other changed field.
func TestDealRule7EventOrder(t *testing.T) {
	t.Parallel()
	checkRules(t, []rule[*aggregates.Deal]{{
		name: "everything at once", given: []events.Payload{dealCreated()},
		when: updateDeal(asOwner, aggregates.DealPatch{
			Title: aggregates.SetTo("Support"), Amount: aggregates.SetTo[crm.Amount](1_000_050), Currency: aggregates.SetTo("eur"),
			Status: aggregates.SetTo("won"), Stage: aggregates.SetTo("closed"),
			ContactID: aggregates.SetTo(otherContact), OwnerID: aggregates.SetTo(otherID),
		}),
		then: []events.Payload{
			events.DealStageChanged{Old: "qualification", New: "closed"},
			events.DealStatusChanged{Old: "new", New: "won"},
			events.DealUpdated{Changes: map[string]events.Change{
				"title":      {Old: "Licences", New: "Support"},
				"amount":     {Old: "100.00", New: "10000.50"},
				"currency":   {Old: "USD", New: "EUR"},
				"contact_id": {Old: contactID.String(), New: otherContact.String()},
				"owner_id":   {Old: memberID.String(), New: otherID.String()},
			}},
		},
	}})
}

// Every invalid value is named in one VALIDATION_ERROR.
func TestDealUpdateValidation(t *testing.T) {
	t.Parallel()
	d := given(t, &aggregates.Deal{}, dealCreated())
	_, err := d.Update(asOwner, aggregates.DealPatch{
		Title: aggregates.SetTo(""), Amount: aggregates.SetTo(crm.MaxAmount + 1), Currency: aggregates.SetTo("usdx"),
		Status: aggregates.SetTo("open"), Stage: aggregates.SetTo("done"),
		ContactID: aggregates.SetTo(uuid.Nil), OwnerID: aggregates.SetTo(uuid.Nil),
	})
	failsWith(t, err, "title", "amount", "currency", "status", "stage", "contact_id", "owner_id")
}

// The state replayed from the events is the state Update decided on, and
// deciding the same patch again is a no-op.
func TestDealApply(t *testing.T) {
	t.Parallel()
	d := given(t, &aggregates.Deal{},
		dealCreated(), // 1
		events.DealStageChanged{Old: "qualification", New: "negotiation"}, // 2
		events.DealStageChanged{Old: "negotiation", New: "proposal"},      // 3
		events.DealStatusChanged{Old: "new", New: "in_progress"},          // 4
		events.DealUpdated{Changes: map[string]events.Change{ // 5
			"title":      {Old: "Licences", New: "Support"},
			"amount":     {Old: "100.00", New: "10000.50"},
			"currency":   {Old: "USD", New: "EUR"},
			"contact_id": {Old: contactID.String(), New: otherContact.String()},
			"owner_id":   {Old: memberID.String(), New: otherID.String()},
		}},
		events.DealCommented{CommentID: commentID, Text: "call back"}, // 6
		events.DealTaskAdded{TaskID: taskID},                          // 7
	)
	want := aggregates.Deal{
		ID: dealID, OrgID: orgID, ContactID: otherContact, OwnerID: otherID, Title: "Support",
		Amount: 1_000_050, Currency: "EUR", Status: "in_progress", Stage: "proposal",
		Version: 7, CreatedAt: at(1), UpdatedAt: at(5), FurthestStage: "negotiation",
	}
	if !reflect.DeepEqual(*d, want) {
		t.Fatalf("state:\n got %+v\nwant %+v", *d, want)
	}

	patch := aggregates.DealPatch{Stage: aggregates.SetTo("closed"), Status: aggregates.SetTo("won"), Amount: aggregates.SetTo[crm.Amount](1)}
	decided, err := d.Update(asOwner, patch)
	if err != nil {
		t.Fatal(err)
	}
	aggregates.Record(d, events.Stream{TenantID: d.OrgID, ID: d.ID}, d.Version, at(8), decided...)
	if d.Stage != "closed" || d.FurthestStage != "closed" || d.Status != "won" || d.Amount != 1 || d.Version != 10 {
		t.Fatalf("after record: %+v", *d)
	}
	again, err := d.Update(asOwner, patch)
	then(t, again, err, nil, "")
}

func TestDealComment(t *testing.T) {
	t.Parallel()
	comment := func(c aggregates.Caller, text string) func(*aggregates.Deal) ([]events.Payload, error) {
		return func(d *aggregates.Deal) ([]events.Payload, error) { return d.Comment(c, commentID, text) }
	}
	commented := func(text string) []events.Payload {
		return []events.Payload{events.DealCommented{CommentID: commentID, Text: text}}
	}
	history := []events.Payload{dealCreated()}
	long := strings.Repeat("é", aggregates.MaxCommentLen)

	checkRules(t, []rule[*aggregates.Deal]{
		{name: "owner", given: history, when: comment(asOwner, "hi"), then: commented("hi")},
		{name: "admin", given: history, when: comment(asAdmin, "hi"), then: commented("hi")},
		{name: "manager", given: history, when: comment(asManager, "hi"), then: commented("hi")},
		{name: "member on own", given: history, when: comment(asMember, "hi"), then: commented("hi")},
		{name: "member on another's", given: history, when: comment(asOther, "hi"), then: commented("hi")},
		{name: "caller without a role", given: history, when: comment(aggregates.Caller{UserID: otherID}, "hi"), code: crm.CodeForbidden},
		{name: "kept as written", given: history, when: comment(asMember, "  two\nlines "), then: commented("  two\nlines ")},
		{name: "10000 characters", given: history, when: comment(asMember, long), then: commented(long)},
		{name: "10001 characters", given: history, when: comment(asMember, long+"x"), code: crm.CodeValidation},
		{name: "empty", given: history, when: comment(asMember, ""), code: crm.CodeValidation},
		{name: "blank", given: history, when: comment(asMember, " \n "), code: crm.CodeValidation},
		{name: "deleted deal", given: append(history[:1:1], events.DealDeleted{}), when: comment(asOwner, "hi"), code: crm.CodeDealNotFound},
		{name: "unknown deal", when: comment(asOwner, "hi"), code: crm.CodeDealNotFound},
	})

	t.Run("the field is the request's", func(t *testing.T) {
		t.Parallel()
		_, err := given(t, &aggregates.Deal{}, history...).Comment(asMember, commentID, "")
		failsWith(t, err, "payload.text")
	})
}

func TestDealAddTask(t *testing.T) {
	t.Parallel()
	add := func(c aggregates.Caller) func(*aggregates.Deal) ([]events.Payload, error) {
		return func(d *aggregates.Deal) ([]events.Payload, error) { return d.AddTask(c, taskID) }
	}
	added := []events.Payload{events.DealTaskAdded{TaskID: taskID}}
	history := []events.Payload{dealCreated()}
	checkRules(t, []rule[*aggregates.Deal]{
		{name: "owner", given: history, when: add(asOwner), then: added},
		{name: "admin", given: history, when: add(asAdmin), then: added},
		{name: "manager", given: history, when: add(asManager), then: added},
		{name: "member on own", given: history, when: add(asMember), then: added},
		{name: "member on another's", given: history, when: add(asOther), code: crm.CodeForbidden},
		{name: "deleted deal", given: append(history[:1:1], events.DealDeleted{}), when: add(asOwner), code: crm.CodeDealNotFound},
	})
}

func TestDealVocabulary(t *testing.T) {
	t.Parallel()
	if got := aggregates.DealStatuses(); !reflect.DeepEqual(got, []string{"new", "in_progress", "won", "lost"}) {
		t.Errorf("statuses %v", got)
	}
	if got := aggregates.DealStages(); !reflect.DeepEqual(got, []string{"qualification", "proposal", "negotiation", "closed"}) {
		t.Errorf("stages %v", got)
	}
	aggregates.DealStages()[0] = "mutated"
	if aggregates.StageRank("qualification") != 0 || aggregates.StageRank("closed") != 3 || aggregates.StageRank("won") != -1 {
		t.Error("StageRank")
	}
	if !aggregates.ValidStatus("won") || aggregates.ValidStatus("closed") || !aggregates.ValidStage("closed") || aggregates.ValidStage("") {
		t.Error("validators")
	}
	if !aggregates.IsClosedStatus("won") || !aggregates.IsClosedStatus("lost") || aggregates.IsClosedStatus("new") {
		t.Error("IsClosedStatus")
	}
}
