package commands_test

import (
	"testing"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
)

// A command decides on this process's cached states without reading them
// (one round trip less). Another process writing the same streams must
// never be overlooked: these tests write through a second Application on
// the same database, as a second server process would.

func (e *env) otherProcess() *commands.Application {
	return commands.New(commands.Deps{Store: e.store, Directory: directory{e.pool}})
}

func TestAnotherProcesssChangeIsSeenByIfMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	owner := o.ctx(crm.RoleOwner)
	deal := e.newDeal(t, owner, e.newContact(t, owner).ID, nil)
	if _, _, err := e.otherProcess().UpdateDeal(owner, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo("by the other")}, nil); err != nil {
		t.Fatal(err)
	}

	v1 := 1
	_, _, err := e.app.UpdateDeal(owner, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo("stale")}, &v1)
	wantCode(t, err, crm.CodeVersionMismatch)

	d, _, err := e.app.UpdateDeal(owner, deal.ID, aggregates.DealPatch{Amount: aggregates.SetTo(amount(t, "7"))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != "by the other" || d.Version != 3 {
		t.Fatalf("decided on a stale state: title %q, version %d", d.Title, d.Version)
	}
}

// A refusal decided on a stale state is decided again on the stored one.
func TestARefusalFromAStaleStateIsDecidedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleMember)
	owner, member := o.ctx(crm.RoleOwner), o.ctx(crm.RoleMember)
	deal := e.newDeal(t, owner, e.newContact(t, owner).ID, nil) // the owner's: a member may not change it
	m := o.members["member"]
	if _, _, err := e.otherProcess().UpdateDeal(owner, deal.ID, aggregates.DealPatch{OwnerID: aggregates.SetTo(m)}, nil); err != nil {
		t.Fatal(err)
	}
	d, _, err := e.app.UpdateDeal(member, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo("mine now")}, nil)
	if err != nil {
		t.Fatalf("the deal's new owner was refused on a stale state: %v", err)
	}
	if d.OwnerID != m || d.Title != "mine now" {
		t.Fatalf("deal %+v", d)
	}
}

// A patch that changes nothing on a stale state is decided again: it did
// change something.
func TestANoOpOnAStaleStateIsDecidedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	owner := o.ctx(crm.RoleOwner)
	deal := e.newDeal(t, owner, e.newContact(t, owner).ID, nil)
	if _, _, err := e.otherProcess().UpdateDeal(owner, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo("changed")}, nil); err != nil {
		t.Fatal(err)
	}
	d, res, err := e.app.UpdateDeal(owner, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo(deal.Title)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Title != deal.Title || d.Version != 3 || res.Position == 0 {
		t.Fatalf("title %q at version %d (position %d), want %q at 3, appended", d.Title, d.Version, res.Position, deal.Title)
	}
}
