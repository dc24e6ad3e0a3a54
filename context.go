package crm

import (
	"context"
	"errors"

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
// there as read from the membership table on this very request.
type Tenant struct {
	OrgID uuid.UUID
	Role  Role
}

type ctxKey int

const (
	actorKey ctxKey = iota
	tenantKey
	requestIDKey
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
