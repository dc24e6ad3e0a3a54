package pgread

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/readapi"
)

const contactColumns = `id, org_id, owner_id, name, email, phone, version, created_at, updated_at`

func scanContact(row pgx.CollectableRow, extra ...any) (readapi.Contact, error) {
	var c readapi.Contact
	err := row.Scan(append([]any{&c.ID, &c.OrganizationID, &c.OwnerID, &c.Name, &c.Email, &c.Phone, &c.Version,
		&c.CreatedAt.Time, &c.UpdatedAt.Time}, extra...)...)
	return c, err
}

// GetContact implements readapi.Queries.
func (s *Store) GetContact(ctx context.Context, orgID, id uuid.UUID) (c readapi.Contact, err error) {
	defer wrap(&err, "pgread.GetContact(%s)", id)
	if ctx, err = s.begin(ctx, orgID, contactsProjector); err != nil {
		return c, err
	}
	return getOne(ctx, s.db.as(orgID),
		`SELECT `+contactColumns+` FROM contacts WHERE org_id = $1 AND id = $2 AND NOT deleted`,
		scanContact, crm.Errorf(crm.CodeContactNotFound, "contact %s not found", id), orgID, id)
}

// contactOrder maps a sort key to its indexed expression.
var contactOrder = map[readapi.ContactOrderBy]string{
	readapi.ContactsByCreatedAt: "created_at",
	readapi.ContactsByName:      "lower(name)",
}

// searchContacts adds a case-insensitive, literal substring match of
// term on the contacts' name, email or phone (see query.search).
func searchContacts(q *query, term string) {
	q.search(term, "search_text", "name", "email", "phone")
}

// ListContacts implements readapi.Queries.
func (s *Store) ListContacts(ctx context.Context, orgID uuid.UUID, f readapi.ContactFilter) (l readapi.List[readapi.Contact], err error) {
	defer wrap(&err, "pgread.ListContacts")
	if f, err = f.Normalize(); err != nil {
		return l, err
	}
	if ctx, err = s.begin(ctx, orgID, contactsProjector); err != nil {
		return l, err
	}
	q := newQuery(orgID, "NOT deleted")
	c := newCounter("contact_counts", orgID)
	if f.OwnerID != uuid.Nil {
		q.where("owner_id = " + q.arg(f.OwnerID))
		c.where("owner_id = " + c.arg(f.OwnerID))
	}
	if f.Search != "" {
		searchContacts(q, f.Search)
		c = nil
	}
	return list(ctx, s, q, listSpec[readapi.Contact]{
		table: "contacts", columns: contactColumns, orderBy: contactOrder[f.OrderBy], order: f.Order,
		page: f.Page, scan: scanContact, search: f.Search != "", counted: c,
	})
}

// wrap prefixes internal errors with the operation; errors clients act on
// (*crm.Error, crm.ErrNoTenant) keep their identity through %w either way.
func wrap(err *error, format string, args ...any) {
	if *err != nil {
		*err = fmt.Errorf(format+": %w", append(args, *err)...)
	}
}
