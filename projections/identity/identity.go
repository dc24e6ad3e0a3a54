// Package identity is the inline projection of users, organizations and
// memberships: it writes the users, organizations and memberships tables
// inside the very transaction that appends the user and organization
// events (it implements pgstore.Inline), so they are never stale.
//
// That is how two rules that a read model could not keep are kept: an
// e-mail belongs to one user (a concurrent second registration hits the
// unique key and its whole append rolls back with 409 EMAIL_TAKEN), and
// the tenancy check of every request reads memberships that already
// reflect the last acknowledged command (a removed member is refused on
// the very next request).
package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"example.com/crm"
	"example.com/crm/events"
)

// emailKey is the unique constraint on users.email_lower (migration 00003).
const emailKey = "users_email_key"

// Projection applies identity events inside an append transaction.
type Projection struct{}

// New returns the identity projection.
func New() Projection { return Projection{} }

// Apply writes the effect of every identity event among evs (others are
// ignored) through tx. A second user with an e-mail already taken fails
// with 409 EMAIL_TAKEN, which aborts the append.
func (Projection) Apply(ctx context.Context, tx pgx.Tx, evs []events.Event) error {
	for _, e := range evs {
		if err := apply(ctx, tx, e); err != nil {
			return fmt.Errorf("identity projection, %s v%d of %s: %w", e.Type, e.Version, e.StreamID, err)
		}
	}
	return nil
}

// Handles reports whether e is an identity event (pgstore.Selective): a
// batch without one runs no statement of this projection.
func (Projection) Handles(e events.Event) bool {
	switch e.Data.(type) {
	case events.UserRegistered, events.OrganizationCreated, events.OrganizationRenamed, events.OrganizationDeleted,
		events.MemberAdded, events.MemberRoleChanged, events.MemberRemoved, events.OwnershipTransferred:
		return true
	}
	return false
}

func apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	switch d := e.Data.(type) {
	case events.UserRegistered:
		_, err := tx.Exec(ctx, `
			INSERT INTO users (id, email, email_lower, name, password_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			d.UserID, d.Email, crm.NormalizeEmail(d.Email), d.Name, d.PasswordHash, e.OccurredAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == emailKey {
			return crm.Errorf(crm.CodeEmailTaken, "this e-mail address is already registered")
		}
		return err
	case events.OrganizationCreated:
		return exec(ctx, tx, `
			INSERT INTO organizations (id, name, version, created_at) VALUES ($1, $2, $3, $4)`,
			e.StreamID, d.Name, e.Version, e.OccurredAt)
	case events.OrganizationRenamed:
		return orgVersion(ctx, tx, e, `name = $3`, d.New)
	case events.OrganizationDeleted:
		if err := orgVersion(ctx, tx, e, `deleted_at = $3`, e.OccurredAt); err != nil {
			return err
		}
		// A deleted organization has no members. Deleting the rows is
		// also what makes the deletion win against appends in flight:
		// every append locks its caller's membership row (FOR SHARE), so
		// this waits for those that locked it first, and those that come
		// after find the row gone (events/pgstore, appendSQL).
		_, err := tx.Exec(ctx, `DELETE FROM memberships WHERE org_id = $1`, e.StreamID)
		return err
	case events.MemberAdded:
		if err := orgVersion(ctx, tx, e, ""); err != nil {
			return err
		}
		return exec(ctx, tx, `
			INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)`,
			e.StreamID, d.UserID, d.Role, e.OccurredAt)
	case events.MemberRoleChanged:
		if err := orgVersion(ctx, tx, e, ""); err != nil {
			return err
		}
		return exec(ctx, tx, `UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2`,
			e.StreamID, d.UserID, d.New)
	case events.MemberRemoved:
		if err := orgVersion(ctx, tx, e, ""); err != nil {
			return err
		}
		return exec(ctx, tx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, e.StreamID, d.UserID)
	case events.OwnershipTransferred:
		if err := orgVersion(ctx, tx, e, ""); err != nil {
			return err
		}
		// Demote first: the one-owner index is checked row by row.
		if err := exec(ctx, tx, `UPDATE memberships SET role = 'admin' WHERE org_id = $1 AND user_id = $2`,
			e.StreamID, d.From); err != nil {
			return err
		}
		return exec(ctx, tx, `UPDATE memberships SET role = 'owner' WHERE org_id = $1 AND user_id = $2`,
			e.StreamID, d.To)
	}
	return nil
}

// orgVersion moves the organization row to e's version, setting more
// columns when set is not empty (their values are $3...).
func orgVersion(ctx context.Context, tx pgx.Tx, e events.Event, set string, args ...any) error {
	sql := `UPDATE organizations SET version = $2`
	if set != "" {
		sql += ", " + set
	}
	sql += ` WHERE id = $1`
	return exec(ctx, tx, sql, append([]any{e.StreamID, e.Version}, args...)...)
}

// exec runs one statement that must touch exactly one row: anything else
// means the tables and the streams disagree, and the append is refused
// rather than let them drift further.
func exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("expected to change one row, changed %d", tag.RowsAffected())
	}
	return nil
}
