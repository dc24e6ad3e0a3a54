package commands

import (
	"context"
	"time"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// DeleteOrganization deletes the request's organization (its owner only).
// The membership check refuses every later access to it, and the read
// models drop its data from every list.
func (a *Application) DeleteOrganization(ctx context.Context, ifMatch IfMatch) (out Result, err error) {
	defer a.observe("delete_organization", time.Now(), &err)
	return updateOrganization(ctx, a, ifMatch,
		func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error) { return o.Delete(c) },
		func(_ *aggregates.Organization, pos int64) Result { return Result{Position: pos} })
}
