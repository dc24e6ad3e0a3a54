package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// ChangeMemberRole gives member user of the request's organization a new
// role (owner and admins; never to or from owner: ownership moves only by
// TransferOwnership). The same role appends nothing.
func (a *Application) ChangeMemberRole(ctx context.Context, user uuid.UUID, role string, ifMatch IfMatch) (out MemberResult, err error) {
	defer a.observe("change_member_role", time.Now(), &err)
	u, err := a.loadUser(ctx, user)
	if err != nil {
		return MemberResult{}, err
	}
	return updateOrganization(ctx, a, ifMatch,
		func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error) {
			return o.ChangeRole(c, user, crm.Role(role))
		},
		func(o *aggregates.Organization, pos int64) MemberResult { return memberResult(o, u, pos) })
}
