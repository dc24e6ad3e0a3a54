package pgread

import (
	"context"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/readapi"
)

// WithSearchMax returns a copy of s that sorts a search's matches itself
// only up to n matches (0: always walks the sort index), so tests can take
// both paths of list.
func (s *Store) WithSearchMax(n int64) *Store {
	c := *s
	c.searchMax = n
	return &c
}

// WithCaps returns a copy of s with other bounds of list: the count cap
// and the offset from which pages are found in the sort index first.
func (s *Store) WithCaps(countMax, deepOffset int64) *Store {
	c := *s
	c.countMax, c.deepOffset = countMax, deepOffset
	return &c
}

// QueryAs runs sql as the read path runs its statements, as ReaderRole
// with crm.org_id set to org ("": set to nothing), and returns the first
// column of its rows.
func QueryAs[T any](ctx context.Context, pool *pgxpool.Pool, org string, sql string, args ...any) ([]T, error) {
	return queryAs[T](ctx, scoped{pool: pool, org: org, scope: scopeSQL}, sql, args...)
}

// QueryAsOnGenericPlan is QueryAs for a statement run on its generic plan
// (scoped.genericPlan).
func QueryAsOnGenericPlan[T any](ctx context.Context, pool *pgxpool.Pool, org string, sql string, args ...any) ([]T, error) {
	return queryAs[T](ctx, scoped{pool: pool, org: org, scope: scopeSQL}.genericPlan(), sql, args...)
}

func queryAs[T any](ctx context.Context, d scoped, sql string, args ...any) ([]T, error) {
	rows, err := d.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[T])
}

// ReadRelations lists the relations the read path reads.
func ReadRelations() []string { return slices.Clone(readRelations) }

// AccessSQL is the caller's role check a read sends ahead of its query.
const AccessSQL = accessSQL

// WithSearchWalk returns a copy of s whose walk along the sort index for
// a dense search's page reads at most rows rows, for a page ending within
// the first reach matches (0: never walks), and calls walked each time a
// walk found its page.
func (s *Store) WithSearchWalk(rows, reach int64, walked func()) *Store {
	c := *s
	c.walkRows, c.walkReach, c.walked = rows, reach, walked
	return &c
}

// WalkScopeSQL opens the transaction of a search's walk ($1: the
// organization).
const WalkScopeSQL = scopeWalkSQL

// ContactSearchWalkSQL is the statement that walks the contacts' sort
// index for a search's page: $1 the organization, $2 the LIKE pattern, $3
// and $4 the page's LIMIT and OFFSET.
func ContactSearchWalkSQL(orderBy readapi.ContactOrderBy, desc bool) string {
	q := newQuery(uuid.Nil, "NOT deleted")
	searchContacts(q, "x")
	return walkSQL(q, contactColumns, "org_contacts", contactOrder[orderBy], desc, searchWalkRows)
}

// DealSearchWalkSQL is ContactSearchWalkSQL for deals filtered by status:
// $1 the organization, $2 the statuses, $3 the LIKE pattern, $4 and $5
// the page's LIMIT and OFFSET.
func DealSearchWalkSQL(orderBy readapi.DealOrderBy, desc bool) string {
	q := newQuery(uuid.Nil, "NOT deleted")
	q.where("status = ANY(" + q.arg([]string{}) + ")")
	searchTitles(q, "x")
	return walkSQL(q, dealColumns, "org_deals", dealOrder[orderBy], desc, searchWalkRows)
}
