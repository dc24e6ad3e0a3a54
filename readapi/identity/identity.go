// Package identity answers the questions about users, organizations and
// memberships: who a token's user is, which organizations they belong to,
// who the members of one are, and, on every org-scoped request, whether
// the caller belongs to the organization and with which role.
//
// It reads the inline tables written by projections/identity in the same
// transaction as the events, so its answers reflect every acknowledged
// command without waiting for any projector.
package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/readapi"
)

// Queries reads the identity tables.
type Queries struct {
	pool *pgxpool.Pool
}

// New returns the identity queries over pool.
func New(pool *pgxpool.Pool) *Queries { return &Queries{pool: pool} }

// User is a user as API.md §4 serializes it (never with the password
// hash).
type User struct {
	ID        uuid.UUID    `json:"id"`
	Email     string       `json:"email"`
	Name      string       `json:"name"`
	CreatedAt readapi.Time `json:"created_at"`
}

// Organization is an organization as one of its members sees it, with
// their role; Version is the organization stream's version (the ETag).
type Organization struct {
	ID        uuid.UUID    `json:"id"`
	Name      string       `json:"name"`
	Role      crm.Role     `json:"role"`
	Version   int          `json:"version"`
	CreatedAt readapi.Time `json:"created_at"`
}

// Member is one member of an organization as API.md §4 serializes it.
type Member struct {
	UserID   uuid.UUID    `json:"user_id"`
	Email    string       `json:"email"`
	Name     string       `json:"name"`
	Role     crm.Role     `json:"role"`
	JoinedAt readapi.Time `json:"joined_at"`
	// Version is the organization's version (members have no stream of
	// their own): the ETag that If-Match on a member compares against.
	// Member fills it; list items leave it zero.
	Version int `json:"-"`
}

// Credentials are what a login checks a password against.
type Credentials struct {
	UserID       uuid.UUID
	PasswordHash string
}

// User returns user id, or 404 USER_NOT_FOUND.
func (q *Queries) User(ctx context.Context, id uuid.UUID) (User, error) {
	var u User
	err := q.pool.QueryRow(ctx, `SELECT id, email, name, created_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt.Time)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, crm.Errorf(crm.CodeUserNotFound, "no such user")
	}
	if err != nil {
		return User{}, fmt.Errorf("identity.User: %w", err)
	}
	return u, nil
}

// UserExists reports whether user id is registered: the check every
// authenticated request makes (a primary-key lookup), so that a token
// outliving its user is refused.
func (q *Queries) UserExists(ctx context.Context, id uuid.UUID) (bool, error) {
	var ok bool
	if err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("identity.UserExists: %w", err)
	}
	return ok, nil
}

// Credentials returns the password hash of the user with this e-mail
// (compared case-insensitively), and false when there is none.
func (q *Queries) Credentials(ctx context.Context, email string) (Credentials, bool, error) {
	var c Credentials
	err := q.pool.QueryRow(ctx, `SELECT id, password_hash FROM users WHERE email_lower = $1`, crm.NormalizeEmail(email)).
		Scan(&c.UserID, &c.PasswordHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Credentials{}, false, nil
	}
	if err != nil {
		return Credentials{}, false, fmt.Errorf("identity.Credentials: %w", err)
	}
	return c, true, nil
}

// UserIDByEmail returns the id of the user with this e-mail (compared
// case-insensitively), and false when there is none. It is the set lookup
// behind "add a member by e-mail".
func (q *Queries) UserIDByEmail(ctx context.Context, email string) (uuid.UUID, bool, error) {
	c, ok, err := q.Credentials(ctx, email)
	return c.UserID, ok, err
}

// Role returns user's role in organization org, and false when the user
// is not a member or the organization does not exist or was deleted. It
// is the tenancy check of every org-scoped request: a primary-key lookup,
// never cached.
func (q *Queries) Role(ctx context.Context, org, user uuid.UUID) (crm.Role, bool, error) {
	var role crm.Role
	err := q.pool.QueryRow(ctx, `
		SELECT m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
		WHERE m.org_id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL`, org, user).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("identity.Role: %w", err)
	}
	return role, true, nil
}

// IsMember reports whether user belongs to live organization org (the
// commands.Directory port: an owner_id must name a member).
func (q *Queries) IsMember(ctx context.Context, org, user uuid.UUID) (bool, error) {
	_, ok, err := q.Role(ctx, org, user)
	return ok, err
}

const orgColumns = `o.id, o.name, m.role, o.version, o.created_at`

func scanOrg(row pgx.Row) (Organization, error) {
	var o Organization
	err := row.Scan(&o.ID, &o.Name, &o.Role, &o.Version, &o.CreatedAt.Time)
	return o, err
}

// MyOrganizations lists the live organizations user belongs to, oldest
// first (ties by id).
func (q *Queries) MyOrganizations(ctx context.Context, user uuid.UUID) ([]Organization, error) {
	rows, err := q.pool.Query(ctx, `
		SELECT `+orgColumns+` FROM memberships m JOIN organizations o ON o.id = m.org_id
		WHERE m.user_id = $1 AND o.deleted_at IS NULL
		ORDER BY o.created_at, o.id`, user)
	if err != nil {
		return nil, fmt.Errorf("identity.MyOrganizations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organization, error) { return scanOrg(r) })
	if err != nil {
		return nil, fmt.Errorf("identity.MyOrganizations: %w", err)
	}
	return out, nil
}

// Organization returns organization org as member user sees it; 403
// NOT_A_MEMBER when user is not a member or it does not exist or was
// deleted (the tenancy rule: never 404 for an organization).
func (q *Queries) Organization(ctx context.Context, org, user uuid.UUID) (Organization, error) {
	o, err := scanOrg(q.pool.QueryRow(ctx, `
		SELECT `+orgColumns+` FROM memberships m JOIN organizations o ON o.id = m.org_id
		WHERE m.org_id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL`, org, user))
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, crm.Errorf(crm.CodeNotAMember, "not a member of the organization")
	}
	if err != nil {
		return Organization{}, fmt.Errorf("identity.Organization: %w", err)
	}
	return o, nil
}

const memberColumns = `m.user_id, u.email, u.name, m.role, m.joined_at`

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	err := row.Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &m.JoinedAt.Time)
	return m, err
}

// Members returns one page (1-based) of organization org's members, in
// the order they joined (ties by user id), with how many there are.
func (q *Queries) Members(ctx context.Context, org uuid.UUID, page, pageSize int) (readapi.List[Member], error) {
	l := readapi.List[Member]{Items: []Member{}, Page: page, PageSize: pageSize}
	if err := q.pool.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE org_id = $1`, org).Scan(&l.Total); err != nil {
		return l, fmt.Errorf("identity.Members: %w", err)
	}
	rows, err := q.pool.Query(ctx, `
		SELECT `+memberColumns+` FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1
		ORDER BY m.joined_at, m.user_id
		LIMIT $2 OFFSET $3`, org, pageSize, int64(page-1)*int64(pageSize))
	if err != nil {
		return l, fmt.Errorf("identity.Members: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) { return scanMember(r) })
	if err != nil {
		return l, fmt.Errorf("identity.Members: %w", err)
	}
	if items != nil {
		l.Items = items
	}
	return l, nil
}

// Member returns member user of organization org, with the
// organization's version, or 404 USER_NOT_FOUND.
func (q *Queries) Member(ctx context.Context, org, user uuid.UUID) (Member, error) {
	var m Member
	err := q.pool.QueryRow(ctx, `
		SELECT `+memberColumns+`, o.version FROM memberships m
		JOIN users u ON u.id = m.user_id JOIN organizations o ON o.id = m.org_id
		WHERE m.org_id = $1 AND m.user_id = $2`, org, user).
		Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &m.JoinedAt.Time, &m.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Member{}, crm.Errorf(crm.CodeUserNotFound, "user %s is not a member of the organization", user)
	}
	if err != nil {
		return Member{}, fmt.Errorf("identity.Member: %w", err)
	}
	return m, nil
}
