package commands

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// AddMemberInput is the body of POST /organizations/{org_id}/members: a
// registered user named by exactly one of Email and UserID, and a role.
type AddMemberInput struct {
	Email  *string
	UserID *uuid.UUID
	Role   string
}

// AddMember adds a registered user to the request's organization (owner
// and admins). The checks come in API.md's order: 403 for the caller's
// role, then 400 for the body (one of email and user_id; INVALID_ROLE),
// then 404 USER_NOT_FOUND, then 409 ALREADY_MEMBER.
func (a *Application) AddMember(ctx context.Context, in AddMemberInput) (out MemberResult, err error) {
	defer a.observe("add_member", time.Now(), &err)
	var user *aggregates.User
	return updateOrganization(ctx, a, nil,
		func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error) {
			if err := o.MayManageMembers(c); err != nil {
				return nil, err
			}
			if err := checkMemberInput(in); err != nil {
				return nil, err
			}
			if user == nil { // resolved once: users are never deleted
				var err error
				if user, err = a.resolveUser(ctx, in); err != nil {
					return nil, err
				}
			}
			return o.AddMember(c, user.ID, crm.Role(in.Role))
		},
		func(o *aggregates.Organization, pos int64) MemberResult { return memberResult(o, user, pos) })
}

// checkMemberInput wants exactly one of e-mail and user id, and an
// e-mail address that is one.
func checkMemberInput(in AddMemberInput) error {
	email := in.Email != nil && strings.TrimSpace(*in.Email) != ""
	id := in.UserID != nil && *in.UserID != uuid.Nil
	switch {
	case email && id:
		return crm.Invalid(crm.FieldError{Field: "email", Message: "give either email or user_id, not both"})
	case !email && !id:
		return crm.Invalid(crm.FieldError{Field: "email", Message: "email or user_id is required"})
	case email:
		return aggregates.CheckEmail(*in.Email) // a malformed address is 400, not USER_NOT_FOUND
	}
	return nil
}

// resolveUser loads the user named by in from its stream; a user that
// does not exist has the zero id (the aggregate answers USER_NOT_FOUND).
func (a *Application) resolveUser(ctx context.Context, in AddMemberInput) (*aggregates.User, error) {
	var id uuid.UUID
	if in.UserID != nil {
		id = *in.UserID
	} else {
		if a.users == nil {
			return nil, errors.New("commands.AddMember: no user directory configured")
		}
		found, ok, err := a.users.UserIDByEmail(ctx, *in.Email)
		if err != nil {
			return nil, err
		}
		if ok {
			id = found
		}
	}
	return a.loadUser(ctx, id)
}
