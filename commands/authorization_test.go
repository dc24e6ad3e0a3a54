package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/events/pgstore"
)

// Authorization is decided at commit time: each test pauses a command
// between its decision (taken with the role the tenancy check read) and
// its append, commits a change of the caller's rights meanwhile, and
// checks that the change that committed first wins.

func TestMemberRemovedMidCommandWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		cmd  func(ctx context.Context, o *org, deal uuid.UUID) error
	}{
		{"create contact", func(ctx context.Context, _ *org, _ uuid.UUID) error {
			_, _, err := e.app.CreateContact(ctx, aggregates.ContactInput{Name: "Late"})
			return err
		}},
		{"comment", func(ctx context.Context, _ *org, deal uuid.UUID) error {
			_, _, err := e.app.CommentOnDeal(ctx, deal, "late")
			return err
		}},
		{"create task", func(ctx context.Context, _ *org, deal uuid.UUID) error {
			_, _, err := e.app.CreateTask(ctx, deal, aggregates.TaskInput{Title: "Late", DueDate: "2999-01-01"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := e.newOrg(t, crm.RoleMember)
			member := o.members["member"]
			deal := e.newDeal(t, o.ctx(crm.RoleMember), e.newContact(t, o.ctx(crm.RoleMember)).ID, nil)
			dealEvents := e.streamLen(t, o.id, deal.ID)

			resume := paused(o.ctx(crm.RoleMember), func(ctx context.Context) error { return tc.cmd(ctx, o, deal.ID) })
			must[commands.Result](t)(e.app.RemoveMember(o.ctx(crm.RoleOwner), member, nil))
			wantCode(t, resume(), crm.CodeNotAMember)
			if n := e.streamLen(t, o.id, deal.ID); n != dealEvents {
				t.Fatalf("the deal gained %d events after the removal", n-dealEvents)
			}
		})
	}
}

func TestDemotedAdminCannotRollBackAStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleAdmin)
	admin := o.members["admin"]
	deal := e.newDeal(t, o.ctx(crm.RoleOwner), e.newContact(t, o.ctx(crm.RoleOwner)).ID, nil)
	must[aggregates.Deal](t)(func() (aggregates.Deal, error) {
		d, _, err := e.app.UpdateDeal(o.ctx(crm.RoleOwner), deal.ID, aggregates.DealPatch{Stage: aggregates.SetTo(aggregates.StageNegotiation)}, nil)
		return d, err
	}())

	resume := paused(o.ctx(crm.RoleAdmin), func(ctx context.Context) error {
		_, _, err := e.app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{Stage: aggregates.SetTo(aggregates.StageQualification)}, nil)
		return err
	})
	must[commands.MemberResult](t)(e.app.ChangeMemberRole(o.ctx(crm.RoleOwner), admin, string(crm.RoleMember), nil))
	// Decided again as a member: someone else's deal, and a rollback.
	wantCode(t, resume(), crm.CodeForbidden, crm.CodeStageRollback)
	d := must[*aggregates.Deal](t)(e.loadDeal(o, deal.ID))
	if d.Stage != aggregates.StageNegotiation {
		t.Fatalf("stage %s after the demotion, want %s", d.Stage, aggregates.StageNegotiation)
	}
}

func TestPromotedMemberDecidesAgainWithTheNewRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleMember)
	member := o.members["member"]
	deal := e.newDeal(t, o.ctx(crm.RoleOwner), e.newContact(t, o.ctx(crm.RoleOwner)).ID, nil)
	resume := paused(o.ctx(crm.RoleMember), func(ctx context.Context) error {
		_, _, err := e.app.CommentOnDeal(ctx, deal.ID, "hello")
		return err
	})
	must[commands.MemberResult](t)(e.app.ChangeMemberRole(o.ctx(crm.RoleOwner), member, string(crm.RoleManager), nil))
	if err := resume(); err != nil {
		t.Fatalf("a comment by a promoted member: %v", err)
	}
}

func TestOrganizationDeletedMidCommandWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleManager)
	var created aggregates.Contact
	resume := paused(o.ctx(crm.RoleManager), func(ctx context.Context) error {
		var err error
		created, _, err = e.app.CreateContact(ctx, aggregates.ContactInput{Name: "Late"})
		return err
	})
	must[commands.Result](t)(e.app.DeleteOrganization(o.ctx(crm.RoleOwner), nil))
	wantCode(t, resume(), crm.CodeNotAMember)
	if created.ID != uuid.Nil && e.streamLen(t, o.id, created.ID) != 0 {
		t.Fatal("a contact was written into the deleted organization")
	}
}

func TestOwnershipTransferredMidDeletionKeepsTheOrganization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleAdmin)
	resume := paused(o.ctx(crm.RoleOwner), func(ctx context.Context) error {
		_, err := e.app.DeleteOrganization(ctx, nil)
		return err
	})
	must[commands.OrganizationResult](t)(e.app.TransferOwnership(o.ctx(crm.RoleOwner), o.members["admin"], nil))
	// The former owner is an admin now: deleting is the owner's.
	wantCode(t, resume(), crm.CodeForbidden)
	if _, _, err := e.app.CreateContact(o.ctx(crm.RoleAdmin), aggregates.ContactInput{Name: "Still here"}); err != nil {
		t.Fatalf("the organization is gone: %v", err)
	}
}

func TestOwnershipTransferredMidCommandDecidesAgainAsAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleAdmin)
	resume := paused(o.ctx(crm.RoleOwner), func(ctx context.Context) error {
		_, _, err := e.app.CreateContact(ctx, aggregates.ContactInput{Name: "Mine"})
		return err
	})
	must[commands.OrganizationResult](t)(e.app.TransferOwnership(o.as(o.owner, crm.RoleOwner), o.members["admin"], nil))
	if err := resume(); err != nil {
		t.Fatalf("an admin may create contacts: %v", err)
	}
}

func TestAssignedOwnerRemovedMidCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleManager, crm.RoleMember)
	member := o.members["member"]
	resume := paused(o.ctx(crm.RoleManager), func(ctx context.Context) error {
		_, _, err := e.app.CreateContact(ctx, aggregates.ContactInput{Name: "For the member", OwnerID: &member})
		return err
	})
	must[commands.Result](t)(e.app.RemoveMember(o.ctx(crm.RoleOwner), member, nil))
	wantCode(t, resume(), crm.CodeOwnerNotMember)
}

func TestTaskUpdateGuardedByItsDealsOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleManager, crm.RoleMember)
	manager := o.members["manager"]
	deal := e.newDeal(t, o.ctx(crm.RoleMember), e.newContact(t, o.ctx(crm.RoleMember)).ID, nil)
	task, _, err := e.app.CreateTask(o.ctx(crm.RoleMember), deal.ID, aggregates.TaskInput{Title: "Call", DueDate: "2999-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	resume := paused(o.ctx(crm.RoleMember), func(ctx context.Context) error {
		_, _, err := e.app.UpdateTask(ctx, task.ID, aggregates.TaskPatch{Title: aggregates.SetTo("Mine still?")}, nil)
		return err
	})
	// The deal is handed to the manager: the member's task no longer is theirs.
	if _, _, err := e.app.UpdateDeal(o.ctx(crm.RoleManager), deal.ID, aggregates.DealPatch{OwnerID: aggregates.SetTo(manager)}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, resume(), crm.CodeForbidden)
}

// The other order: an append that locked the caller's membership first
// makes the removal wait until it commits (its events precede the
// removal), instead of slipping in between check and commit.
func TestRemovalWaitsForAnAppendThatCheckedFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t, crm.RoleMember)
	member := o.members["member"]
	contact := uuid.New()
	inTx, release := make(chan struct{}), make(chan struct{})
	appended := make(chan error, 1)
	go func() {
		s := events.Stream{TenantID: o.id, Type: events.StreamContact, ID: contact}
		_, err := e.store.AppendTx(context.Background(), pgstore.Batch{
			Batch: events.Batch{
				Metadata: events.Metadata{TenantID: o.id, ActorID: &member},
				Streams: []events.Append{{Stream: s, Expected: 0, Events: []events.Pending{{Data: events.ContactCreated{
					ContactID: contact, OwnerID: member, Name: "First"}, OccurredAt: time.Now()}}}},
				Authorization: &events.Authorization{OrgID: o.id, UserID: member, Role: string(crm.RoleMember)},
			},
			InTx: func(context.Context, pgx.Tx, []events.Event) error { close(inTx); <-release; return nil },
		})
		appended <- err
	}()
	<-inTx
	removed := make(chan error, 1)
	go func() {
		_, err := e.app.RemoveMember(o.ctx(crm.RoleOwner), member, nil)
		removed <- err
	}()
	select {
	case err := <-removed:
		t.Fatalf("the removal did not wait for the append holding the membership: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-appended; err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := <-removed; err != nil {
		t.Fatalf("removal: %v", err)
	}
	if _, _, err := e.app.CreateContact(o.ctx(crm.RoleMember), aggregates.ContactInput{Name: "Late"}); err == nil {
		t.Fatal("a removed member still writes")
	}
}
