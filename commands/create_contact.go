package commands

import (
	"context"
	"time"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// CreateContact adds a contact to the caller's organization, owned by the
// caller unless in.OwnerID names another member (checked when the events
// commit).
func (a *Application) CreateContact(ctx context.Context, in aggregates.ContactInput) (ct aggregates.Contact, res Result, err error) {
	defer a.observe("create_contact", time.Now(), &err)
	id := a.newID()
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		decided, err := aggregates.CreateContact(c, id, tenant.OrgID, in)
		if err != nil {
			return err
		}
		ct = aggregates.Contact{}
		s := stream(tenant.OrgID, events.StreamContact, id)
		pending := aggregates.Record(&ct, s, 0, a.now(), decided...)
		res, err = a.append(ctx, tenant.OrgID, write{result: ct, owners: assigned(c, in.OwnerID),
			streams: []events.Append{{Stream: s, Expected: 0, Events: pending}}})
		if err == nil {
			remember(a, tenant.OrgID, id, ct.Version, (&ct).Clone())
		}
		return err
	})
	return ct, res, err
}
