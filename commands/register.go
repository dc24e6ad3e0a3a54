package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// RegisterInput is the body of POST /auth/register.
type RegisterInput = aggregates.Registration

// Registration is what registering created: the user, their
// organization (of which they are the owner), and the append's position.
type Registration struct {
	User         aggregates.User
	Organization aggregates.Organization
	Result
}

// Register creates a user and their first organization, with the user as
// its owner, in one atomic append of two new streams. The e-mail is
// unique case-insensitively: the identity inline projection enforces it
// inside the append, so of two concurrent registrations with one e-mail
// exactly one commits and the other fails with 409 EMAIL_TAKEN.
//
// It runs without an authenticated actor: the new user is the actor of
// its own events.
func (a *Application) Register(ctx context.Context, in RegisterInput) (out Registration, err error) {
	defer a.observe("register", time.Now(), &err)
	if a.passwords == nil {
		return Registration{}, errors.New("commands.Register: no password hasher configured")
	}
	in, err = aggregates.CheckRegistration(in)
	if err != nil {
		return Registration{}, err
	}
	hash, err := a.passwords.Hash(in.Password)
	if err != nil {
		return Registration{}, fmt.Errorf("commands.Register: %w", err)
	}
	userID, orgID, now := a.newID(), a.newID(), a.now()
	userEvents, err := aggregates.RegisterUser(userID, in, hash)
	if err != nil {
		return Registration{}, err
	}
	orgEvents, err := aggregates.CreateOrganization(userID, orgID, in.OrganizationName)
	if err != nil {
		return Registration{}, err
	}
	var reg Registration
	userPending := aggregates.Record(&reg.User, userStream(userID), 0, now, userEvents...)
	orgPending := aggregates.Record(&reg.Organization, organizationStream(orgID), 0, now, orgEvents...)
	rid := crm.RequestIDFrom(ctx)
	res, err := a.store.Append(ctx, events.Batch{
		Metadata: events.Metadata{TenantID: orgID, ActorID: &userID, Role: string(crm.RoleOwner), RequestID: rid, CorrelationID: rid},
		Streams: []events.Append{
			{Stream: userStream(userID), Expected: 0, Events: userPending},
			{Stream: organizationStream(orgID), Expected: 0, Events: orgPending},
		},
	})
	if err != nil {
		return Registration{}, err
	}
	reg.Position = res.LastPosition
	return reg, nil
}
