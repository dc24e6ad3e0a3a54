package commands_test

import (
	"context"
	"testing"

	"example.com/crm"
	"example.com/crm/aggregates"
)

// With If-Match, a conflict on another stream of a multi-stream command
// (the contact a deal moves to, while someone adds a deal to it) is
// retried: the If-Match check decides, against the deal only.
func TestIfMatchIgnoresConflictsOnOtherStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := o.ctx(crm.RoleOwner)
	deal := e.newDeal(t, ctx, e.newContact(t, ctx).ID, nil)
	target := e.newContact(t, ctx)
	version := deal.Version

	resume := paused(ctx, func(ctx context.Context) error {
		_, _, err := e.app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{ContactID: aggregates.SetTo(target.ID)}, &version)
		return err
	})
	e.newDeal(t, ctx, target.ID, nil) // the target contact's stream moves on
	if err := resume(); err != nil {
		t.Fatalf("If-Match %d on a deal still at that version: %v", version, err)
	}
}

func TestIfMatchStillAnswers412WhenTheEntityMoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := o.ctx(crm.RoleOwner)
	deal := e.newDeal(t, ctx, e.newContact(t, ctx).ID, nil)
	version := deal.Version

	resume := paused(ctx, func(ctx context.Context) error {
		_, _, err := e.app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo("Mine")}, &version)
		return err
	})
	if _, _, err := e.app.UpdateDeal(ctx, deal.ID, aggregates.DealPatch{Title: aggregates.SetTo("Theirs")}, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, resume(), crm.CodeVersionMismatch)
}
