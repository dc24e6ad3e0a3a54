package commands

import (
	"context"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

// What the organization and member commands share: their results and the
// load-decide-append loop over the request's organization.

// OrganizationResult is an organization as a command left it, with the
// caller's role in it afterwards.
type OrganizationResult struct {
	Organization aggregates.Organization
	Role         crm.Role
	Result
}

// MemberResult is a member as a command left them. Members have no
// stream of their own: Version is the organization's.
type MemberResult struct {
	OrganizationID uuid.UUID
	UserID         uuid.UUID
	Email, Name    string
	Role           crm.Role
	JoinedAt       time.Time
	Version        int
	Result
}

// organizationStream is the stream of organization id, its own tenant.
func organizationStream(id uuid.UUID) events.Stream {
	return events.Stream{TenantID: id, Type: events.StreamOrganization, ID: id}
}

// userStream is the stream of user id; a user is its own tenant.
func userStream(id uuid.UUID) events.Stream {
	return events.Stream{TenantID: id, Type: events.StreamUser, ID: id}
}

// orgResult reports o as seen by user.
func orgResult(o *aggregates.Organization, user uuid.UUID, pos int64) OrganizationResult {
	role, _ := o.RoleOf(user)
	return OrganizationResult{Organization: *o, Role: role, Result: Result{Position: pos}}
}

// memberResult reports user u's membership of o.
func memberResult(o *aggregates.Organization, u *aggregates.User, pos int64) MemberResult {
	role, _ := o.RoleOf(u.ID)
	return MemberResult{
		OrganizationID: o.ID, UserID: u.ID, Email: u.Email, Name: u.Name,
		Role: role, JoinedAt: o.JoinedAt[u.ID], Version: o.Version, Result: Result{Position: pos},
	}
}

// loadUser rebuilds user id from its stream; an unknown id yields a user
// that does not Exist.
func (a *Application) loadUser(ctx context.Context, id uuid.UUID) (*aggregates.User, error) {
	if id == uuid.Nil {
		return &aggregates.User{}, nil
	}
	u, _, err := load[aggregates.User](ctx, a, id, id)
	return u, err
}

// updateOrganization is every command on an existing organization: load
// the request's organization from its stream, let decide choose the
// events, check If-Match, append under the loaded version, and report the
// outcome with result (called with position 0 to render the response an
// Idempotency-Key records, then with the append's position). A decision
// of no events appends nothing and reports the organization as it is,
// at the position of its stream's last event.
// Version conflicts are retried against the fresh stream.
func updateOrganization[T any](ctx context.Context, a *Application, ifMatch IfMatch,
	decide func(c aggregates.Caller, o *aggregates.Organization) ([]events.Payload, error),
	result func(o *aggregates.Organization, pos int64) T,
) (T, error) {
	var out T
	err := a.retry(ctx, func(ctx context.Context) error {
		c, tenant, err := caller(ctx)
		if err != nil {
			return err
		}
		o, version, err := load[aggregates.Organization](ctx, a, tenant.OrgID, tenant.OrgID)
		if err != nil {
			return err
		}
		decided, err := decide(c, o)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, version); err != nil {
			return err
		}
		if len(decided) == 0 {
			res, err := a.unchanged(ctx, tenant.OrgID, tenant.OrgID, version)
			out = result(o, res.Position)
			return err
		}
		pending := aggregates.Record(o, organizationStream(tenant.OrgID), version, a.now(), decided...)
		rec, err := IdempotencyRecord(ctx, result(o, 0))
		if err != nil {
			return err
		}
		meta, err := metadata(ctx, tenant.OrgID)
		if err != nil {
			return err
		}
		if a.beforeAppend != nil {
			a.beforeAppend(ctx)
		}
		// No Authorization: the decision took the caller's role from the
		// organization's own stream, whose expected version guards it.
		res, err := a.store.Append(ctx, events.Batch{
			Metadata:    meta,
			Streams:     []events.Append{{Stream: organizationStream(tenant.OrgID), Expected: version, Events: pending}},
			Idempotency: rec,
		})
		if err != nil {
			return err
		}
		out = result(o, res.LastPosition)
		return nil
	})
	return out, err
}

// RefusedRequest answers a command on the request's organization whose
// request was refused before the command could decide (a body that is
// not the route's JSON or lacks what it needs, a malformed If-Match: each
// a 400). API.md orders the checks membership, entity, role, body: so
// check, one of the organization's May… checks, runs first on the
// organization as it is, and its 403 or 404 is the answer; only if it
// passes is refused. It reads the organization (the route answers no
// sooner than it would have) and appends nothing.
func (a *Application) RefusedRequest(ctx context.Context, check func(aggregates.Caller, *aggregates.Organization) error, refused error) error {
	c, tenant, err := caller(ctx)
	if err != nil {
		return err
	}
	o, _, err := load[aggregates.Organization](ctx, a, tenant.OrgID, tenant.OrgID)
	if err != nil {
		return err
	}
	if err := check(c, o); err != nil {
		return err
	}
	return refused
}
