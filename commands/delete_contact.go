package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// DeleteContact removes a contact that no deal references. The check is
// against the contact's own stream, which every deal creation appends to,
// so a concurrent deal creation and this deletion cannot both succeed.
func (a *Application) DeleteContact(ctx context.Context, id uuid.UUID, ifMatch IfMatch) (res Result, err error) {
	defer a.observe("delete_contact", time.Now(), &err)
	err = a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		cur, err := a.loadContact(ctx, tenant.OrgID, id)
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
		version := cur.Version
		s := stream(tenant.OrgID, events.StreamContact, id)
		pending := aggregates.Record(cur, s, version, a.now(), decided...)
		res, err = a.append(ctx, tenant.OrgID, write{streams: []events.Append{{Stream: s, Expected: version, Events: pending}}})
		return err
	})
	return res, err
}
