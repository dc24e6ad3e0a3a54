package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// RemoveMember removes member user from the request's organization: an
// owner or admin removing someone, or anyone but the owner leaving (user
// is the caller). The membership table changes in the same transaction,
// so the removed member is refused on their very next request.
func (a *Application) RemoveMember(ctx context.Context, user uuid.UUID, ifMatch IfMatch) (out Result, err error) {
	defer a.observe("remove_member", time.Now(), &err)
	return updateOrganization(ctx, a, ifMatch,
		func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error) {
			return o.RemoveMember(c, user)
		},
		func(_ *aggregates.Organization, pos int64) Result { return Result{Position: pos} })
}
