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
// write whose commit re-checks it (see CommitCheck), the role a recent
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
	commitCheckKey
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

// A CommitCheck records whether a write's commit confirmed the caller's
// membership and role. The HTTP layer lets a write route start on the
// role a recent request read instead of reading it again (a round trip);
// the event store re-checks membership and role inside the append, so an
// append that committed confirmed them. Any other outcome (an error, a
// write that appended nothing) is only trusted after a fresh read.
type CommitCheck struct {
	mu        sync.Mutex
	role      Role
	confirmed bool
}

// WithCommitCheck returns ctx carrying a new CommitCheck, and the check.
func WithCommitCheck(ctx context.Context) (context.Context, *CommitCheck) {
	c := &CommitCheck{}
	return context.WithValue(ctx, commitCheckKey, c), c
}

// ConfirmRole records that an append committed after checking that the
// caller is a member with role. It does nothing outside a CommitCheck.
func ConfirmRole(ctx context.Context, role Role) {
	c, _ := ctx.Value(commitCheckKey).(*CommitCheck)
	if c == nil {
		return
	}
	c.mu.Lock()
	c.role, c.confirmed = role, true
	c.mu.Unlock()
}

// Confirmed returns the role a commit confirmed, and false when none did.
func (c *CommitCheck) Confirmed() (Role, bool) {
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
