package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// UpdateContact changes the fields set in p. A patch that changes nothing
// appends nothing and answers the contact as it is.
func (a *Application) UpdateContact(ctx context.Context, id uuid.UUID, p aggregates.ContactPatch, ifMatch IfMatch) (ct aggregates.Contact, res Result, err error) {
	defer a.observe("update_contact", time.Now(), &err)
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		cur, err := a.loadContact(ctx, tenant.OrgID, id)
		if err != nil {
			return err
		}
		decided, err := cur.Update(c, p)
		if err != nil {
			return err
		}
		var owners []uuid.UUID
		var owner *uuid.UUID
		if p.OwnerID.Set {
			owner = &p.OwnerID.Value
			owners = assigned(c, owner)
		}
		if err := a.checkOwnerThenIfMatch(ctx, tenant.OrgID, c, owner, len(decided) > 0, ifMatch, cur.Version); err != nil {
			return err
		}
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamContact, id)
		pending := aggregates.Record(cur, s, version, a.now(), decided...)
		ct, res = *cur, Result{}
		if len(pending) == 0 {
			res, err = a.unchanged(ctx, tenant.OrgID, id, version)
			return err
		}
		res, err = a.append(ctx, tenant.OrgID, write{result: ct, owners: owners,
			streams: []events.Append{{Stream: s, Expected: version, Events: pending}}})
		if err == nil {
			remember(a, tenant.OrgID, id, cur.Version, cur)
		}
		return err
	})
	return ct, res, err
}
