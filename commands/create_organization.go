package commands

import (
	"context"
	"time"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// CreateOrganization creates an organization owned by the caller (any
// authenticated user; no organization is needed to make one).
func (a *Application) CreateOrganization(ctx context.Context, name string) (out OrganizationResult, err error) {
	defer a.observe("create_organization", time.Now(), &err)
	who, err := crm.ActorFrom(ctx)
	if err != nil {
		return OrganizationResult{}, err
	}
	actor := who.UserID
	id := a.newID()
	decided, err := aggregates.CreateOrganization(actor, id, name)
	if err != nil {
		return OrganizationResult{}, err
	}
	var o aggregates.Organization
	pending := aggregates.Record(&o, organizationStream(id), 0, a.now(), decided...)
	rec, err := IdempotencyRecord(ctx, orgResult(&o, actor, 0))
	if err != nil {
		return OrganizationResult{}, err
	}
	meta, err := metadata(ctx, id)
	if err != nil {
		return OrganizationResult{}, err
	}
	res, err := a.store.Append(ctx, events.Batch{
		Metadata:    meta,
		Streams:     []events.Append{{Stream: organizationStream(id), Expected: 0, Events: pending}},
		Idempotency: rec,
	})
	if err != nil {
		return OrganizationResult{}, err
	}
	return orgResult(&o, actor, res.LastPosition), nil
}
