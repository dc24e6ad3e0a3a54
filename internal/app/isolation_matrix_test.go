package app_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/mux"

	"example.com/crm/httpapi"
	"example.com/crm/internal/apitest"
)

// isolationRoute says how the tenant-isolation matrix exercises one
// operation of the router. The matrix is generated from the router: an
// operation without a case here fails the test, so a new route cannot
// ship without an isolation check.
type isolationRoute struct {
	// public: not tenant-scoped (no organization in the header or path).
	// Its body is still checked for the other organization's data.
	public bool
	// foreign is the kind of the other organization's entity put in {id}
	// (contact, deal, task) or {user_id} (user) for check 2; "" when the
	// route names no entity.
	foreign string
	// variants are query strings also tried with B's entity in the path
	// (a past version is read from the event log, not the read model).
	variants []string
	// list: with A's organization, the answer never holds B's rows.
	list bool
	// adminsOnly: the list is for owners and admins (403 for the others).
	adminsOnly bool
	// body is a request body valid enough that validation does not mask
	// the check; f's ids are organization A's own.
	body func(f isolationFixture) any
	// queries are extra query strings for list routes that name B's
	// entities in a filter (check 3).
	queries func(b isolationFixture) []string
}

// isolationFixture is one organization's team and its data.
type isolationFixture struct {
	team                 apitest.Team
	contact, deal, task  string
	webhook              string
	marker               string // in every text field of the organization's data
	amount, currencyCode string
	// bodies are the entities' answers after setup, by path.
	bodies map[string]string
}

// isolationRoutes is the case table, keyed by "METHOD template".
var isolationRoutes = map[string]isolationRoute{
	"GET /health":       {public: true},
	"GET /ready":        {public: true},
	"GET /metrics":      {public: true},
	"GET /":             {public: true},
	"GET /api/v1":       {public: true},
	"GET /docs/errors":  {public: true},
	"GET /openapi.json": {public: true},
	"GET /docs":         {public: true},
	"GET /docs/":        {public: true},
	"POST /api/v1/auth/register": {public: true, body: func(isolationFixture) any {
		return obj{"email": fmt.Sprintf("iso-%d@example.com", isoSeq()), "password": "correct horse", "name": "n", "organization_name": "o"}
	}},
	"POST /api/v1/auth/login":      {public: true, body: func(isolationFixture) any { return obj{"email": "nobody@example.com", "password": "correct horse"} }},
	"POST /api/v1/auth/refresh":    {public: true, body: func(isolationFixture) any { return obj{"refresh_token": "nope"} }},
	"GET /api/v1/auth/me":          {public: true, list: true},
	"GET /api/v1/organizations/me": {public: true, list: true},
	"POST /api/v1/organizations":   {public: true, body: func(isolationFixture) any { return obj{"name": "another"} }},

	"GET /api/v1/organizations/{org_id}":    {list: true},
	"PATCH /api/v1/organizations/{org_id}":  {body: func(isolationFixture) any { return obj{"name": "renamed"} }},
	"DELETE /api/v1/organizations/{org_id}": {},
	"POST /api/v1/organizations/{org_id}/transfer-ownership": {body: func(f isolationFixture) any {
		return obj{"user_id": f.team.Admin.ID}
	}},
	"GET /api/v1/organizations/{org_id}/members": {list: true},
	"POST /api/v1/organizations/{org_id}/members": {body: func(isolationFixture) any {
		return obj{"email": "nobody@example.com", "role": "member"}
	}},
	"GET /api/v1/organizations/{org_id}/members/{user_id}":    {foreign: "user"},
	"PATCH /api/v1/organizations/{org_id}/members/{user_id}":  {foreign: "user", body: func(isolationFixture) any { return obj{"role": "member"} }},
	"DELETE /api/v1/organizations/{org_id}/members/{user_id}": {foreign: "user"},

	"GET /api/v1/events": {list: true, adminsOnly: true, queries: func(isolationFixture) []string {
		return []string{"type=contact.*", "limit=1000"}
	}},

	"GET /api/v1/contacts": {list: true, queries: func(b isolationFixture) []string {
		return []string{"search=" + b.marker, "owner_id=" + b.team.Owner.ID}
	}},
	"POST /api/v1/contacts":        {body: func(isolationFixture) any { return obj{"name": "Grace"} }},
	"GET /api/v1/contacts/{id}":    {foreign: "contact"},
	"PATCH /api/v1/contacts/{id}":  {foreign: "contact", body: func(isolationFixture) any { return obj{"name": "x"} }},
	"DELETE /api/v1/contacts/{id}": {foreign: "contact"},

	"GET /api/v1/deals": {list: true, queries: func(b isolationFixture) []string {
		return []string{"contact_id=" + b.contact, "owner_id=" + b.team.Owner.ID, "search=" + b.marker, "currency=" + b.currencyCode}
	}},
	"POST /api/v1/deals": {body: func(f isolationFixture) any {
		return obj{"contact_id": f.contact, "title": "t", "amount": "1.00", "currency": "USD"}
	}},
	"GET /api/v1/deals/{id}":            {foreign: "deal", variants: []string{"?version=1", "?as_of=2999-01-01T00:00:00Z"}},
	"PATCH /api/v1/deals/{id}":          {foreign: "deal", body: func(isolationFixture) any { return obj{"title": "x"} }},
	"DELETE /api/v1/deals/{id}":         {foreign: "deal"},
	"GET /api/v1/deals/{id}/history":    {foreign: "deal"},
	"GET /api/v1/deals/{id}/activities": {foreign: "deal"},
	"POST /api/v1/deals/{id}/activities": {foreign: "deal", body: func(isolationFixture) any {
		return obj{"type": "comment", "payload": obj{"text": "hello"}}
	}},

	"GET /api/v1/tasks": {list: true, queries: func(b isolationFixture) []string { return []string{"deal_id=" + b.deal} }},
	"POST /api/v1/tasks": {body: func(f isolationFixture) any {
		return obj{"deal_id": f.deal, "title": "t", "due_date": "2099-01-01"}
	}},
	"GET /api/v1/tasks/{id}":    {foreign: "task"},
	"PATCH /api/v1/tasks/{id}":  {foreign: "task", body: func(isolationFixture) any { return obj{"title": "x"} }},
	"DELETE /api/v1/tasks/{id}": {foreign: "task"},

	// Webhooks are owner/admin only: no list check (managers and members
	// get 403), TestWebhookRoutes checks another organization's list.
	"GET /api/v1/webhooks": {},
	"POST /api/v1/webhooks": {body: func(isolationFixture) any {
		return obj{"url": "https://hooks.example.com/new", "event_types": []string{"task.*"}}
	}},
	"GET /api/v1/webhooks/{id}":                {foreign: "webhook"},
	"PATCH /api/v1/webhooks/{id}":              {foreign: "webhook", body: func(isolationFixture) any { return obj{"active": true} }},
	"DELETE /api/v1/webhooks/{id}":             {foreign: "webhook"},
	"POST /api/v1/webhooks/{id}/rotate-secret": {foreign: "webhook"},
	"GET /api/v1/webhooks/{id}/deliveries":     {foreign: "webhook"},
	"POST /api/v1/webhooks/{id}/replay":        {foreign: "webhook", body: func(isolationFixture) any { return obj{} }},

	"GET /api/v1/analytics/deals/summary": {list: true},
	"GET /api/v1/analytics/deals/funnel":  {list: true},
}

// bodyReferences are creates whose body names another entity: with A's
// organization and B's entity in the body, the answer is 404.
var bodyReferences = map[string]func(b isolationFixture) any{
	"POST /api/v1/deals": func(b isolationFixture) any {
		return obj{"contact_id": b.contact, "title": "t", "amount": "1.00", "currency": "USD"}
	},
	"POST /api/v1/tasks": func(b isolationFixture) any {
		return obj{"deal_id": b.deal, "title": "t", "due_date": "2099-01-01"}
	},
}

var isoCounter atomic.Int64

// isoSeq numbers the e-mails the matrix registers.
func isoSeq() int64 { return isoCounter.Add(1) }

var isolationRoles = []string{"owner", "admin", "manager", "member"}

// Tenant isolation, generated from the router: for every operation, as
// every role of organization A (and as an admin of both A and B, for
// checks 2 and 3), against organization B's data,
//
//  1. B's organization (header or {org_id}) → 403 NOT_A_MEMBER;
//  2. A's organization with B's entity in the path (or a create's body)
//     → 404, never 403 or 2xx;
//  3. lists (and every other answer) never hold B's data.
func TestTenantIsolationMatrix(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	a := newIsolationFixture(t, s, "alpha")
	b := newIsolationFixture(t, s, "bravo")
	// bridge is an admin of both A and B: with A's header, B's data is
	// still another organization's (the header, not the caller's
	// memberships, scopes a request).
	bridge := s.Member(t, b.team.Owner, "admin")
	expect(t, s.As(a.team.Owner, post("/organizations/"+a.team.Owner.Org+"/members", obj{"email": bridge.Email, "role": "admin"})), http.StatusCreated)
	callers := []string{"owner", "admin", "manager", "member", "admin of A and B"}
	b.snapshot(t, s)

	ops := routerOperations(t, s)
	if len(ops) < 40 {
		t.Fatalf("only %d operations walked", len(ops))
	}
	for _, key := range uncoveredOperations(ops) {
		t.Errorf("%s: no tenant-isolation case; add a case for %q to isolationRoutes", key, key)
	}
	known := map[string]bool{}
	checked := 0
	for _, o := range ops {
		key := o.method + " " + o.path
		known[key] = true
		c, ok := isolationRoutes[key]
		if !ok {
			continue // reported above
		}
		for _, role := range callers {
			caller, inB := a.team.ByRole(role), false
			if role == "admin of A and B" {
				caller, inB = bridge, true
			}
			name := key + " as " + role
			send := func(check, path, org string, body any) *apitest.Response {
				req := apitest.Request{Method: o.method, Path: path, Token: caller.Token, Org: org, Body: body}
				r := s.Do(req)
				checked++
				b.mustNotLeak(t, name+" ("+check+": "+path+")", r)
				return r
			}
			var body any
			if c.body != nil {
				body = c.body(a)
			} else if o.method == http.MethodPost || o.method == http.MethodPatch {
				body = obj{}
			}
			if c.public {
				if inB {
					continue // B is rightly among the caller's organizations
				}
				if o.method == http.MethodGet || role == "owner" {
					send("public", o.path, "", body)
				}
				continue
			}
			// 1. B's organization, from outside → 403 NOT_A_MEMBER. The
			// path names B's entities, so an entity lookup done before the
			// membership check shows as 200 or 404.
			if !inB {
				// Under /organizations/{org_id} the path names the organization:
				// A's header beside it must not lend A's membership to B.
				header := b.team.Owner.Org
				if strings.Contains(o.path, "{org_id}") {
					header = a.team.Owner.Org
				}
				r := send("other organization", b.path(o.path), header, body)
				if r.Status != http.StatusForbidden || r.Code() != "NOT_A_MEMBER" {
					t.Errorf("%s with B's organization: %d %s, want 403 NOT_A_MEMBER", name, r.Status, r.Body)
				}
			}
			// 2. A's organization, B's entity → 404.
			if c.foreign != "" {
				path := a.path(strings.NewReplacer("{id}", b.id(c.foreign), "{user_id}", b.id(c.foreign)).Replace(o.path))
				for _, q := range append([]string{""}, c.variants...) {
					r := send("other organization's entity", path+q, a.team.Owner.Org, body)
					if r.Status != http.StatusNotFound {
						t.Errorf("%s%s with B's %s: %d %s, want 404", name, q, c.foreign, r.Status, r.Body)
					}
				}
			}
			if ref, ok := bodyReferences[key]; ok {
				r := send("other organization's entity in the body", o.path, a.team.Owner.Org, ref(b))
				if r.Status != http.StatusNotFound {
					t.Errorf("%s with B's entity in the body: %d %s, want 404", name, r.Status, r.Body)
				}
			}
			// 3. Lists of A, also filtered by B's ids.
			if c.list {
				queries := []string{""}
				if c.queries != nil {
					for _, q := range c.queries(b) {
						queries = append(queries, "?"+q)
					}
				}
				for _, q := range queries {
					r := send("list", a.path(o.path)+q, a.team.Owner.Org, nil)
					want := http.StatusOK
					if c.adminsOnly && (role == "manager" || role == "member") {
						want = http.StatusForbidden
					}
					if r.Status != want {
						t.Errorf("%s%s: %d %s, want %d", name, q, r.Status, r.Body, want)
					}
				}
			}
		}
	}
	for key := range isolationRoutes {
		if !known[key] {
			t.Errorf("isolationRoutes has a case for %q, which the router does not serve", key)
		}
	}
	for key := range bodyReferences {
		if !known[key] {
			t.Errorf("bodyReferences has a case for %q, which the router does not serve", key)
		}
	}
	// B's data is untouched by everything A's team tried.
	b.mustBeIntact(t, s)
	t.Logf("%d operations × %d callers, %d requests", len(ops), len(callers), checked)
}

// operation is one method of one route template.
type operation struct{ method, path string }

// routerOperations walks the server's router: every method (but HEAD and
// OPTIONS, which the middleware derives) of every route with a handler.
func routerOperations(t *testing.T, s *apitest.Server) []operation {
	t.Helper()
	var ops []operation
	err := s.App.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if route.GetHandler() == nil || err != nil {
			return nil
		}
		methods, _ := route.GetMethods()
		for _, m := range methods {
			if m != http.MethodHead && m != http.MethodOptions {
				ops = append(ops, operation{m, tpl})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// uncoveredOperations are the operations isolationRoutes has no case for.
func uncoveredOperations(ops []operation) []string {
	var missing []string
	for _, o := range ops {
		if _, ok := isolationRoutes[o.method+" "+o.path]; !ok {
			missing = append(missing, o.method+" "+o.path)
		}
	}
	return missing
}

// A route added without an isolation case is reported by name: the
// matrix cannot silently skip it.
func TestTenantIsolationMatrixReportsANewRoute(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{Routes: func(api *httpapi.API) {
		stub := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		api.OrgScoped().Handle("/invoices/{id}", stub).Methods(http.MethodGet)
	}})
	got := uncoveredOperations(routerOperations(t, s))
	if want := []string{"GET /api/v1/invoices/{id}"}; !slices.Equal(got, want) {
		t.Errorf("uncovered operations %q, want %q", got, want)
	}
}

// newIsolationFixture registers a team and gives it a contact, a deal and
// a task whose texts carry a marker, and a deal in a currency of its own.
func newIsolationFixture(t *testing.T, s *apitest.Server, name string) isolationFixture {
	t.Helper()
	f := isolationFixture{team: s.NewTeam(t), marker: name + "marker", amount: "777.01", currencyCode: "CHF"}
	if name == "alpha" {
		f.amount, f.currencyCode = "333.03", "USD"
	}
	owner := f.team.Owner
	f.contact = newContact(t, s, owner, obj{"name": f.marker + " contact", "email": f.marker + "@example.com"})
	f.deal = newDeal(t, s, owner, f.contact, obj{"title": f.marker + " deal", "amount": f.amount, "currency": f.currencyCode})
	r := s.As(owner, post("/tasks", obj{"deal_id": f.deal, "title": f.marker + " task", "due_date": "2099-01-01"}))
	expect(t, r, http.StatusCreated)
	f.task = r.JSON(t)["id"].(string)
	expect(t, s.As(owner, post("/deals/"+f.deal+"/activities", obj{"type": "comment", "payload": obj{"text": f.marker + " comment"}})), http.StatusCreated)
	r = s.As(owner, post("/webhooks", obj{"url": "https://hooks.example.com/" + f.marker, "event_types": []string{"task.*"}}))
	expect(t, r, http.StatusCreated)
	f.webhook = r.JSON(t)["id"].(string)
	return f
}

// path fills a template's {org_id} with f's organization and its
// {id}/{user_id} with f's own entities of the route.
func (f isolationFixture) path(tpl string) string {
	id := f.contact
	switch {
	case strings.HasPrefix(tpl, "/api/v1/deals/"):
		id = f.deal
	case strings.HasPrefix(tpl, "/api/v1/tasks/"):
		id = f.task
	case strings.HasPrefix(tpl, "/api/v1/webhooks/"):
		id = f.webhook
	}
	return strings.NewReplacer("{org_id}", f.team.Owner.Org, "{user_id}", f.team.Member.ID, "{id}", id).Replace(tpl)
}

func (f isolationFixture) id(kind string) string {
	switch kind {
	case "contact":
		return f.contact
	case "deal":
		return f.deal
	case "task":
		return f.task
	case "webhook":
		return f.webhook
	case "user":
		return f.team.Member.ID
	}
	panic("unknown entity kind " + kind)
}

// mustNotLeak fails t when r holds any of f's data: its organization,
// entities, users, texts or amounts. Bodies that echo the id the caller
// sent (an error's detail) are not leaks: the ids are checked in 2xx
// answers only.
func (f isolationFixture) mustNotLeak(t *testing.T, name string, r *apitest.Response) {
	t.Helper()
	body := string(r.Body)
	secrets := []string{f.marker, f.amount}
	if r.Status < 300 {
		secrets = append(secrets, f.team.Owner.Org, f.contact, f.deal, f.task, f.webhook)
		for _, role := range isolationRoles {
			u := f.team.ByRole(role)
			secrets = append(secrets, u.ID, u.Email)
		}
	}
	var leaked []string
	for _, s := range secrets {
		if strings.Contains(body, s) {
			leaked = append(leaked, s)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("%s: %d answer holds B's %q: %s", name, r.Status, leaked, body)
	}
}

// entityPaths are the paths of f's entities and organization.
func (f isolationFixture) entityPaths() []string {
	org := "/organizations/" + f.team.Owner.Org
	return []string{"/contacts/" + f.contact, "/deals/" + f.deal, "/tasks/" + f.task,
		"/deals/" + f.deal + "/activities", org, org + "/members", "/webhooks/" + f.webhook}
}

// snapshot records how f's entities answer, for mustBeIntact.
func (f *isolationFixture) snapshot(t *testing.T, s *apitest.Server) {
	t.Helper()
	f.bodies = map[string]string{}
	for _, path := range f.entityPaths() {
		r := s.As(f.team.Owner, get(path))
		expect(t, r, http.StatusOK)
		f.bodies[path] = string(r.Body)
	}
}

// mustBeIntact fails t unless f's entities, organization and members
// answer as they did after setup.
func (f isolationFixture) mustBeIntact(t *testing.T, s *apitest.Server) {
	t.Helper()
	for _, path := range f.entityPaths() {
		r := s.As(f.team.Owner, get(path))
		if string(r.Body) != f.bodies[path] {
			t.Errorf("B's %s changed:\nbefore %s\nafter  %d %s", path, f.bodies[path], r.Status, r.Body)
		}
	}
}
