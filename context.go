package crm

import (
	"context"
	"errors"
	"sync"

	"github.com/google/uuid"
)

// Role is a member's role in an organization.
type Role string

// The four roles of API.md §3, from most to least powerful.
const (
	RoleOwner   Role = "owner"
	RoleAdmin   Role = "admin"
	RoleManager Role = "manager"
	RoleMember  Role = "member"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleManager, RoleMember:
		return true
	}
	return false
}

// Actor is the authenticated caller of a request.
type Actor struct {
	UserID uuid.UUID
}

// Tenant is the organization a request acts in, with the caller's role
// there: read from the membership table on this very request, or, on a
// route whose statements check it (see AccessCheck), the role a recent
// request read.
type Tenant struct {
	OrgID uuid.UUID
	Role  Role
}

type ctxKey int

const (
	actorKey ctxKey = iota
	tenantKey
	requestIDKey
	accessCheckKey
)

// ErrNoActor and ErrNoTenant are returned when code that needs a caller or
// an organization runs without one: it fails closed instead of defaulting.
var (
	ErrNoActor  = errors.New("crm: no authenticated actor in context")
	ErrNoTenant = errors.New("crm: no organization in context")
)

// WithActor returns ctx carrying the authenticated caller.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the caller, or ErrNoActor.
func ActorFrom(ctx context.Context) (Actor, error) {
	a, ok := ctx.Value(actorKey).(Actor)
	if !ok || a.UserID == uuid.Nil {
		return Actor{}, ErrNoActor
	}
	return a, nil
}

// WithTenant returns ctx carrying the organization and the caller's role.
func WithTenant(ctx context.Context, t Tenant) context.Context {
	return context.WithValue(ctx, tenantKey, t)
}

// TenantFrom returns the organization of the request, or ErrNoTenant.
func TenantFrom(ctx context.Context) (Tenant, error) {
	t, ok := ctx.Value(tenantKey).(Tenant)
	if !ok || t.OrgID == uuid.Nil || !t.Role.Valid() {
		return Tenant{}, ErrNoTenant
	}
	return t, nil
}

// An AccessCheck records whether the database statement that served a
// request confirmed the caller's membership and role. The HTTP layer lets
// a route whose statements check them (an append re-checks them at
// commit; a read-model query checks them in its own round trip) start on
// the role a recent request read, instead of reading it again. An outcome
// no statement confirmed (an error, a write that appended nothing, an
// answer from a cache) is only trusted after a fresh read.
type AccessCheck struct {
	mu        sync.Mutex
	role      Role
	confirmed bool
}

// WithAccessCheck returns ctx carrying a new AccessCheck, and the check.
func WithAccessCheck(ctx context.Context) (context.Context, *AccessCheck) {
	c := &AccessCheck{}
	return context.WithValue(ctx, accessCheckKey, c), c
}

// AccessCheckFrom returns the AccessCheck of ctx, or nil: the request's
// role was read on this request, and nothing needs confirming.
func AccessCheckFrom(ctx context.Context) *AccessCheck {
	c, _ := ctx.Value(accessCheckKey).(*AccessCheck)
	return c
}

// ConfirmRole records that a statement checked that the caller is a
// member with role (an append that committed, a query that ran after its
// check). It does nothing outside an AccessCheck.
func ConfirmRole(ctx context.Context, role Role) {
	c := AccessCheckFrom(ctx)
	if c == nil {
		return
	}
	c.mu.Lock()
	c.role, c.confirmed = role, true
	c.mu.Unlock()
}

// Confirmed returns the role a statement confirmed, and false when none
// did.
func (c *AccessCheck) Confirmed() (Role, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.role, c.confirmed
}

// WithRequestID returns ctx carrying the request id (for logs and event
// metadata).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFrom returns the request id, or "" outside a request.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
