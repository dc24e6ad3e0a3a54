package commands

import (
	"context"
	"time"

	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// RenameOrganization renames the request's organization (owner and
// admins). The same name appends nothing.
func (a *Application) RenameOrganization(ctx context.Context, name string, ifMatch IfMatch) (out OrganizationResult, err error) {
	defer a.observe("rename_organization", time.Now(), &err)
	var caller aggregates.Caller
	return updateOrganization(ctx, a, ifMatch,
		func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error) {
			caller = c
			return o.Rename(c, name)
		},
		func(o *aggregates.Organization, pos int64) OrganizationResult {
			return orgResult(o, caller.UserID, pos)
		})
}
