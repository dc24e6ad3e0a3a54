package commands

import (
	"context"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// loadDeal rebuilds a deal of org; unknown, deleted, of another type or
// another organization is DEAL_NOT_FOUND.
func (a *Application) loadDeal(ctx context.Context, org, id uuid.UUID) (*aggregates.Deal, error) {
	d, _, err := load[aggregates.Deal](ctx, a, org, id)
	if err != nil {
		return nil, err
	}
	if d.ID != id || d.Deleted {
		return nil, crm.Errorf(crm.CodeDealNotFound, "deal %s not found", id)
	}
	return d, nil
}

// linkContact loads contact id and decides linking deal to it: the append
// to the contact's stream that makes deal creation and contact deletion
// mutually exclusive.
func (a *Application) linkContact(ctx context.Context, org, contactID, dealID uuid.UUID) (events.Append, error) {
	ct, err := a.loadContact(ctx, org, contactID)
	if err != nil {
		return events.Append{}, err
	}
	decided, err := ct.LinkDeal(dealID)
	if err != nil {
		return events.Append{}, err
	}
	// Read the version before Record moves it: the evaluation order of a
	// field against a call in one composite literal is unspecified.
	version := ct.Version
	s := stream(org, events.StreamContact, contactID)
	ap := events.Append{Stream: s, Expected: version, Events: aggregates.Record(ct, s, version, a.now(), decided...)}
	rememberOnCommit(ctx, a, org, contactID, ct.Version, ct)
	return ap, nil
}

// unlinkContact decides removing deal from contact id. A contact that is
// gone already needs nothing.
func (a *Application) unlinkContact(ctx context.Context, org, contactID, dealID uuid.UUID) (events.Append, error) {
	ct, version, err := load[aggregates.Contact](ctx, a, org, contactID)
	if err != nil || ct.ID != contactID {
		return events.Append{}, err
	}
	s := stream(org, events.StreamContact, contactID)
	ap := events.Append{Stream: s, Expected: version, Events: aggregates.Record(ct, s, version, a.now(), ct.UnlinkDeal(dealID)...)}
	rememberOnCommit(ctx, a, org, contactID, ct.Version, ct)
	return ap, nil
}
