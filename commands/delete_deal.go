package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// DeleteDeal removes a deal from lists and analytics (its history stays)
// and releases its contact.
func (a *Application) DeleteDeal(ctx context.Context, id uuid.UUID, ifMatch IfMatch) (res Result, err error) {
	defer a.observe("delete_deal", time.Now(), &err)
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		cur, err := a.loadDeal(ctx, tenant.OrgID, id)
		if err != nil {
			return err
		}
		decided, err := cur.Delete(c)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.Version); err != nil {
			return err
		}
		unlink, err := a.unlinkContact(ctx, tenant.OrgID, cur.ContactID, id)
		if err != nil {
			return err
		}
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamDeal, id)
		pending := aggregates.Record(cur, s, version, a.now(), decided...)
		res, err = a.append(ctx, tenant.OrgID, write{streams: []events.Append{{Stream: s, Expected: version, Events: pending}, unlink}})
		return err
	})
	return res, err
}
