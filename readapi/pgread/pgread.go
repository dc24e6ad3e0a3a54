// Package pgread implements readapi.Queries over the PostgreSQL read
// models that projections/sales maintains (migrations/00004).
//
// Every query is scoped by the organization it is given, and waits first,
// unless the context opted out (readapi.WithEventualConsistency), until
// the projectors it reads have caught up with every event of that
// organization committed before the query began (read-your-writes across
// processes: projections.Waiter reads the checkpoints from the database).
//
// Lists read one page with LIMIT/OFFSET along an index that matches the
// sort, and the total with a second statement (see list for which):
// counting 100k index entries takes tens of milliseconds on a 2-core
// machine, so wide totals come from counter tables the projectors keep in
// step. `count(*) OVER ()` was measured and rejected: it makes PostgreSQL
// read every matching row before returning the first page (30 to 45 ms
// at p50 for the first page of 100k deals on a 2-core machine, against
// 0.5 ms for the page plus the counter; BenchmarkQueriesAt100k).
package pgread

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
	"example.com/crm/readapi"
)

// Store answers queries from the read models.
type Store struct {
	pool   *pgxpool.Pool
	waiter *projections.Waiter
	// searchMax is the number of matches of a search up to which a page
	// is sorted from the matches themselves (see list).
	searchMax int64
}

var _ readapi.Queries = (*Store)(nil)

// New returns a Store reading through pool. waiter gives read-your-writes;
// nil makes every query eventual (for tools that compare read models, not
// for serving requests).
func New(pool *pgxpool.Pool, waiter *projections.Waiter) *Store {
	return &Store{pool: pool, waiter: waiter, searchMax: searchMaterializeMax}
}

// begin checks the tenant and waits for the projectors a query reads.
func (s *Store) begin(ctx context.Context, orgID uuid.UUID, projectors ...string) error {
	if orgID == uuid.Nil {
		return crm.ErrNoTenant
	}
	if s.waiter == nil || readapi.IsEventual(ctx) {
		return nil
	}
	return s.waiter.Wait(ctx, orgID, projectors...)
}

// query accumulates the WHERE clause of a list and its arguments.
type query struct {
	table string // of a counter query only
	conds []string
	args  []any
}

// newCounter starts a query over the counter table of a list (see
// migrations/00004): the same organization, the filters it can answer.
func newCounter(table string, orgID uuid.UUID) *query {
	q := newQuery(orgID)
	q.table = table
	return q
}

// newQuery starts a query scoped to orgID: org_id leads every index.
func newQuery(orgID uuid.UUID, conds ...string) *query {
	q := &query{}
	q.where("org_id = " + q.arg(orgID))
	for _, c := range conds {
		q.where(c)
	}
	return q
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

// sumOf is the total of a counter query: the sum of the n column of the
// counter table the query was made for (newCounter).
func (q *query) sumOf() string {
	return "SELECT coalesce(sum(n), 0)::bigint FROM " + q.table + " WHERE " + strings.Join(q.conds, " AND ")
}

// search adds a case-insensitive, literal substring match of term on any
// of cols (served by the pg_trgm GIN indexes).
func (q *query) search(term string, cols ...string) {
	p := q.arg("%" + escapeLike(term) + "%")
	ors := make([]string, len(cols))
	for i, c := range cols {
		ors[i] = c + " ILIKE " + p
	}
	q.where("(" + strings.Join(ors, " OR ") + ")")
}

// escapeLike makes %, _ and the escape character match themselves.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// listSpec is one list query: the table, the columns scanned, the sort.
type listSpec[T any] struct {
	table   string
	columns string
	// orderBy is the sort expression (a constant of this package, never
	// input); ties break by id in the same direction.
	orderBy string
	order   readapi.Order
	page    readapi.Page
	// scan reads one row, then extra columns the list adds (a total).
	scan func(row pgx.CollectableRow, extra ...any) (T, error)
	// search tells that the filter holds a text search, whose matches a
	// trigram index finds (see list).
	search bool
	// counted, when set, gives the total more cheaply than count(*) with
	// the filter: a sum over a *_counts table.
	counted *query
}

// searchMaterializeMax is the default Store.searchMax: reading and
// sorting 2,000 matches costs a few milliseconds, about what walking a
// sort index through that many rows does.
const searchMaterializeMax = 2000

// list reads one page and its total.
//
// Without a search, the page walks the index of the sort key (skipping
// rows the filter rejects), and the total is told by the page when it is
// short, else read from a counter table when the filter allows, else
// counted with the filter.
//
// With a search, the planner cannot know how many rows match, and may
// walk the whole sort index looking for a rare match. So the matches are
// read first through the trigram index (a bitmap scan), at most
// s.searchMax+1 of them, and sorted, and counted in the same statement.
// Only when there are more than that are they counted apart and the page
// found by walking the sort index, where the matches are then dense.
func list[T any](ctx context.Context, s *Store, q *query, spec listSpec[T]) (readapi.List[T], error) {
	db := s.pool
	where := strings.Join(q.conds, " AND ")
	dir := "ASC"
	if spec.order == readapi.Desc {
		dir = "DESC"
	}
	n := len(q.args)
	pageArgs := append(q.args[:n:n], spec.page.PageSize, spec.page.Offset())
	tail := fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT $%d OFFSET $%d", spec.orderBy, dir, dir, n+1, n+2)
	countSQL, countArgs := "SELECT count(*) FROM "+spec.table+" WHERE "+where, q.args
	if spec.counted != nil {
		countSQL, countArgs = spec.counted.sumOf(), spec.counted.args
	}
	out := readapi.List[T]{Items: []T{}, Page: spec.page.Page, PageSize: spec.page.PageSize}
	offset := spec.page.Offset()
	read := func(sql string, args []any, extra ...any) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("list %s: %w", spec.table, err)
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return spec.scan(r, extra...) })
		if err != nil {
			return fmt.Errorf("list %s: %w", spec.table, err)
		}
		if len(items) > 0 {
			out.Items = items
		}
		return nil
	}
	count := func() error {
		if err := db.QueryRow(ctx, countSQL, countArgs...).Scan(&out.Total); err != nil {
			return fmt.Errorf("count %s: %w", spec.table, err)
		}
		return nil
	}

	if spec.search {
		sql := fmt.Sprintf("WITH m AS MATERIALIZED (SELECT %s FROM %s WHERE %s LIMIT %d) SELECT *, count(*) OVER () FROM m",
			spec.columns, spec.table, where, s.searchMax+1) + tail
		if err := read(sql, pageArgs, &out.Total); err != nil {
			return readapi.List[T]{}, err
		}
		switch {
		case len(out.Items) == 0 && offset == 0:
			return out, nil // no match
		case len(out.Items) > 0 && out.Total <= s.searchMax:
			return out, nil // every match was read and counted
		}
		// Many matches (or a page past the end): count them all, and find
		// the page along the sort index.
		out.Items = []T{}
		if err := count(); err != nil {
			return readapi.List[T]{}, err
		}
		if out.Total <= offset {
			return out, nil
		}
	}
	if err := read("SELECT "+spec.columns+" FROM "+spec.table+" WHERE "+where+tail, pageArgs); err != nil {
		return readapi.List[T]{}, err
	}
	if spec.search {
		return out, nil
	}
	// A page that is neither full nor past the end tells the total.
	if len(out.Items) < spec.page.PageSize && (len(out.Items) > 0 || offset == 0) {
		out.Total = offset + int64(len(out.Items))
		return out, nil
	}
	if err := count(); err != nil {
		return readapi.List[T]{}, err
	}
	return out, nil
}

// getOne reads the single row of a by-id query, or returns notFound.
func getOne[T any](ctx context.Context, db *pgxpool.Pool, sql string, scan func(pgx.CollectableRow, ...any) (T, error), notFound error, args ...any) (T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if errors.Is(err, pgx.ErrNoRows) {
		return v, notFound
	}
	return v, err
}

// Projector names the queries wait on.
const (
	contactsProjector   = sales.NameContacts
	dealsProjector      = sales.NameDeals
	tasksProjector      = sales.NameTasks
	activitiesProjector = sales.NameActivities
)
