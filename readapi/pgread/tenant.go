package pgread

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/crm"
	"example.com/crm/projections"
	"example.com/crm/readapi"
)

// ReaderRole is the role every statement of the read path runs as
// (migrations/00060). Row-level security confines it to the rows of the
// organization in the setting crm.org_id, and it may only SELECT: a
// query that forgets its `org_id = $1` still answers for that
// organization only, and one run with no organization set sees nothing.
// The tables' owner (the application's login role: command path,
// projectors, rebuilds) is not subject to the policies.
const ReaderRole = "crm_reader"

// scopeSQL opens every read transaction: it becomes ReaderRole and sets
// the organization, both for this transaction only (is_local = true), so
// a connection returns to the pool as the login role with no
// organization. The role is set per transaction rather than per
// connection so that the read path can share the main pool and nothing
// else ever runs as the reader (or as the owner with a stale
// organization).
const scopeSQL = `SELECT set_config('role', '` + ReaderRole + `', true), set_config('crm.org_id', $1, true)`

// reader is the read path's only way to the database: each statement it
// runs is a transaction of its own, sent as one pgx batch (scopeSQL, then
// the statement, and one Sync: the server runs them in one implicit
// transaction), so scoping costs no round trip.
type reader struct {
	pool *pgxpool.Pool
}

// as returns the statements' runner for one organization.
func (r reader) as(orgID uuid.UUID) scoped {
	return scoped{pool: r.pool, org: orgID.String(), scope: scopeSQL}
}

// scoped runs statements as ReaderRole with crm.org_id set to org.
type scoped struct {
	pool  *pgxpool.Pool
	org   string
	scope string // scopeSQL, or scopeGenericSQL
}

// scopeGenericSQL is scopeSQL that also makes the transaction's prepared
// statements use their generic plan (see genericPlan).
const scopeGenericSQL = `SELECT set_config('role', '` + ReaderRole + `', true), set_config('crm.org_id', $1, true),
	set_config('plan_cache_mode', 'force_generic_plan', true)`

// genericPlan returns d running its statements on their cached generic
// plan instead of planning them again on every call, for a statement
// whose parameters never change its best plan but whose planning costs
// as much as its execution (the analytics summary: PostgreSQL, finding
// custom plans cheaper on paper, re-planned it on every call).
func (d scoped) genericPlan() scoped {
	d.scope = scopeGenericSQL
	return d
}

// scopeWalkSQL is scopeSQL that also keeps PostgreSQL to an ordered walk
// of an index for the transaction's statement (see walkAlong): no bitmap
// scan, and no sort while an index gives the order.
const scopeWalkSQL = `SELECT set_config('role', '` + ReaderRole + `', true), set_config('crm.org_id', $1, true),
	set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`

// walkAlong returns d running its statements as walks along the index of
// their ORDER BY: for a statement that reads a bounded number of rows in
// that order (a search's walk, see list), which the generic plan would
// otherwise read from a bitmap of every row of the organization and sort
// whenever the statistics make organizations look small (seen: 37 ms
// instead of 0.4 for 30k contacts among 389k).
func (d scoped) walkAlong() scoped {
	d.scope = scopeWalkSQL
	return d
}

// accessSQL checks that the caller is a member of the live organization
// with the role the request assumed (crm.AccessCheck), failing with the
// SQLSTATEs of the append's check: CR001 not a member, CR002 another
// role. It runs first in a read's batch, as the login role (the reader
// may not read memberships), in the read's round trip. OFFSET 0 keeps
// the role's subquery a subquery, read once: pulled up, each of the
// CASE's three mentions of a.role became a plan of its own, and the
// statement read memberships twice (0.42 → 0.26 ms a call, pgbench).
const accessSQL = `
SELECT CASE WHEN a.role IS NULL THEN crm_fail('CR001', 'not a member of the organization')
            WHEN a.role <> $3::text THEN crm_fail('CR002', 'the caller''s role changed', a.role)
            ELSE true END
FROM (SELECT (SELECT m.role FROM memberships m JOIN organizations o ON o.id = m.org_id
              WHERE m.org_id = $1::uuid AND m.user_id = $2::uuid AND o.deleted_at IS NULL) AS role OFFSET 0) a`

// accessToCheck returns the caller and the role to check when the
// request runs on an assumed role not yet confirmed, in organization
// org.
func accessToCheck(ctx context.Context, org string) (user uuid.UUID, role crm.Role, ok bool) {
	c := crm.AccessCheckFrom(ctx)
	if c == nil {
		return uuid.Nil, "", false
	}
	if _, done := c.Confirmed(); done {
		return uuid.Nil, "", false
	}
	a, aerr := crm.ActorFrom(ctx)
	t, terr := crm.TenantFrom(ctx)
	if aerr != nil || terr != nil || t.OrgID.String() != org {
		return uuid.Nil, "", false
	}
	return a.UserID, t.Role, true
}

// accessError is what a failed access check answers. The HTTP layer does
// not send it as it is: an outcome without a confirmed role is checked
// again by a fresh read (httpapi.ChecksAccess).
func accessError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "CR001":
			return crm.Errorf(crm.CodeNotAMember, "not a member of the organization")
		case "CR002":
			return crm.Errorf(crm.CodeForbidden, "the caller's role changed")
		}
	}
	return fmt.Errorf("pgread: checking access: %w", err)
}

// Query runs sql in a transaction of its own, scoped to the organization.
// The connection goes back to the pool when the rows are closed (or read
// to the end). Ahead of it, in the same round trip, go the request's
// read-your-writes check (the first statement of a request that reads
// its writes: see fresh) and, on an assumed role, the access check.
func (d scoped) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	// The connection first: a read that has to wait for the projectors
	// queues for it meanwhile, not after them.
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	fr := pendingFreshness(ctx, d.org)
	if fr != nil {
		// What this process appended itself is waited for first, in
		// memory: the check below would only send the read back to be
		// sent again. The wait holds the connection, so it is short.
		if err := fr.waiter.WaitOwn(ctx, fr.org, ownWaitMax, fr.projectors...); err != nil {
			c.Release()
			return nil, err
		}
		fr.waiter.QueueCheck(b, fr.org, fr.projectors)
	}
	user, role, check := accessToCheck(ctx, d.org)
	if check {
		b.Queue(accessSQL, d.org, user, string(role))
	}
	b.Queue(d.scope, d.org)
	b.Queue(sql, args...)
	br := c.SendBatch(ctx, b)
	release := func() {
		_ = br.Close()
		c.Release()
	}
	fail := func(err error) (pgx.Rows, error) {
		release()
		return nil, err
	}
	if fr != nil {
		h, caughtUp, err := fr.waiter.ReadCheck(br)
		if err != nil {
			return fail(err)
		}
		if !caughtUp {
			release() // the rest ran for nothing: it may not see the horizon
			if err := fr.waiter.WaitFor(ctx, h, fr.projectors...); err != nil {
				return nil, err
			}
			fr.markDone()
			return d.Query(ctx, sql, args...)
		}
		fr.markDone()
	}
	if check {
		if _, err := br.Exec(); err != nil {
			return fail(accessError(err))
		}
		crm.ConfirmRole(ctx, role)
	}
	if _, err := br.Exec(); err != nil {
		return fail(fmt.Errorf("pgread: becoming %s: %w", ReaderRole, err))
	}
	rows, err := br.Query()
	if err != nil {
		return fail(err)
	}
	return &batchRows{Rows: rows, br: br, conn: c}, nil
}

// ownWaitMax bounds how long a read holds its connection waiting for
// the projectors to pass what this process appended (Waiter.WaitOwn);
// past it the read goes on to the database's check, which may send it
// to wait without the connection. It is about the projectors' p99 delay
// under W2: most reads right after their own command wait it out, and
// a stalled projector costs the pool's other readers no more than it.
const ownWaitMax = 10 * time.Millisecond

// QueryRow is Query for a statement of one row (pgx.ErrNoRows if none).
func (d scoped) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := d.Query(ctx, sql, args...)
	return oneRow{rows: rows, err: err}
}

// batchRows are the rows of the statement of a batch: closing them (or
// reading past the last) ends the batch, which releases the connection;
// an error doing so is the rows' error.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	conn     *pgxpool.Conn
	closed   bool
	closeErr error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.closeErr = r.br.Close()
	r.conn.Release()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// oneRow is a pgx.Row over rows.
type oneRow struct {
	rows pgx.Rows
	err  error
}

func (r oneRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// readRelations lists every relation the read path reads: what
// CheckReader probes, and what the reader role is granted (migrations/00060).
// org_contacts, org_deals and org_deal_titles are the views searches read
// (see list).
var readRelations = []string{
	"contacts", "deals", "tasks", "activities", "contact_counts", "deal_counts", "task_counts",
	"analytics_deal_reached", "analytics_deal_created",
	"projector_checkpoints", "org_contacts", "org_deals", "org_deal_titles",
}

// CheckReader verifies, at start, that the read path can run: that the
// login role may become ReaderRole and that the reader may read every
// relation the queries read. A database whose migration could not create
// the role (a login role without CREATEROLE) fails here, closed, with
// what to do, rather than on every request.
func CheckReader(ctx context.Context, pool *pgxpool.Pool) error {
	b := &pgx.Batch{}
	b.Queue(scopeSQL, uuid.Nil.String())
	for _, rel := range readRelations {
		b.Queue(`SELECT NULL FROM ` + pgx.Identifier{rel}.Sanitize() + ` LIMIT 0`)
	}
	br := pool.SendBatch(ctx, b)
	for range b.QueuedQueries {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("pgread: the read path cannot run as %s (see the README, Security: an administrator "+
				"creates the role and grants it to the application's role): %w", ReaderRole, err)
		}
	}
	return br.Close()
}

// freshness is a read-your-writes wait not yet done: the tenant, the
// projectors a query reads, and whether a statement of the request has
// seen them past the tenant's horizon.
type freshness struct {
	waiter     *projections.Waiter
	org        uuid.UUID
	projectors []string
	mu         sync.Mutex
	done       bool
}

type freshnessKey struct{}

// fresh checks the tenant and returns ctx carrying the wait for
// projectors (none with no waiter, or a `Consistency: eventual` request).
func fresh(ctx context.Context, w *projections.Waiter, orgID uuid.UUID, projectors ...string) (context.Context, error) {
	if orgID == uuid.Nil {
		return ctx, crm.ErrNoTenant
	}
	if w == nil || readapi.IsEventual(ctx) {
		return ctx, nil
	}
	return context.WithValue(ctx, freshnessKey{}, &freshness{waiter: w, org: orgID, projectors: projectors}), nil
}

// pendingFreshness returns the wait a statement for org must still do, or
// nil.
func pendingFreshness(ctx context.Context, org string) *freshness {
	f, _ := ctx.Value(freshnessKey{}).(*freshness)
	if f == nil || f.org.String() != org {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil
	}
	return f
}

func (f *freshness) markDone() {
	f.mu.Lock()
	f.done = true
	f.mu.Unlock()
}
