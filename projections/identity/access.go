package identity

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
)

// Access answers, in one round trip, the two questions every org-scoped
// request starts with: does the token's user exist, and what is their
// role in the organization (none when they are not a member, or the
// organization does not exist or was deleted). It reads the tables this
// projection writes in the append transaction, so the answer is never
// stale; commands still re-check the role when they append.
type Access struct{ pool *pgxpool.Pool }

// NewAccess returns the access reader over pool.
func NewAccess(pool *pgxpool.Pool) *Access { return &Access{pool: pool} }

// Access reports whether user exists and, when they are a member of the
// live organization org, their role.
func (a *Access) Access(ctx context.Context, org, user uuid.UUID) (exists bool, role crm.Role, member bool, err error) {
	var r *string
	err = a.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM users WHERE id = $2),
		       (SELECT m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
		        WHERE m.org_id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL)`, org, user).Scan(&exists, &r)
	if err != nil {
		return false, "", false, fmt.Errorf("identity.Access: %w", err)
	}
	if r == nil {
		return exists, "", false, nil
	}
	return exists, crm.Role(*r), true, nil
}
