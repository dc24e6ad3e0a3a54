package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// TransferOwnership makes member to the owner of the request's
// organization; the caller, its owner, becomes an admin. The result shows
// the organization with the caller's new role.
func (a *Application) TransferOwnership(ctx context.Context, to uuid.UUID, ifMatch IfMatch) (out OrganizationResult, err error) {
	defer a.observe("transfer_ownership", time.Now(), &err)
	var caller aggregates.Caller
	return updateOrganization(ctx, a, ifMatch,
		func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error) {
			caller = c
			return o.TransferOwnership(c, to)
		},
		func(o *aggregates.Organization, pos int64) OrganizationResult {
			return orgResult(o, caller.UserID, pos)
		})
}
