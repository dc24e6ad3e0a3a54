package pgread_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"example.com/crm/events"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

// A search with more matches than it sorts itself (searchMax) finds its
// page along the sort index, where the matches are dense: a walk that
// tests each row, bounded in rows and reach, and PostgreSQL's own plan
// otherwise. Every way gives the same pages.

func TestADenseSearchFindsTheSamePagesWhicheverWayItTakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	// 60 contacts, every third a match, named out of creation order.
	type contact struct {
		id   uuid.UUID
		name string
	}
	var matches []contact
	names := map[uuid.UUID]string{}
	for i := range 60 {
		last := "Turing"
		if i%3 == 0 {
			last = "Lovelace"
		}
		name := fmt.Sprintf("%02d %s", (i*37)%60, last)
		id := o.newContact(events.ContactCreated{Name: name})
		names[id] = name
		if last == "Lovelace" {
			matches = append(matches, contact{id, strings.ToLower(name)})
		}
	}
	caughtUp(t, e, o)
	created := make([]uuid.UUID, len(matches))
	for i, c := range matches {
		created[i] = c.id
	}
	byName := slices.Clone(matches)
	slices.SortFunc(byName, func(a, b contact) int { return strings.Compare(a.name, b.name) })
	named := idsOf(byName, func(c contact) uuid.UUID { return c.id })

	const size = 3
	var walks atomic.Int64
	ways := []struct {
		name string
		q    *pgread.Store
	}{
		{"walking", e.q.WithSearchMax(size).WithSearchWalk(2000, 100, func() { walks.Add(1) })},
		{"walking too few rows to fill a page", e.q.WithSearchMax(size).WithSearchWalk(2, 100, nil)},
		{"never walking", e.q.WithSearchMax(size).WithSearchWalk(2000, 0, nil)},
	}
	orders := []struct {
		by    readapi.ContactOrderBy
		order readapi.Order
		want  []uuid.UUID
	}{
		{readapi.ContactsByCreatedAt, readapi.Desc, reversed(created)},
		{readapi.ContactsByCreatedAt, readapi.Asc, created},
		{readapi.ContactsByName, readapi.Asc, named},
		{readapi.ContactsByName, readapi.Desc, reversed(named)},
	}
	for _, way := range ways {
		for _, ord := range orders {
			for page := 1; page <= len(matches)/size+2; page++ {
				f := readapi.ContactFilter{Search: "LOVELACE", OrderBy: ord.by, Order: ord.order, Page: readapi.Page{Page: page, PageSize: size}}
				l := mustList[readapi.Contact](t)(way.q.ListContacts(ctx, o.id, f))
				from := min((page-1)*size, len(ord.want))
				want := ord.want[from:min(from+size, len(ord.want))]
				if !slices.Equal(idsOf(l.Items, contactID), want) {
					t.Fatalf("%s, %s %s, page %d: got %v, want %v", way.name, ord.by, ord.order, page,
						nameAll(idsOf(l.Items, contactID), names), nameAll(want, names))
				}
				if end := int64(from + len(l.Items)); l.Total < end || (!l.TotalIsLowerBound && l.Total != int64(len(matches))) {
					t.Fatalf("%s, %s %s, page %d: total %d (lower bound %v) of %d matches", way.name, ord.by, ord.order, page, l.Total, l.TotalIsLowerBound, len(matches))
				}
			}
		}
	}
	// The walk found every full page (20 matches: six of three) in each
	// of the four orders.
	if got := walks.Load(); got != 4*6 {
		t.Fatalf("the walk found %d pages, want %d", got, 4*6)
	}
}

func TestADealSearchWalksItsSortIndexToo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.newOrg(t)
	ctx := context.Background()
	c := o.newContact(events.ContactCreated{Name: "Buyer"})
	var match []uuid.UUID
	for i := range 30 {
		title := fmt.Sprintf("renewal %02d", i)
		if i%2 == 0 {
			title = fmt.Sprintf("Licence %02d", i)
		}
		id := o.newDeal(events.DealCreated{ContactID: c, Title: title, Amount: 100})
		if i%2 == 0 {
			match = append(match, id)
		}
	}
	caughtUp(t, e, o)
	var walks atomic.Int64
	q := e.q.WithSearchMax(2).WithSearchWalk(2000, 100, func() { walks.Add(1) })
	var got []uuid.UUID
	for page := 1; page <= 6; page++ {
		l := mustList[readapi.Deal](t)(q.ListDeals(ctx, o.id, readapi.DealFilter{Search: "licence", Order: readapi.Asc, Page: readapi.Page{Page: page, PageSize: 3}}))
		got = append(got, idsOf(l.Items, func(d readapi.Deal) uuid.UUID { return d.ID })...)
	}
	wantIDs(t, got, match, nil)
	if walks.Load() != 5 {
		t.Fatalf("the walk found %d pages, want 5", walks.Load())
	}
}

// The walk reads the sort index in order and stops at its page: neither
// the trigram index nor a sort of every row it passed. Checked on the
// generic plan, which the server's prepared statements end up on, for a
// large organization among many small ones: the plan's estimate of an
// organization's rows is then small, and left to itself PostgreSQL reads
// every row of the organization from a bitmap and sorts them.
func TestTheSearchWalkFollowsTheSortIndex(t *testing.T) {
	t.Parallel()
	pool := newPlainPool(t, 2)
	ctx := context.Background()
	org := uuid.New()
	// The large organization's 10,000 rows, then 1,500 organizations of
	// 20 (n, i: the rows' organization and number).
	const rows = `SELECT CASE WHEN g <= 10000 THEN $1 ELSE md5((g / 20)::text)::uuid END AS n, g AS i
		FROM generate_series(1, 40000) AS g`
	if _, err := pool.Exec(ctx, `
		INSERT INTO contacts (org_id, id, owner_id, name, email, phone, version, created_at, updated_at)
		SELECT n, gen_random_uuid(), n, 'Contact ' || md5(i::text), md5(i::text) || '@example.com', '+1 555 ' || i, 1,
		       now() - i * interval '1 minute', now()
		FROM (`+rows+`) r`, org); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO deals (org_id, id, contact_id, owner_id, title, amount_cents, currency, status, stage, furthest_stage, version, created_at, updated_at)
		SELECT n, gen_random_uuid(), n, n, 'Deal ' || md5(i::text), i * 100, 'USD',
		       (ARRAY['new','in_progress','won','lost'])[1 + i % 4], 'qualification', 'qualification', 1,
		       now() - i * interval '1 minute', now() - i * interval '1 second'
		FROM (`+rows+`) r`, org); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE contacts; ANALYZE deals`); err != nil {
		t.Fatal(err)
	}
	plan := func(sql string, args ...any) string {
		t.Helper()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, pgread.WalkScopeSQL, org.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "PREPARE walk AS "+sql); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = tx.Rollback(ctx)
			_, _ = conn.Exec(ctx, "DEALLOCATE walk")
		}()
		// EXECUTE takes no bound parameters: its arguments are literals.
		literals := make([]string, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case int:
				literals[i] = fmt.Sprint(v)
			case []string:
				literals[i] = "'{" + strings.Join(v, ",") + "}'"
			default:
				literals[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
			}
		}
		var out []byte
		if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE walk("+strings.Join(literals, ", ")+")").Scan(&out); err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	check := func(what, out, index string) {
		t.Helper()
		var nodes []string
		var walkPlan func(n map[string]any)
		var filtered []any
		walkPlan = func(n map[string]any) {
			nodes = append(nodes, fmt.Sprintf("%v %v", n["Node Type"], n["Index Name"]))
			if n["Node Type"] == "Index Scan" && n["Filter"] != nil {
				filtered = append(filtered, n["Filter"])
			}
			for _, c := range asMaps(n["Plans"]) {
				walkPlan(c)
			}
		}
		var doc []map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		walkPlan(doc[0]["Plan"].(map[string]any))
		plan := strings.Join(nodes, " → ")
		if !strings.Contains(plan, "Index Scan "+index) || strings.Contains(plan, "Sort") || strings.Contains(plan, "Bitmap") {
			t.Errorf("%s: plan %s; want an index scan of %s, no sort, no bitmap", what, plan, index)
		}
		if len(filtered) > 0 {
			t.Errorf("%s: the index scan filters on %v; want every entry it reads to count towards the walk's bound", what, filtered)
		}
	}
	for _, c := range []struct {
		by    readapi.ContactOrderBy
		desc  bool
		index string
	}{
		{readapi.ContactsByCreatedAt, true, "contacts_created_idx"},
		{readapi.ContactsByCreatedAt, false, "contacts_created_idx"},
		{readapi.ContactsByName, false, "contacts_name_cover_idx"},
		{readapi.ContactsByName, true, "contacts_name_cover_idx"},
	} {
		check(fmt.Sprintf("contacts by %s desc=%v", c.by, c.desc),
			plan(pgread.ContactSearchWalkSQL(c.by, c.desc), org, "%contact a%", 20, 0), c.index)
	}
	for _, c := range []struct {
		by    readapi.DealOrderBy
		index string
	}{
		{readapi.DealsByCreatedAt, "deals_created_cover_idx"},
		{readapi.DealsByUpdatedAt, "deals_updated_idx"},
		{readapi.DealsByAmount, "deals_amount_idx"},
		{readapi.DealsByTitle, "deals_title_cover_idx"},
	} {
		check(fmt.Sprintf("deals by %s", c.by),
			plan(pgread.DealSearchWalkSQL(c.by, true), org, []string{"in_progress"}, "%deal a%", 20, 0), c.index)
	}
}

func asMaps(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func reversed(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}
