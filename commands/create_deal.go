package commands

import (
	"context"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// CreateDeal opens a deal (new, qualification) for a contact of the
// organization. The deal's first event and the contact's deal_linked event
// are appended together, each at its expected version.
func (a *Application) CreateDeal(ctx context.Context, in aggregates.DealInput) (d aggregates.Deal, res Result, err error) {
	c, tenant, err := caller(ctx)
	if err != nil {
		return d, res, err
	}
	id := a.newID()
	decided, err := aggregates.CreateDeal(c, id, tenant.OrgID, in)
	if err != nil {
		return d, res, err
	}
	if err := a.checkOwner(ctx, tenant.OrgID, c, in.OwnerID); err != nil {
		return d, res, err
	}
	err = a.retry(ctx, nil, func(ctx context.Context) error {
		link, err := a.linkContact(ctx, tenant.OrgID, in.ContactID, id)
		if err != nil {
			return err
		}
		d = aggregates.Deal{}
		s := stream(tenant.OrgID, events.StreamDeal, id)
		pending := aggregates.Record(&d, s, 0, a.now(), decided...)
		res, err = a.append(ctx, tenant.OrgID, d, events.Append{Stream: s, Expected: 0, Events: pending}, link)
		return err
	})
	return d, res, err
}
