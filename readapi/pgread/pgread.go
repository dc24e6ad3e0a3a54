// Package pgread implements readapi.Queries over the PostgreSQL read
// models that projections/sales maintains (migrations/00004).
//
// Every query is scoped by the organization it is given, and waits first,
// unless the context opted out (readapi.WithEventualConsistency), until
// the projectors it reads have caught up with every event of that
// organization committed before the query began (read-your-writes across
// processes: projections.Waiter reads the checkpoints from the database).
//
// Every statement also runs as the role crm_reader with the organization
// set for its transaction, in the same round trip (tenant.go): row-level
// security on the read models (migrations/00060) is the defence in depth
// behind the explicit filter, so a query that forgets `org_id = $1` still
// reads one organization's rows. Searches read the owner's views
// org_contacts and org_deals, which apply the same rule themselves (see
// list for why).
//
// Lists read one page with LIMIT/OFFSET along an index that matches the
// sort, and the total with a second statement (see list for which):
// counting 100k index entries takes tens of milliseconds on a 2-core
// machine, so wide totals come from counter tables the projectors keep in
// step, and the others are counted up to a cap (beyond it the total is a
// lower bound, flagged). Deep pages find their rows in the sort index
// first (index-only scans, migration 00030), from the nearer end when the
// total is known. `count(*) OVER ()` was measured and rejected: it makes
// PostgreSQL read every matching row before returning the first page (30
// to 45 ms at p50 for the first page of 100k deals on a 2-core machine,
// against 0.5 ms for the page plus the counter; BenchmarkQueriesAt100k).
package pgread

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/projections"
	"example.com/crm/projections/sales"
	"example.com/crm/readapi"
)

// Store answers queries from the read models.
type Store struct {
	db     reader
	waiter *projections.Waiter
	// searchMax is the number of matches of a search up to which a page
	// is sorted from the matches themselves, and counted (see list).
	searchMax int64
	// walkRows and walkReach bound the walk along the sort index that
	// finds a dense search's page (see list): at most walkRows rows, for a
	// page that ends within the first walkReach matches.
	walkRows, walkReach int64
	// walked, when set (by tests), is called each time a walk found a
	// page.
	walked func()
	// countMax is the number of matches up to which a list's total is
	// counted when no counter table gives it (see list).
	countMax int64
	// deepOffset is the offset from which a page is found in the sort
	// index before its rows are read (see list).
	deepOffset int64
}

var _ readapi.Queries = (*Store)(nil)

// New returns a Store reading through pool. waiter gives read-your-writes;
// nil makes every query eventual (for tools that compare read models, not
// for serving requests).
func New(pool *pgxpool.Pool, waiter *projections.Waiter) *Store {
	return &Store{db: reader{pool: pool}, waiter: waiter, searchMax: searchMaterializeMax,
		walkRows: searchWalkRows, walkReach: searchWalkReach, countMax: countMax, deepOffset: deepOffset}
}

// begin checks the tenant and returns ctx carrying the read-your-writes
// wait for the projectors a query reads: its first statement sends the
// check ahead of itself, in its own round trip (freshness).
func (s *Store) begin(ctx context.Context, orgID uuid.UUID, projectors ...string) (context.Context, error) {
	return fresh(ctx, s.waiter, orgID, projectors...)
}

// query accumulates the WHERE clause of a list and its arguments.
type query struct {
	org   uuid.UUID
	table string // of a counter query only
	conds []string
	args  []any
	// scope is how many of conds every sort index holds by itself: the
	// organization and the predicate of the partial indexes (newQuery's
	// conditions); the others are filters.
	scope int
	// matches are a search's conditions in the form its trigram index
	// serves; rowMatches the same test on each row's own columns, for a
	// walk along the sort index that must not reach for that index (see
	// list). Both are empty without a search.
	matches, rowMatches []string
}

// newCounter starts a query over the counter table of a list (see
// migrations/00004): the same organization, the filters it can answer.
func newCounter(table string, orgID uuid.UUID) *query {
	q := newQuery(orgID)
	q.table = table
	return q
}

// newQuery starts a query scoped to orgID, always its first parameter
// ($1): org_id leads every index.
func newQuery(orgID uuid.UUID, conds ...string) *query {
	q := &query{org: orgID}
	q.where("org_id = " + q.arg(orgID))
	for _, c := range conds {
		q.where(c)
	}
	q.scope = len(q.conds)
	return q
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

// match adds a search condition: indexed as the trigram index serves it,
// row as a test of the row's own columns (the same rows pass both).
func (q *query) match(indexed, row string) {
	q.matches = append(q.matches, indexed)
	q.rowMatches = append(q.rowMatches, row)
}

// all is the whole WHERE clause: the filters and the search.
func (q *query) all() string {
	return strings.Join(append(q.conds[:len(q.conds):len(q.conds)], q.matches...), " AND ")
}

// sumOf is the total of a counter query: the sum of the n column of the
// counter table the query was made for (newCounter).
func (q *query) sumOf() string {
	return "SELECT coalesce(sum(n), 0)::bigint FROM " + q.table + " WHERE " + strings.Join(q.conds, " AND ")
}

// search adds a case-insensitive, literal substring match of term on
// lowered, an expression holding the searched columns lowercased (see
// migrations/00070: LIKE on it is ~7× cheaper per row than ILIKE on each
// column, and a pg_trgm GIN index serves it). When lowered joins several
// columns with newlines and term holds one, a match could span two of
// them: the per-column ILIKE of cols is then required as well.
func (q *query) search(term, lowered string, cols ...string) {
	p := q.like(term)
	c := lowered + " LIKE lower(" + p + ")"
	q.match(c, c)
	if len(cols) > 1 && strings.ContainsRune(term, '\n') {
		ors := make([]string, len(cols))
		for i, c := range cols {
			ors[i] = c + " ILIKE " + p
		}
		c := "(" + strings.Join(ors, " OR ") + ")"
		q.match(c, c)
	}
}

// like adds the LIKE pattern of a literal substring match of term and
// returns its placeholder.
func (q *query) like(term string) string { return q.arg("%" + escapeLike(term) + "%") }

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
	// counted, when set, gives the exact total more cheaply than count(*)
	// with the filter: a sum over a *_counts table.
	counted *query
	// skipped, with total, says that the caller found where a deep page
	// starts (keyset: the query's conditions already exclude the skipped
	// rows that precede it), and the exact total.
	skipped int64
	total   *int64
}

// Bounds of the work one list query does (see list).
const (
	// searchMaterializeMax is the default Store.searchMax: a search's
	// matches are read, sorted and counted up to 500 of them. Each costs
	// a case-insensitive comparison (1 to 3 µs on a 2-core machine) of
	// itself and of the rows around it that do not match: 500 matches at
	// a density of 20% are 2,500 comparisons (2,000 were measured at 30 to
	// 60 ms p99 under load).
	searchMaterializeMax = 500
	// searchWalkRows and searchWalkReach are the defaults of
	// Store.walkRows and Store.walkReach: a dense search's page among its
	// first 100 matches is looked for in at most 2,000 rows of the sort
	// index (1 to 2 ms when it is not there: past 500 matches, that is a
	// density under one in 20 for the fifth page of 20).
	searchWalkRows  = 2000
	searchWalkReach = 100
	// countMax is the default Store.countMax: counting 10,000 index
	// entries costs 1 to 3 ms on a 2-core machine.
	countMax = 10000
	// deepOffset is where a page starts to be found through the sort
	// index alone (an index-only scan) before its rows are read, and where
	// a list with an exact total is walked from whichever end is nearer.
	deepOffset = 1000
)

// list reads one page and its total.
//
// The page: without a search, the page walks the index of the sort key
// (skipping rows the filter rejects). A deep page (offset ≥ deepOffset)
// first finds the ids of its rows in the sort index alone (an index-only
// scan: no table row is read for the rows it skips), from the nearer end
// of the list when the total is known exactly, and then reads those rows.
//
// The total is exact when it is cheap: from a counter table when the
// filter allows (spec.counted), or told by a page that is neither full
// nor past the end. Otherwise the matches are counted up to a cap
// (s.countMax, s.searchMax for a search): beyond it the total is a lower
// bound, max(cap, offset + items), and TotalIsLowerBound says so (README,
// OpenAPI: counting 100k matches would cost tens of milliseconds on every
// page).
//
// With a search, the planner cannot know how many rows match, and may
// walk the whole sort index looking for a rare match. So the matches are
// read first through the trigram index (a bitmap scan), at most
// s.searchMax+1 of them, and sorted, and counted in the same statement.
// Only when there are more than that is the page found by walking the
// sort index, where the matches are then dense: a page among the first
// s.walkReach matches by a walk of at most s.walkRows rows that tests
// each row itself (left alone, PostgreSQL's plan for the page read every
// match through the trigram index and sorted them all: 3.6 ms a page
// under W3's load at 1,459 matches among 30k contacts, against 0.4 ms for
// the 393 rows of the walk), and any other page, or one the walk did not
// fill, as PostgreSQL plans it.
func list[T any](ctx context.Context, s *Store, q *query, spec listSpec[T]) (readapi.List[T], error) {
	db := s.db.as(q.org)
	// A search reads the table through its view org_<table>
	// (migrations/00060), which filters on crm.org_id itself: under
	// row-level security PostgreSQL would not use the trigram index for
	// ILIKE (not a leakproof operator), and would scan the organization.
	from := spec.table
	if spec.search {
		from = "org_" + spec.table
	}
	where := q.all()
	offset := spec.page.Offset()
	limit := int64(spec.page.PageSize)
	out := readapi.List[T]{Items: []T{}, Page: spec.page.Page, PageSize: spec.page.PageSize}
	readOn := func(db scoped, sql string, args []any, extra ...any) ([]T, error) {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", spec.table, err)
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return spec.scan(r, extra...) })
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", spec.table, err)
		}
		return items, nil
	}
	read := func(sql string, args []any, extra ...any) ([]T, error) { return readOn(db, sql, args, extra...) }
	// page reads limit rows after offset in the direction asc (true) or
	// desc.
	page := func(desc bool, limit, offset int64) ([]T, error) {
		dir := direction(desc)
		n := len(q.args)
		args := append(q.args[:n:n], limit, offset)
		order := fmt.Sprintf(" ORDER BY %s %s, id %s", spec.orderBy, dir, dir)
		window := fmt.Sprintf(" LIMIT $%d OFFSET $%d", n+1, n+2)
		if offset < s.deepOffset || spec.search {
			return read("SELECT "+spec.columns+" FROM "+from+" WHERE "+where+order+window, args)
		}
		// Deep: the ids from the sort index alone, then their rows.
		return read("SELECT "+spec.columns+" FROM "+from+" WHERE "+where+
			" AND id IN (SELECT id FROM "+from+" WHERE "+where+order+window+")"+order, args)
	}
	// walk reads limit matches after offset, testing each of the first
	// s.walkRows rows of the sort index in the list's order.
	walk := func(desc bool, limit, offset int64) ([]T, error) {
		n := len(q.args)
		found, err := readOn(db.walkAlong(), walkSQL(q, spec.columns, from, spec.orderBy, desc, s.walkRows), append(q.args[:n:n], limit, offset))
		if err == nil && len(found) == int(limit) && s.walked != nil {
			s.walked()
		}
		return found, err
	}
	desc := spec.order == readapi.Desc
	capped := func(n int64) {
		out.Total = max(n, offset+int64(len(out.Items)))
		out.TotalIsLowerBound = true
	}

	if spec.search {
		n := len(q.args)
		items, err := read(matchesSQL(q, spec.columns, from, spec.orderBy, desc, s.searchMax+1), append(q.args[:n:n], limit, offset), &out.Total)
		if err != nil {
			return readapi.List[T]{}, err
		}
		if len(items) > 0 {
			out.Items = items
		}
		switch {
		case len(items) == 0 && offset == 0:
			return out, nil // no match
		case len(items) > 0 && out.Total <= s.searchMax:
			return out, nil // every match was read and counted
		case len(items) == 0:
			// Past the end of the first matches: how many are there?
			n, err := countUpTo(ctx, db, from, where, q.args, s.searchMax)
			if err != nil {
				return readapi.List[T]{}, err
			}
			if n <= s.searchMax {
				out.Total = n
				return out, nil // past the end
			}
		}
		// Many matches (or a page past the end of the first ones): find
		// the page along the sort index, where they are dense.
		if offset+limit <= s.walkReach {
			items, err := walk(desc, limit, offset)
			if err != nil {
				return readapi.List[T]{}, err
			}
			if len(items) == int(limit) {
				out.Items = items
				capped(s.searchMax)
				return out, nil
			}
		}
		if out.Items, err = page(desc, limit, offset); err != nil {
			return readapi.List[T]{}, err
		}
		if out.Items == nil {
			out.Items = []T{}
		}
		if len(out.Items) < int(limit) && (len(out.Items) > 0 || offset == 0) {
			out.Total = offset + int64(len(out.Items))
			return out, nil
		}
		capped(s.searchMax)
		return out, nil
	}

	// The caller's keyset: the page starts skipped rows later than the
	// query's first row.
	if spec.total != nil {
		out.Total = *spec.total
		if offset >= out.Total {
			return out, nil
		}
		items, err := page(desc, limit, offset-spec.skipped)
		if err != nil {
			return readapi.List[T]{}, err
		}
		if len(items) > 0 {
			out.Items = items
		}
		return out, nil
	}
	// The exact total first when a counter gives it and the page is deep:
	// it says which end is nearer.
	known := false
	if spec.counted != nil && offset >= s.deepOffset {
		if err := db.QueryRow(ctx, spec.counted.sumOf(), spec.counted.args...).Scan(&out.Total); err != nil {
			return readapi.List[T]{}, fmt.Errorf("count %s: %w", spec.table, err)
		}
		known = true
		if offset >= out.Total {
			return out, nil
		}
		if fromEnd := out.Total - offset - limit; fromEnd < offset {
			// Nearer the end: read the page backwards from there.
			n := limit
			if fromEnd < 0 {
				n, fromEnd = limit+fromEnd, 0
			}
			items, err := page(!desc, n, fromEnd)
			if err != nil {
				return readapi.List[T]{}, err
			}
			slices.Reverse(items)
			if len(items) > 0 {
				out.Items = items
			}
			return out, nil
		}
	}
	items, err := page(desc, limit, offset)
	if err != nil {
		return readapi.List[T]{}, err
	}
	if len(items) > 0 {
		out.Items = items
	}
	if known {
		return out, nil
	}
	// A page that is neither full nor past the end tells the total.
	if len(out.Items) < int(limit) && (len(out.Items) > 0 || offset == 0) {
		out.Total = offset + int64(len(out.Items))
		return out, nil
	}
	if spec.counted != nil {
		if err := db.QueryRow(ctx, spec.counted.sumOf(), spec.counted.args...).Scan(&out.Total); err != nil {
			return readapi.List[T]{}, fmt.Errorf("count %s: %w", spec.table, err)
		}
		return out, nil
	}
	// Count the matches, up to the cap.
	n, err := countUpTo(ctx, db, from, where, q.args, s.countMax)
	if err != nil {
		return readapi.List[T]{}, err
	}
	if n <= s.countMax {
		out.Total = n
		return out, nil
	}
	capped(s.countMax)
	return out, nil
}

// matchesSQL is the statement that reads a search's first max matches
// through its trigram index, and returns the page among them (sorted by
// orderBy, desc or not, ties by id; LIMIT and OFFSET are the two
// parameters after q's) with their count as a last column. Only each
// match's id and sort key are kept and sorted; the page's rows are read
// again by their key (org_id is q's first parameter): copying every
// match's whole row cost a fifth of the statement (pgbench, 501 of 30k
// contacts: 1.49 against 1.20 ms).
func matchesSQL(q *query, columns, from, orderBy string, desc bool, max int64) string {
	dir := direction(desc)
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = "t." + c
	}
	n := len(q.args)
	return fmt.Sprintf("WITH m AS MATERIALIZED (SELECT id, %s AS sort_key FROM %s WHERE %s LIMIT %d),"+
		" p AS (SELECT id, sort_key, count(*) OVER () AS total FROM m ORDER BY sort_key %s, id %s LIMIT $%d OFFSET $%d)"+
		" SELECT %s, p.total FROM p JOIN %s t ON t.org_id = $1 AND t.id = p.id ORDER BY p.sort_key %s, p.id %s",
		orderBy, from, q.all(), max, dir, dir, n+1, n+2, strings.Join(cols, ", "), from, dir, dir)
}

// direction is the SQL sort direction: DESC when desc, else ASC.
func direction(desc bool) string {
	if desc {
		return "DESC"
	}
	return "ASC"
}

// walkSQL is the statement that finds a search's page along the sort
// index (see list): the first rows rows of the organization in the order
// orderBy (desc or not, ties by id), each tested by the list's filters
// and the search's rowMatches, then the page: LIMIT and OFFSET are the
// two parameters after q's. The filters are tested on the walk's rows,
// not in it, so that the walk reads at most rows entries of the index
// whatever they select (an owner with few deals would otherwise have
// sent it through all the organization's). The sort key is a column of
// the walk, so that PostgreSQL keeps the walk's order instead of sorting
// every row the walk passed.
func walkSQL(q *query, columns, from, orderBy string, desc bool, rows int64) string {
	dir := direction(desc)
	n := len(q.args)
	return fmt.Sprintf("SELECT %s FROM (SELECT *, %s AS sort_key FROM %s WHERE %s ORDER BY %s %s, id %s LIMIT %d) w"+
		" WHERE %s ORDER BY sort_key %s, id %s LIMIT $%d OFFSET $%d",
		columns, orderBy, from, strings.Join(q.conds[:q.scope], " AND "), orderBy, dir, dir, rows,
		strings.Join(append(q.conds[q.scope:len(q.conds):len(q.conds)], q.rowMatches...), " AND "), dir, dir, n+1, n+2)
}

// countUpTo counts the rows of table matching where, up to limit+1.
func countUpTo(ctx context.Context, db scoped, table, where string, args []any, limit int64) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d) m",
		table, where, limit+1), args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// getOne reads the single row of a by-id query, or returns notFound.
func getOne[T any](ctx context.Context, db scoped, sql string, scan func(pgx.CollectableRow, ...any) (T, error), notFound error, args ...any) (T, error) {
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
