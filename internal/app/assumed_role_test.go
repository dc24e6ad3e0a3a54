package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/internal/apitest"
	"example.com/crm/internal/app"
)

// requestStatements is a pgx tracer that records the SQL the main pool
// sends on behalf of each request (by its X-Request-Id), so a test can
// count a request's round trips without the background's.
type requestStatements struct {
	mu  sync.Mutex
	sql map[string][]string
}

func (s *requestStatements) record(ctx context.Context, sql string) {
	if id := crm.RequestIDFrom(ctx); id != "" {
		s.mu.Lock()
		s.sql[id] = append(s.sql[id], sql)
		s.mu.Unlock()
	}
}

func (s *requestStatements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.record(ctx, d.SQL)
	return ctx
}

// TraceBatchStart records a pipelined batch as one round trip, its
// statements joined.
func (s *requestStatements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	var sql []string
	for _, q := range d.Batch.QueuedQueries {
		sql = append(sql, q.SQL)
	}
	s.record(ctx, strings.Join(sql, ";\n"))
	return ctx
}

func (s *requestStatements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData)     {}
func (s *requestStatements) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *requestStatements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (s *requestStatements) of(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sql[id]
}

// isAccessRead tells the HTTP layer's membership read (identity.Access)
// from the statements of commands.
func isAccessRead(sql string) bool {
	return strings.Contains(sql, "SELECT EXISTS (SELECT 1 FROM users")
}

// A request costs its own statements alone: the caller's membership and
// role are checked inside the append's statement, or in the read's batch
// ahead of its query, not read before them, once the process has read
// them for an earlier request.
func TestARequestCostsOnlyItsOwnStatements(t *testing.T) {
	t.Parallel()
	trace := &requestStatements{sql: map[string][]string{}}
	s := apitest.Start(t, apitest.Options{AppOptions: []app.Option{app.WithQueryTracer(trace)}})
	tm := s.NewTeam(t)
	as := func(u apitest.User, id string, req apitest.Request) *apitest.Response {
		return s.As(u, header(req, "X-Request-Id", id))
	}

	// The first request of a caller reads their role.
	expect(t, as(tm.Manager, "first", get("/contacts")), http.StatusOK)
	if n := countAccess(trace.of("first")); n != 1 {
		t.Fatalf("the first request read the role %d times: %q", n, trace.of("first"))
	}
	r := as(tm.Manager, "create", post("/contacts", obj{"name": "Ada"}))
	expect(t, r, http.StatusCreated)
	if sql := trace.of("create"); len(sql) != 1 || isAccessRead(sql[0]) {
		t.Fatalf("creating a contact sent %d statements (%d role reads), want the append alone", len(sql), countAccess(sql))
	}
	contact := r.JSON(t)["id"].(string)
	r = as(tm.Manager, "deal", post("/deals", obj{"title": "T", "contact_id": contact, "amount": "10.00", "currency": "EUR"}))
	expect(t, r, http.StatusCreated)
	deal := r.JSON(t)["id"].(string)
	expect(t, as(tm.Manager, "patch", patch("/deals/"+deal, obj{"stage": "proposal"})), http.StatusOK)
	expect(t, as(tm.Manager, "comment", post("/deals/"+deal+"/activities", obj{"type": "comment", "payload": obj{"text": "hi"}})), http.StatusCreated)
	expect(t, as(tm.Manager, "task", post("/tasks", obj{"deal_id": deal, "title": "call", "due_date": "2099-01-01"})), http.StatusCreated)
	for _, id := range []string{"deal", "patch", "comment", "task"} {
		if n := countAccess(trace.of(id)); n != 0 || len(trace.of(id)) == 0 {
			t.Fatalf("%s: %d role reads in %d statements", id, n, len(trace.of(id)))
		}
	}
	// A read-model query checks the role, and that the read models have
	// caught up with the caller's writes, in its own round trip.
	// (The first read may wait for the projectors, and then read again.)
	expect(t, as(tm.Manager, "caught up", get("/deals/"+deal)), http.StatusOK)
	expect(t, as(tm.Manager, "one", get("/deals/"+deal)), http.StatusOK)
	if sql := trace.of("one"); len(sql) != 1 {
		t.Fatalf("GET /deals/{id}: %d round trips, want 1", len(sql))
	}
	for id, path := range map[string]string{"get": "/deals/" + deal, "list": "/deals?order_by=amount", "tasks": "/tasks"} {
		// Each path's read models caught up first (the tasks projector
		// may still be behind when the deals' are not).
		expect(t, as(tm.Manager, "caught up "+id, get(path)), http.StatusOK)
		expect(t, as(tm.Manager, id, get(path)), http.StatusOK)
		sql := trace.of(id)
		checks := 0
		for _, q := range sql {
			checks += strings.Count(q, "crm_fail('CR001'")
		}
		if len(sql) == 0 || countAccess(sql) != 0 || checks != 1 {
			t.Fatalf("%s: %d round trips, %d role reads, %d checks; want the check once, in a query's batch", path, len(sql), countAccess(sql), checks)
		}
	}
	// Replays read the event store: the role is read after, as before.
	expect(t, as(tm.Manager, "replay", get("/deals/"+deal+"?version=1")), http.StatusOK)
	if n := countAccess(trace.of("replay")); n != 1 {
		t.Fatalf("a replay read the role %d times", n)
	}
}

func countAccess(sql []string) (n int) {
	for _, q := range sql {
		if isAccessRead(q) {
			n++
		}
	}
	return n
}

// Whatever role the process remembers, the answer is the one the caller's
// membership gives when the request is decided: removed, demoted,
// promoted, or their organization deleted, after the process last read
// their role.
func TestARememberedRoleNeverDecides(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	contact := newContact(t, s, tm.Owner, nil)
	ownersDeal := newDeal(t, s, tm.Owner, contact, nil)
	expect(t, s.As(tm.Owner, patch("/deals/"+ownersDeal, obj{"stage": "negotiation"})), http.StatusOK)
	managersDeal := newDeal(t, s, tm.Manager, contact, nil)
	expect(t, s.As(tm.Manager, patch("/deals/"+managersDeal, obj{"stage": "negotiation"})), http.StatusOK)
	// Every one of them has written: the process knows their roles.
	for _, u := range []apitest.User{tm.Admin, tm.Member} {
		newContact(t, s, u, nil)
	}

	t.Run("removed", func(t *testing.T) {
		expect(t, s.As(tm.Owner, del(orgPath(tm.Owner.Org, "/members/", tm.Member.ID))), http.StatusNoContent)
		expect(t, s.As(tm.Member, post("/contacts", obj{"name": "After removal"})), http.StatusForbidden, "NOT_A_MEMBER")
		expect(t, s.As(tm.Member, post("/contacts", obj{"name": 5})), http.StatusForbidden, "NOT_A_MEMBER")
		expect(t, s.As(tm.Member, patch("/deals/00000000-0000-7000-8000-000000000000", obj{"title": "x"})), http.StatusForbidden, "NOT_A_MEMBER")
		expect(t, s.As(tm.Member, post("/deals/"+ownersDeal+"/activities", obj{"type": "comment", "payload": obj{"text": "still here?"}})), http.StatusForbidden, "NOT_A_MEMBER")

		r := s.As(tm.Owner, get("/contacts?search=After+removal"))
		expect(t, r, http.StatusOK)
		if items := r.JSON(t)["items"].([]any); len(items) != 0 {
			t.Fatalf("a removed member wrote: %s", r.Body)
		}
	})
	t.Run("removed, then reading", func(t *testing.T) {
		// Each path is the first request after the removal of a member
		// the process knows.
		for _, path := range []string{"/contacts", "/deals/" + ownersDeal, "/deals/" + ownersDeal + "/activities",
			"/tasks", "/analytics/deals/summary", "/deals/" + ownersDeal + "?version=1"} {
			m := s.Member(t, tm.Owner, "member")
			expect(t, s.As(m, get("/contacts")), http.StatusOK)
			expect(t, s.As(tm.Owner, del(orgPath(tm.Owner.Org, "/members/", m.ID))), http.StatusNoContent)
			expect(t, s.As(m, get(path)), http.StatusForbidden, "NOT_A_MEMBER")
		}
	})
	t.Run("demoted", func(t *testing.T) {
		expect(t, s.As(tm.Owner, patch(orgPath(tm.Owner.Org, "/members/", tm.Admin.ID), obj{"role": "member"})), http.StatusOK)
		// An admin could roll the owner's deal back; a member may not touch it.
		expect(t, s.As(tm.Admin, patch("/deals/"+ownersDeal, obj{"stage": "qualification"})), http.StatusForbidden, "FORBIDDEN")
		r := s.As(tm.Owner, get("/deals/"+ownersDeal))
		if r.JSON(t)["stage"] != "negotiation" {
			t.Fatalf("a demoted admin moved the deal: %s", r.Body)
		}
	})
	t.Run("promoted", func(t *testing.T) {
		expect(t, s.As(tm.Owner, patch(orgPath(tm.Owner.Org, "/members/", tm.Manager.ID), obj{"role": "admin"})), http.StatusOK)
		// A manager may not roll back; the admin they now are may.
		r := s.As(tm.Manager, patch("/deals/"+managersDeal, obj{"stage": "qualification"}))
		expect(t, r, http.StatusOK)
		if r.JSON(t)["stage"] != "qualification" {
			t.Fatalf("rollback by a promoted manager: %s", r.Body)
		}
	})
	t.Run("organization deleted", func(t *testing.T) {
		expect(t, s.As(tm.Owner, del(orgPath(tm.Owner.Org))), http.StatusNoContent)
		expect(t, s.As(tm.Manager, post("/contacts", obj{"name": "Into the void"})), http.StatusForbidden, "NOT_A_MEMBER")
		expect(t, s.As(tm.Owner, post("/contacts", obj{"name": "Into the void"})), http.StatusForbidden, "NOT_A_MEMBER")
	})
}
