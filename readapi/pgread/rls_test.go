package pgread_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm/internal/testenv"
	"example.com/crm/migrations"
	"example.com/crm/projections"
	"example.com/crm/projections/sales"
	"example.com/crm/projections/streamstats"
	"example.com/crm/readapi"
	"example.com/crm/readapi/pgread"
)

// Row-level security on the read models (migrations/00060): the rules
// these tests check.
//
//   - Every table with an organization column is confined by a policy,
//     except the few named in notConfined, which the reader may not read.
//   - The reader may read nothing else but the searches' views and the
//     checkpoints (no tenant data).
//   - As the reader, with no organization set, every relation it reads is
//     empty; with an organization set, a query with no tenant filter
//     reads that organization's rows, all of them and no others.
//   - The organization lasts one transaction.
//   - A rebuild keeps all of that; the server refuses to start without it.

// notConfined names the tables with an organization column that row-level
// security does not cover, and why. The reader role may not read them.
var notConfined = map[string]string{
	"events":           "the event store: read across tenants by the projectors and rebuilds, written by the command path",
	"memberships":      "identity: read across organizations by design (a user's organizations, login), never by pgread",
	"projector_parked": "operators' bookkeeping of poison events, never read by pgread",
	"deal_snapshots":   "a cache of the event log for audit replays, read and written by the owner as the events are",
	// Not read models: integration configuration, written by the API and
	// read across organizations by the delivery workers (webhooks.Store).
	"webhook_subscriptions": "webhooks' own state (00040), read across organizations by the dispatcher; not a read model",
	"webhook_deliveries":    "webhooks' delivery log (00040), written across organizations by the dispatcher; not a read model",
}

// readableWithoutRLS names what the reader may read that no policy
// confines, and why.
var readableWithoutRLS = map[string]string{
	"projector_checkpoints": "no tenant data: an analytics answer reports the checkpoint it is as of",
	"org_contacts":          "a view that filters on crm.org_id itself (searches); checked by assertConfined",
	"org_deals":             "a view that filters on crm.org_id itself (searches); checked by assertConfined",
	"org_deal_titles":       "a view that filters on crm.org_id itself (deal searches, 00080); checked by assertConfined",
}

func TestEveryTenantTableIsConfined(t *testing.T) {
	t.Parallel()
	checkCatalog(t, newPlainPool(t, 4))
}

func TestReaderSeesOneOrganizationOrNothing(t *testing.T) {
	t.Parallel()
	e, a, b := twoOrganizations(t)
	assertConfined(t, e.pool, a.id, b.id)
}

// twoOrganizations seeds two organizations and waits until every read
// model (sales, analytics counters, stream stats) holds them.
func twoOrganizations(t *testing.T) (*env, *org, *org) {
	t.Helper()
	e := newEnv(t)
	e.startWith(t, streamstats.Projector(e.reg))
	a, b := e.newOrg(t), e.newOrg(t)
	seed(t, a)
	seed(t, b)
	waitAll(t, e, a, b)
	return e, a, b
}

func TestTheOrganizationLastsOneTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.newOrg(t)
	seed(t, a)
	caughtUp(t, e, a)
	ctx := context.Background()
	pool := newPoolOn(t, e.pool.Config().ConnString(), 1) // one connection: every statement below shares it
	ids, err := pgread.QueryAs[uuid.UUID](ctx, pool, a.id.String(), `SELECT id FROM deals`)
	if err != nil || len(ids) == 0 {
		t.Fatalf("as %s: %d deals, %v; want some", a.id, len(ids), err)
	}
	var user, org string
	if err := pool.QueryRow(ctx, `SELECT current_user::text, coalesce(current_setting('crm.org_id', true), '')`).Scan(&user, &org); err != nil {
		t.Fatal(err)
	}
	if user == pgread.ReaderRole || org != "" {
		t.Fatalf("after the read's transaction: user %q, crm.org_id %q; want the login role and no organization", user, org)
	}
	// A statement run on its generic plan sets plan_cache_mode for its own
	// transaction only.
	modes, err := pgread.QueryAsOnGenericPlan[string](ctx, pool, a.id.String(), `SELECT current_setting('plan_cache_mode')`)
	if err != nil || len(modes) != 1 || modes[0] != "force_generic_plan" {
		t.Fatalf("inside a generic-plan read: %v, %v", modes, err)
	}
	var mode string
	if err := pool.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&mode); err != nil || mode != "auto" {
		t.Fatalf("after it: plan_cache_mode %q, %v; want auto", mode, err)
	}
	// The next batch on the connection becomes the reader without setting
	// an organization: it sees nothing.
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('role', $1, true)`, pgread.ReaderRole)
	b.Queue(`SELECT count(*) FROM deals`)
	br := pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := br.QueryRow().Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a later transaction with no organization set sees %d deals, want 0", n)
	}
}

func TestRebuiltReadModelsStayConfined(t *testing.T) {
	t.Parallel()
	e, a, b := twoOrganizations(t)
	ctx := context.Background()
	oidOf := func() (oid uint32) {
		t.Helper()
		if err := e.pool.QueryRow(ctx, `SELECT 'deals'::regclass::oid`).Scan(&oid); err != nil {
			t.Fatal(err)
		}
		return oid
	}
	before := oidOf()
	ps := append(sales.Projectors(), streamstats.Projector(e.reg))
	if _, err := projections.Rebuild(ctx, projections.RebuildOptions{Pool: e.pool, Registry: e.reg, Projectors: ps,
		CatchUpTimeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if oidOf() == before {
		t.Fatal("deals is the same table after the rebuild: nothing was swapped")
	}
	checkCatalog(t, e.pool)
	checkPendingListBounded(t, e.pool)
	assertConfined(t, e.pool, a.id, b.id)
	if err := pgread.CheckReader(ctx, e.pool); err != nil {
		t.Fatal(err)
	}
	// The searches' view reads the new table.
	l, err := e.q.ListDeals(readapi.WithEventualConsistency(ctx), a.id, readapi.DealFilter{Search: "D"})
	if err != nil || l.Total != 1 || l.Items[0].OrganizationID != a.id {
		t.Fatalf("search after the rebuild: %+v, %v; want a's one live deal", l, err)
	}
	// contacts.search_text is generated (migrations/00070): the rebuilt
	// table computes it too, and its index is built on it.
	c, err := e.q.ListContacts(readapi.WithEventualConsistency(ctx), a.id, readapi.ContactFilter{Search: "C@EXAMPLE"})
	if err != nil || c.Total != 1 || c.Items[0].OrganizationID != a.id {
		t.Fatalf("contact search after the rebuild: %+v, %v; want a's contact c@example.com", c, err)
	}
}

func TestServerRefusesToStartWithoutTheReader(t *testing.T) {
	t.Parallel()
	pool := newPlainPool(t, 2)
	ctx := context.Background()
	if err := pgread.CheckReader(ctx, pool); err != nil {
		t.Fatalf("on a migrated database: %v", err)
	}
	// What a database whose migration could not set the role up lacks.
	if _, err := pool.Exec(ctx, `REVOKE SELECT ON deals FROM `+pgread.ReaderRole); err != nil {
		t.Fatal(err)
	}
	if err := pgread.CheckReader(ctx, pool); err == nil || !strings.Contains(err.Error(), pgread.ReaderRole) {
		t.Fatalf("without the grant: %v; want an error naming %s", err, pgread.ReaderRole)
	}
}

// A login role that may not create roles (a managed database) migrates
// all the same; the server then refuses to start, until an administrator
// grants it the reader role.
func TestALoginRoleThatMayNotCreateRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := newPlainPool(t, 2)
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")
	role, db, password := "crm_test_app_"+suffix, "crm_test_norole_"+suffix, uuid.NewString()
	exec := func(sql string) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE ROLE ` + role + ` LOGIN NOCREATEROLE PASSWORD '` + password + `'`)
	t.Cleanup(func() { _, _ = admin.Exec(context.WithoutCancel(ctx), `DROP ROLE IF EXISTS `+role) })
	exec(`CREATE DATABASE ` + db + ` OWNER ` + role)
	t.Cleanup(func() { _, _ = admin.Exec(context.WithoutCancel(ctx), `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`) })
	u, err := url.Parse(admin.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	u.User, u.Path = url.UserPassword(role, password), "/"+db
	if _, err := migrations.Up(ctx, u.String()); err != nil {
		t.Fatalf("migrations as a role that may not create roles: %v", err)
	}
	pool := newPoolOn(t, u.String(), 2)
	var rls bool
	if err := pool.QueryRow(ctx, `SELECT relrowsecurity FROM pg_class WHERE oid = 'deals'::regclass`).Scan(&rls); err != nil || !rls {
		t.Fatalf("row-level security on deals: %v, %v; want it enabled all the same", rls, err)
	}
	if err := pgread.CheckReader(ctx, pool); err == nil || !strings.Contains(err.Error(), pgread.ReaderRole) {
		t.Fatalf("before an administrator grants the role: %v; want an error naming %s", err, pgread.ReaderRole)
	}
	exec(`GRANT ` + pgread.ReaderRole + ` TO ` + role)
	if err := pgread.CheckReader(ctx, pool); err != nil {
		t.Fatalf("once granted: %v", err)
	}
}

// checkCatalog checks the first two rules against the catalog.
func checkCatalog(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	type rel struct {
		name          string
		kind          string
		rls, policy   bool
		tenant, reads bool
	}
	rows, err := pool.Query(ctx, `
		SELECT c.relname::text, c.relkind::text, c.relrowsecurity,
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid),
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND NOT a.attisdropped
		               AND a.attname IN ('org_id', 'tenant_id')),
		       has_table_privilege($1, c.oid, 'SELECT')
		FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')`,
		pgread.ReaderRole)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.name, &x.kind, &x.rls, &x.policy, &x.tenant, &x.reads)
	})
	if err != nil {
		t.Fatal(err)
	}
	readable := map[string]bool{}
	for _, r := range rels {
		if r.reads {
			readable[r.name] = true
		}
		_, exempt := notConfined[r.name]
		switch {
		case r.kind == "r" && r.tenant && !exempt && (!r.rls || !r.policy):
			t.Errorf("%s has an organization column but no row-level security (enabled %v, a policy %v): "+
				"add it to migrations like 00060, or to notConfined with a reason", r.name, r.rls, r.policy)
		case exempt && r.reads:
			t.Errorf("%s is not confined (%s), yet %s may read it", r.name, notConfined[r.name], pgread.ReaderRole)
		case r.reads && !(r.kind == "r" && r.rls && r.policy) && readableWithoutRLS[r.name] == "":
			t.Errorf("%s may read %s (kind %s), which no policy confines", pgread.ReaderRole, r.name, r.kind)
		}
	}
	for _, name := range pgread.ReadRelations() {
		if !readable[name] {
			t.Errorf("the read path reads %s, which %s may not read", name, pgread.ReaderRole)
		}
	}
}

// assertConfined checks, on every relation the reader may read, that with
// no organization set it reads nothing, and that a query without a tenant
// filter, as one of orgs, reads exactly that organization's rows (and
// some: every organization given has rows everywhere).
func assertConfined(t *testing.T, pool *pgxpool.Pool, orgs ...uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT c.relname::text, a.attname::text
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname IN ('org_id', 'tenant_id') AND NOT a.attisdropped
		WHERE c.relnamespace = current_schema()::regnamespace AND has_table_privilege($1, c.oid, 'SELECT')
		ORDER BY 1`, pgread.ReaderRole)
	if err != nil {
		t.Fatal(err)
	}
	type rel struct{ name, column string }
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.name, &x.column)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) < len(pgread.ReadRelations())-1 { // all but projector_checkpoints
		t.Fatalf("the reader may read %v only", rels)
	}
	for _, r := range rels {
		from := pgx.Identifier{r.name}.Sanitize()
		n, err := pgread.QueryAs[int64](ctx, pool, "", `SELECT count(*) FROM `+from)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if n[0] != 0 {
			t.Errorf("%s: %d rows with no organization set, want none", r.name, n[0])
		}
		for _, org := range orgs {
			// Forgetting the filter: every row the reader sees, as org.
			got, err := pgread.QueryAs[uuid.UUID](ctx, pool, org.String(), `SELECT `+pgx.Identifier{r.column}.Sanitize()+` FROM `+from)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			// The organization's rows, counted by the owner in the table
			// itself (under a view: the table it reads).
			var want int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+baseTable(t, pool, r.name)+` WHERE `+pgx.Identifier{r.column}.Sanitize()+` = $1`,
				org).Scan(&want); err != nil {
				t.Fatal(err)
			}
			others := slices.DeleteFunc(slices.Clone(got), func(id uuid.UUID) bool { return id == org })
			if want == 0 || len(got) != want || len(others) > 0 {
				t.Errorf("%s as %s: %d rows, %d of another organization; the organization has %d (want some)",
					r.name, org, len(got), len(others), want)
			}
		}
	}
}

// baseTable is the table a view reads, or rel itself if it is a table.
func baseTable(t *testing.T, pool *pgxpool.Pool, rel string) string {
	t.Helper()
	var base string
	err := pool.QueryRow(context.Background(), `
		SELECT coalesce((SELECT DISTINCT d.refobjid::regclass::text
		                 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
		                 WHERE r.ev_class = $1::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class),
		                $1::regclass::text)`, rel).Scan(&base)
	if err != nil {
		t.Fatalf("base table of %s: %v", rel, err)
	}
	return base
}

// waitAll waits until every projector running has processed the orgs'
// events.
func waitAll(t *testing.T, e *env, orgs ...*org) {
	t.Helper()
	names := append(projectorNames(), streamstats.Name)
	w := projections.NewWaiter(e.pool, e.progress, 10*time.Second)
	for _, o := range orgs {
		if err := w.Wait(context.Background(), o.id, names...); err != nil {
			t.Fatal(err)
		}
	}
}

// newPlainPool opens a pool on a fresh migrated database (no projectors).
func newPlainPool(t *testing.T, conns int32) *pgxpool.Pool {
	t.Helper()
	return newPoolOn(t, testenv.Postgres(t), conns)
}

func newPoolOn(t *testing.T, dsn string, conns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
