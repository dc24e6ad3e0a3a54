package app_test

import (
	"net/http"
	"strings"
	"testing"

	"example.com/crm/internal/apitest"
)

// The input hardening of issue 9 (items 2–10), end to end: each case
// answered 500, 200 or a non-problem before.

func TestNULIsAValidationError(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	contact := newContact(t, s, tm.Owner, nil)
	deal := newDeal(t, s, tm.Owner, contact, nil)
	nul := "a\x00b"
	for _, c := range []struct {
		name string
		req  apitest.Request
		as   *apitest.User
	}{
		{"login e-mail (unauthenticated)", apitest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: obj{"email": "x\x00@example.com", "password": "whatever1"}}, nil},
		{"register name", apitest.Request{Method: http.MethodPost, Path: "/api/v1/auth/register", Body: obj{"email": "nul@example.com", "password": "correct horse", "name": nul, "organization_name": "o"}}, nil},
		{"register organization name", apitest.Request{Method: http.MethodPost, Path: "/api/v1/auth/register", Body: obj{"email": "nul2@example.com", "password": "correct horse", "name": "n", "organization_name": nul}}, nil},
		{"organization name", post("/organizations", obj{"name": nul}), &tm.Owner},
		{"contact name", post("/contacts", obj{"name": nul}), &tm.Owner},
		{"contact patch", patch("/contacts/"+contact, obj{"phone": nul}), &tm.Owner},
		{"deal title", post("/deals", obj{"contact_id": contact, "title": nul, "amount": 1, "currency": "USD"}), &tm.Owner},
		{"deal patch", patch("/deals/"+deal, obj{"title": nul}), &tm.Owner},
		{"task title", post("/tasks", obj{"deal_id": deal, "title": nul, "due_date": "2099-01-01"}), &tm.Owner},
		{"task description", post("/tasks", obj{"deal_id": deal, "title": "t", "description": nul, "due_date": "2099-01-01"}), &tm.Owner},
		{"comment", post("/deals/"+deal+"/activities", obj{"type": "comment", "payload": obj{"text": nul}}), &tm.Owner},
		{"contact search", get("/contacts?search=a%00b"), &tm.Owner},
	} {
		var r *apitest.Response
		if c.as != nil {
			r = s.As(*c.as, c.req)
		} else {
			r = s.Do(c.req)
		}
		if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
			t.Errorf("%s: %d %s, want 400 VALIDATION_ERROR", c.name, r.Status, r.Body)
		}
	}
}

func TestDealVersionParameters(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	deal := newDeal(t, s, u, newContact(t, s, u, nil), nil)
	for _, q := range []string{
		"version=2147483648", "version=99999999999999999999", "version=-1", "version=1.0",
		"version=1&version=2", "as_of=2026-01-01T00:00:00Z&as_of=2027-01-01T00:00:00Z",
		"version=1&as_of=2026-01-01T00:00:00Z", "version=",
	} {
		expect(t, s.As(u, get("/deals/"+deal+"?"+q)), http.StatusBadRequest, "VALIDATION_ERROR")
	}
	expect(t, s.As(u, get("/deals/"+deal+"?version=2147483647")), http.StatusNotFound)
	for _, q := range []string{"page=1&page=2", "order=asc&order=desc", "search=a&search=b", "currency=USD&currency=EUR", "min_amount=1&min_amount=2"} {
		expect(t, s.As(u, get("/deals?"+q)), http.StatusBadRequest, "VALIDATION_ERROR")
	}
}

// A deleted deal's past is for owners and admins, like its history.
func TestDeletedDealPastIsForOwnersAndAdmins(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	deal := newDeal(t, s, tm.Member, newContact(t, s, tm.Member, nil), nil)
	expect(t, s.As(tm.Member, get("/deals/"+deal+"?version=1")), http.StatusOK)
	expect(t, s.As(tm.Member, del("/deals/"+deal)), http.StatusNoContent)
	asOf := "2999-01-01T00:00:00Z"
	for _, u := range []apitest.User{tm.Member, tm.Manager} {
		expect(t, s.As(u, get("/deals/"+deal+"?version=1")), http.StatusForbidden, "FORBIDDEN")
		expect(t, s.As(u, get("/deals/"+deal+"?as_of="+asOf)), http.StatusForbidden, "FORBIDDEN")
		// The role before the parameters.
		expect(t, s.As(u, get("/deals/"+deal+"?version=0")), http.StatusForbidden, "FORBIDDEN")
		expect(t, s.As(u, get("/deals/"+deal+"/history?page=0")), http.StatusForbidden, "FORBIDDEN")
		expect(t, s.As(u, get("/deals/"+deal+"/history")), http.StatusForbidden, "FORBIDDEN")
	}
	for _, u := range []apitest.User{tm.Owner, tm.Admin} {
		expect(t, s.As(u, get("/deals/"+deal+"?version=1")), http.StatusOK)
		expect(t, s.As(u, get("/deals/"+deal+"?as_of="+asOf)), http.StatusNotFound, "DEAL_NOT_FOUND") // deleted by then
	}
}

// API.md's order of checks: entity (404) → role (403) → body (400).
func TestOrderOfChecksOnPatch(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	contact := newContact(t, s, tm.Owner, nil)
	deal := newDeal(t, s, tm.Owner, contact, nil)
	task := s.As(tm.Owner, post("/tasks", obj{"deal_id": deal, "title": "t", "due_date": "2099-01-01"}))
	expect(t, task, http.StatusCreated)
	taskID := task.JSON(t)["id"].(string)
	bad := obj{"title": 5}
	expect(t, s.As(tm.Member, patch("/deals/"+deal, bad)), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, patch("/contacts/"+contact, bad)), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, patch("/tasks/"+taskID, bad)), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, header(patch("/deals/"+deal, obj{"title": "x"}), "If-Match", "nope")), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, patch("/deals/00000000-0000-7000-8000-000000000000", bad)), http.StatusNotFound)
	// The caller's own: the body is judged.
	expect(t, s.As(tm.Manager, patch("/deals/"+deal, bad)), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(tm.Owner, header(patch("/deals/"+deal, obj{"title": "x"}), "If-Match", "1")), http.StatusBadRequest, "VALIDATION_ERROR")

	// A DELETE's malformed If-Match, likewise.
	nope := func(req apitest.Request) apitest.Request { return header(req, "If-Match", "nope") }
	expect(t, s.As(tm.Member, nope(del("/deals/"+deal))), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, nope(del("/contacts/"+contact))), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, nope(del("/tasks/"+taskID))), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Owner, nope(del("/deals/00000000-0000-7000-8000-000000000000"))), http.StatusNotFound)
	expect(t, s.As(tm.Owner, nope(del("/deals/"+deal))), http.StatusBadRequest, "VALIDATION_ERROR")

	// A comment's body on a deal the caller cannot see: 404 first (any
	// member may comment).
	other := s.Register(t)
	elsewhere := newDeal(t, s, other, newContact(t, s, other, nil), nil)
	badComment := obj{"type": "comment"}
	expect(t, s.As(tm.Member, post("/deals/"+elsewhere+"/activities", badComment)), http.StatusNotFound, "DEAL_NOT_FOUND")
	expect(t, s.As(tm.Member, post("/deals/"+elsewhere+"/activities", `{"type":`)), http.StatusNotFound, "DEAL_NOT_FOUND")
	expect(t, s.As(tm.Member, post("/deals/"+deal+"/activities", badComment)), http.StatusBadRequest, "VALIDATION_ERROR")
	// A create's refused body: the owner it names (members assign to
	// themselves only) and a task's deal come first.
	expect(t, s.As(tm.Member, post("/contacts", obj{"owner_id": tm.Owner.ID})), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, post("/deals", obj{"contact_id": contact, "title": "t", "amount": "x", "currency": "USD", "owner_id": tm.Owner.ID})), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, post("/tasks", obj{"deal_id": deal})), http.StatusForbidden, "FORBIDDEN")
	expect(t, s.As(tm.Member, post("/tasks", obj{"deal_id": elsewhere})), http.StatusNotFound, "DEAL_NOT_FOUND")
	expect(t, s.As(tm.Member, post("/contacts", obj{"owner_id": tm.Member.ID})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(tm.Manager, post("/contacts", obj{"owner_id": tm.Owner.ID})), http.StatusBadRequest, "VALIDATION_ERROR")

	// And its timeline's parameters.
	expect(t, s.As(tm.Member, get("/deals/"+elsewhere+"/activities?type=nope")), http.StatusNotFound, "DEAL_NOT_FOUND")
	expect(t, s.As(tm.Member, get("/deals/"+deal+"/activities?type=nope")), http.StatusBadRequest, "VALIDATION_ERROR")
	// And the parameters of its history and replay.
	for _, q := range []string{"?version=0", "?as_of=bad", "?version=1&as_of=2026-01-01T00:00:00Z", "/history?page=0"} {
		expect(t, s.As(tm.Member, get("/deals/"+elsewhere+q)), http.StatusNotFound, "DEAL_NOT_FOUND")
		expect(t, s.As(tm.Member, get("/deals/"+deal+q)), http.StatusBadRequest, "VALIDATION_ERROR")
	}

	// A business rule before If-Match: an owner who is not a member.
	stale := func(req apitest.Request) apitest.Request { return header(req, "If-Match", `"99"`) }
	expect(t, s.As(tm.Owner, stale(patch("/deals/"+deal, obj{"owner_id": other.ID}))), http.StatusBadRequest, "OWNER_NOT_MEMBER")
	expect(t, s.As(tm.Owner, stale(patch("/contacts/"+contact, obj{"owner_id": other.ID}))), http.StatusBadRequest, "OWNER_NOT_MEMBER")
	expect(t, s.As(tm.Owner, stale(patch("/deals/"+deal, obj{"owner_id": tm.Manager.ID}))), http.StatusPreconditionFailed, "VERSION_MISMATCH")
	expect(t, s.As(tm.Owner, stale(patch("/contacts/"+contact, obj{"owner_id": tm.Owner.ID}))), http.StatusPreconditionFailed, "VERSION_MISMATCH")
}

// A task of a deleted deal is gone for every verb.
func TestTaskOfADeletedDealIsGone(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	deal := newDeal(t, s, u, newContact(t, s, u, nil), nil)
	r := s.As(u, post("/tasks", obj{"deal_id": deal, "title": "t", "due_date": "2099-01-01"}))
	expect(t, r, http.StatusCreated)
	task := r.JSON(t)["id"].(string)
	expect(t, s.As(u, del("/deals/"+deal)), http.StatusNoContent)
	expect(t, s.As(u, get("/tasks/"+task)), http.StatusNotFound, "NOT_FOUND")
	expect(t, s.As(u, patch("/tasks/"+task, obj{"is_done": true})), http.StatusNotFound, "NOT_FOUND")
	expect(t, s.As(u, patch("/tasks/"+task, obj{"title": 5})), http.StatusNotFound, "NOT_FOUND")
	expect(t, s.As(u, del("/tasks/"+task)), http.StatusNotFound, "NOT_FOUND")
	expect(t, s.As(u, post("/tasks", obj{"deal_id": deal, "title": "t", "due_date": "2099-01-01"})), http.StatusNotFound)
}

// Bodies are read as strictly as the contract says.
func TestStrictBodies(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	deal := newDeal(t, s, u, contact, nil)
	for _, c := range []struct {
		name string
		req  apitest.Request
	}{
		{"key case", post("/contacts", `{"NAME":"x"}`)},
		{"duplicate key", post("/contacts", `{"name":"x","name":"y"}`)},
		{"null PATCH body", patch("/deals/"+deal, `null`)},
		{"uuid in braces", post("/deals", `{"contact_id":"{`+contact+`}","title":"t","amount":1,"currency":"USD"}`)},
		{"uuid urn", post("/deals", `{"contact_id":"urn:uuid:`+contact+`","title":"t","amount":1,"currency":"USD"}`)},
		{"uuid without hyphens", post("/deals", `{"contact_id":"`+strings.ReplaceAll(contact, "-", "")+`","title":"t","amount":1,"currency":"USD"}`)},
		{"currency with long s", post("/deals", obj{"contact_id": contact, "title": "t", "amount": 1, "currency": "uſd"})},
		{"currency with a space", post("/deals", obj{"contact_id": contact, "title": "t", "amount": 1, "currency": " USD"})},
		{"amount with an exponent", post("/deals", obj{"contact_id": contact, "title": "t", "amount": "1e3", "currency": "USD"})},
		{"currency filter with a space", get("/deals?currency=%20USD")},
		{"malformed If-Match", header(patch("/deals/"+deal, obj{"title": "x"}), "If-Match", `"abc"`)},
		{"If-Match past int32", header(patch("/deals/"+deal, obj{"title": "x"}), "If-Match", `"2147483648"`)},
	} {
		r := s.As(u, c.req)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", c.name, r.Status, r.Body)
		}
	}
	// Upper-case UUIDs are canonical too.
	expect(t, s.As(u, post("/deals", obj{"contact_id": strings.ToUpper(contact), "title": "t", "amount": 1, "currency": "usd"})), http.StatusCreated)
}

// E-mails fold ASCII letters only: a look-alike is another address.
func TestEmailFolding(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	register := func(email string) *apitest.Response {
		return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/auth/register", Body: obj{
			"email": email, "password": "correct horse", "name": "n", "organization_name": "o"}})
	}
	login := func(email string) *apitest.Response {
		return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/auth/login", Body: obj{"email": email, "password": "correct horse"}})
	}
	expect(t, register("kate@fold.example.com"), http.StatusCreated)
	expect(t, login("KATE@Fold.Example.com"), http.StatusOK)
	expect(t, login("\u212aate@fold.example.com"), http.StatusUnauthorized, "INVALID_CREDENTIALS") // Kelvin sign
	expect(t, register("KATE@FOLD.example.com"), http.StatusConflict, "EMAIL_TAKEN")
}

// Every error is a problem, also those the router answers.
func TestRouterErrorsAreProblems(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	for _, c := range []struct {
		req    apitest.Request
		status int
	}{
		{apitest.Request{Method: http.MethodGet, Path: "/api/v1//deals"}, http.StatusNotFound},
		{apitest.Request{Method: http.MethodPost, Path: "//api/v1/contacts", Body: obj{"name": "x"}}, http.StatusNotFound},
		{apitest.Request{Method: http.MethodGet, Path: "/api/v1/deals/../contacts"}, http.StatusNotFound},
	} {
		r := s.As(u, c.req)
		if r.Status != c.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q %s, want %d problem+json", c.req.Method, c.req.Path, r.Status, r.Header.Get("Content-Type"), r.Body, c.status)
		}
	}
	// HEAD is GET without the body.
	for _, path := range []string{"/health", "/api/v1/deals"} {
		r := s.As(u, apitest.Request{Method: http.MethodHead, Path: path})
		if r.Status != http.StatusOK || len(r.Body) != 0 {
			t.Errorf("HEAD %s: %d %q", path, r.Status, r.Body)
		}
	}
	r := s.Do(apitest.Request{Method: http.MethodHead, Path: "/api/v1/deals"})
	if r.Status != http.StatusUnauthorized || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("HEAD without a token: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
}

// API.md's order of checks on the organization routes: the member named
// by the path (404), then the caller's role (403), then the body or the
// If-Match (400), whatever is wrong with the body.
func TestOrderOfChecksOnTheOrganizationRoutes(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	org := tm.Owner.Org
	nobody := "00000000-0000-7000-8000-000000000000"
	notJSON := `{"name":`
	for _, c := range []struct {
		name   string
		as     apitest.User
		req    apitest.Request
		status int
		code   string
	}{
		{"a manager renames with no name", tm.Manager, patch(orgPath(org), obj{}), http.StatusForbidden, "FORBIDDEN"},
		{"a manager renames with a body that is not JSON", tm.Manager, patch(orgPath(org), notJSON), http.StatusForbidden, "FORBIDDEN"},
		{"a manager renames with a malformed If-Match", tm.Manager, header(patch(orgPath(org), obj{"name": "x"}), "If-Match", "nope"), http.StatusForbidden, "FORBIDDEN"},
		{"an admin renames with no name", tm.Admin, patch(orgPath(org), obj{}), http.StatusBadRequest, "VALIDATION_ERROR"},
		{"an admin deletes with a malformed If-Match", tm.Admin, header(del(orgPath(org)), "If-Match", "nope"), http.StatusForbidden, "FORBIDDEN"},
		{"an admin transfers to nobody named", tm.Admin, post(orgPath(org, "/transfer-ownership"), obj{}), http.StatusForbidden, "FORBIDDEN"},
		{"an admin transfers to a malformed id", tm.Admin, post(orgPath(org, "/transfer-ownership"), obj{"user_id": "abc"}), http.StatusForbidden, "FORBIDDEN"},
		{"the owner transfers to nobody named", tm.Owner, post(orgPath(org, "/transfer-ownership"), obj{}), http.StatusBadRequest, "VALIDATION_ERROR"},
		{"a member adds a malformed id", tm.Member, post(orgPath(org, "/members"), obj{"user_id": "abc", "role": "member"}), http.StatusForbidden, "FORBIDDEN"},
		{"a member adds with a body that is not JSON", tm.Member, post(orgPath(org, "/members"), notJSON), http.StatusForbidden, "FORBIDDEN"},
		{"an admin adds a malformed id", tm.Admin, post(orgPath(org, "/members"), obj{"user_id": "abc", "role": "member"}), http.StatusBadRequest, "VALIDATION_ERROR"},
		{"a manager re-roles with a body that is not JSON", tm.Manager, patch(orgPath(org, "/members/", tm.Member.ID), notJSON), http.StatusForbidden, "FORBIDDEN"},
		{"a manager re-roles nobody with a body that is not JSON", tm.Manager, patch(orgPath(org, "/members/", nobody), notJSON), http.StatusNotFound, "USER_NOT_FOUND"},
		{"an admin re-roles with a body that is not JSON", tm.Admin, patch(orgPath(org, "/members/", tm.Member.ID), notJSON), http.StatusBadRequest, "MALFORMED_JSON"},
		{"a member removes another with a malformed If-Match", tm.Member, header(del(orgPath(org, "/members/", tm.Manager.ID)), "If-Match", "nope"), http.StatusForbidden, "FORBIDDEN"},
		{"a member leaves with a malformed If-Match", tm.Member, header(del(orgPath(org, "/members/", tm.Member.ID)), "If-Match", "nope"), http.StatusBadRequest, "VALIDATION_ERROR"},
	} {
		r := s.As(c.as, c.req)
		if r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, c.status, c.code)
		}
	}
	// Nothing was changed by any of them.
	r := s.As(tm.Owner, get(orgPath(org, "/members")))
	expect(t, r, http.StatusOK)
	if n := len(r.JSON(t)["items"].([]any)); n != 4 {
		t.Fatalf("%d members after refused requests, want 4: %s", n, r.Body)
	}
}
