package commands

import (
	"context"
	"time"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// CreateDeal opens a deal (new, qualification) for a contact of the
// organization. The deal's first event and the contact's deal_linked event
// are appended together, each at its expected version.
func (a *Application) CreateDeal(ctx context.Context, in aggregates.DealInput) (d aggregates.Deal, res Result, err error) {
	defer a.observe("create_deal", time.Now(), &err)
	id := a.newID()
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		decided, err := aggregates.CreateDeal(c, id, tenant.OrgID, in)
		if err != nil {
			return err
		}
		link, err := a.linkContact(ctx, tenant.OrgID, in.ContactID, id)
		if err != nil {
			return err
		}
		d = aggregates.Deal{}
		s := stream(tenant.OrgID, events.StreamDeal, id)
		pending := aggregates.Record(&d, s, 0, a.now(), decided...)
		res, err = a.append(ctx, tenant.OrgID, write{result: d, owners: assigned(c, in.OwnerID),
			streams: []events.Append{{Stream: s, Expected: 0, Events: pending}, link}})
		if err == nil {
			remember(a, tenant.OrgID, id, d.Version, (&d).Clone())
		}
		return err
	})
	return d, res, err
}
