package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"example.com/crm"
)

// OrganizationHeader names the organization of an org-scoped request.
const OrganizationHeader = "X-Organization-Id"

// MembershipReader returns a user's role in a live organization, and
// false when they are not a member or the organization does not exist or
// was deleted (readapi/identity, reading the memberships table that is
// written in the same transaction as the organization's events).
type MembershipReader interface {
	Role(ctx context.Context, org, user uuid.UUID) (crm.Role, bool, error)
}

// Tenant is middleware for org-scoped routes (contacts, deals, tasks,
// activities, analytics): it resolves X-Organization-Id against the
// caller's membership, read on every request and never cached, so a
// change of membership or role takes effect on the very next request. A
// missing or malformed header is 400 ORGANIZATION_REQUIRED; an
// organization the caller does not belong to, that does not exist or was
// deleted is 403 NOT_A_MEMBER, always (never 404, which would tell
// organizations apart). The request goes on with crm.WithTenant. It must
// run inside Authenticate.
func Tenant(m MembershipReader) func(http.Handler) http.Handler {
	return tenant(m, func(r *http.Request) (uuid.UUID, error) {
		org, ok := headerOrganization(r)
		if !ok {
			return uuid.Nil, errOrganizationRequired()
		}
		return org, nil
	})
}

// headerOrganization is the organization X-Organization-Id names: ok is
// false when the header is missing, malformed or given more than once
// (two organizations, or one and something else, are no answer).
func headerOrganization(r *http.Request) (org uuid.UUID, ok bool) {
	vs := r.Header.Values(OrganizationHeader)
	if len(vs) != 1 {
		return uuid.Nil, false
	}
	return parseUUID(vs[0])
}

func errOrganizationRequired() error {
	return crm.Errorf(crm.CodeOrganizationRequired,
		"the %s header must name one organization (a UUID), once", OrganizationHeader)
}

// TenantFromPath is Tenant for routes that name the organization in the
// path (/organizations/{org_id}/...): a malformed id is a 400
// VALIDATION_ERROR like any malformed path UUID, and the same 403 rule
// applies.
func TenantFromPath(m MembershipReader, name string) func(http.Handler) http.Handler {
	return tenant(m, func(r *http.Request) (uuid.UUID, error) { return PathUUID(r, name) })
}

func tenant(m MembershipReader, orgOf func(*http.Request) (uuid.UUID, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			actor, err := crm.ActorFrom(r.Context())
			if err != nil {
				return err // wiring bug: fail closed (500)
			}
			org, err := orgOf(r)
			if err != nil {
				return err
			}
			role, ok, err := m.Role(r.Context(), org, actor.UserID)
			if err != nil {
				return err
			}
			if !ok {
				return crm.Errorf(crm.CodeNotAMember, "not a member of organization %s", org)
			}
			next.ServeHTTP(w, r.WithContext(crm.WithTenant(r.Context(), crm.Tenant{OrgID: org, Role: role})))
			return nil
		})
	}
}

// AccessReader answers whether a user exists and their role in a live
// organization in one round trip (projections/identity.Access).
type AccessReader interface {
	Access(ctx context.Context, org, user uuid.UUID) (exists bool, role crm.Role, member bool, err error)
}

// AuthenticateInOrg is Authenticate followed by Tenant for the org-scoped
// routes, with the user's existence and membership read in one query
// instead of two. The answers and their order are Authenticate's and
// Tenant's: 401 for a bad token or a user that does not exist, 400
// ORGANIZATION_REQUIRED, 403 NOT_A_MEMBER.
//
// A ChecksAccess route skips the read when this process already read the
// caller's role in the organization: the statements serving it check the
// role themselves, and any outcome they did not confirm is checked by a
// fresh read before it is answered (assumedrole.go).
func AuthenticateInOrg(tokens TokenVerifier, users UserChecker, access AccessReader) func(http.Handler) http.Handler {
	roles := newRoleCache(roleCacheSize)
	return func(next http.Handler) http.Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			user, err := verifiedUser(tokens, r)
			if err != nil {
				return err
			}
			org, ok := headerOrganization(r)
			if !ok { // rare: answer 401 before 400, as the two middlewares do
				exists, err := users.UserExists(r.Context(), user)
				if err != nil {
					return err
				}
				if !exists {
					return crm.Errorf(crm.CodeUnauthenticated, "the token's user does not exist")
				}
				return errOrganizationRequired()
			}
			if isAccessChecked(r) {
				if role, ok := roles.get(org, user); ok {
					return serveAssumed(w, r, next, access, roles, org, user, role)
				}
			}
			role, err := roles.read(r.Context(), access, org, user)
			if err != nil {
				return err
			}
			ctx := crm.WithActor(r.Context(), crm.Actor{UserID: user})
			next.ServeHTTP(w, r.WithContext(crm.WithTenant(ctx, crm.Tenant{OrgID: org, Role: role})))
			return nil
		})
	}
}
