package commands

import (
	"context"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// CreateContact adds a contact to the caller's organization, owned by the
// caller unless in.OwnerID names another member.
func (a *Application) CreateContact(ctx context.Context, in aggregates.ContactInput) (aggregates.Contact, Result, error) {
	c, tenant, err := caller(ctx)
	if err != nil {
		return aggregates.Contact{}, Result{}, err
	}
	id := a.newID()
	decided, err := aggregates.CreateContact(c, id, tenant.OrgID, in)
	if err != nil {
		return aggregates.Contact{}, Result{}, err
	}
	if err := a.checkOwner(ctx, tenant.OrgID, c, in.OwnerID); err != nil {
		return aggregates.Contact{}, Result{}, err
	}
	var ct aggregates.Contact
	s := stream(tenant.OrgID, events.StreamContact, id)
	pending := aggregates.Record(&ct, s, 0, a.now(), decided...)
	res, err := a.append(ctx, tenant.OrgID, ct, events.Append{Stream: s, Expected: 0, Events: pending})
	return ct, res, err
}
