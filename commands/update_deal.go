package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// UpdateDeal applies a patch under the deal rules of API.md. Moving the
// deal to another contact appends to both contacts' streams too. A patch
// that changes nothing appends nothing.
func (a *Application) UpdateDeal(ctx context.Context, id uuid.UUID, p aggregates.DealPatch, ifMatch IfMatch) (d aggregates.Deal, res Result, err error) {
	defer a.observe("update_deal", time.Now(), &err)
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		cur, err := a.loadDeal(ctx, tenant.OrgID, id)
		if err != nil {
			return err
		}
		from, to, moved := cur.ContactChange(p)
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
		var links []events.Append
		if moved {
			link, err := a.linkContact(ctx, tenant.OrgID, to, id)
			if err != nil {
				return err
			}
			unlink, err := a.unlinkContact(ctx, tenant.OrgID, from, id)
			if err != nil {
				return err
			}
			links = append(links, link, unlink)
		}
		if err := a.checkOwnerThenIfMatch(ctx, tenant.OrgID, c, owner, len(decided) > 0, ifMatch, cur.Version); err != nil {
			return err
		}
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamDeal, id)
		pending := aggregates.Record(cur, s, version, a.now(), decided...)
		d, res = *cur, Result{}
		if len(pending) == 0 {
			res, err = a.unchanged(ctx, tenant.OrgID, id, version)
			return err
		}
		res, err = a.append(ctx, tenant.OrgID, write{result: d, owners: owners,
			streams: append([]events.Append{{Stream: s, Expected: version, Events: pending}}, links...)})
		if err == nil {
			remember(a, tenant.OrgID, id, cur.Version, cur)
		}
		return err
	})
	return d, res, err
}
