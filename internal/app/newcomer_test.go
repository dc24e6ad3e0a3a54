package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"example.com/crm/httpapi"
	"example.com/crm/internal/apitest"
)

// GET / and GET /api/v1 answer links to the documentation instead of 404.
func TestIndexPointsAtTheDocs(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	for _, path := range []string{"/", "/api/v1", "/api/v1/"} {
		r := s.Do(apitest.Request{Method: http.MethodGet, Path: path})
		expect(t, r, http.StatusOK)
		body := r.JSON(t)
		if body["docs"] != "/docs" || body["openapi"] != "/openapi.json" || body["errors"] != "/docs/errors" {
			t.Errorf("GET %s: %s", path, r.Body)
		}
	}
}

// /docs/errors lists every code with its status, one anchor per code, so
// that the type link of any problem body resolves.
func TestErrorsPageListsEveryCode(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/docs/errors"})
	expect(t, r, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	page := string(r.Body)
	codes := httpapi.ErrorCodes()
	if len(codes) < 30 {
		t.Fatalf("only %d codes", len(codes))
	}
	for _, c := range codes {
		row := fmt.Sprintf(`<tr id="%s">`, c.Code)
		i := strings.Index(page, row)
		if i < 0 {
			t.Errorf("no anchor for %s", c.Code)
			continue
		}
		if !strings.Contains(page[i:], fmt.Sprintf("<td>%d %s</td>", c.Status, http.StatusText(c.Status))) {
			t.Errorf("%s: status %d not shown", c.Code, c.Status)
		}
	}

	// A real problem body's type link lands on a listed anchor.
	p := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/contacts"})
	typ, _ := p.JSON(t)["type"].(string)
	path, anchor, ok := strings.Cut(typ, "#")
	if !ok || path != "/docs/errors" || !strings.Contains(page, `id="`+anchor+`"`) {
		t.Errorf("type %q does not resolve in /docs/errors", typ)
	}
}

// The register and login answers list the caller's organizations, so a
// newcomer knows which X-Organization-Id to send.
func TestLoginAndRegisterListTheOrganizations(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	email := "newcomer-" + t.Name() + "@example.com"
	reg := s.Do(post("/auth/register", obj{"email": email, "password": "correct horse battery",
		"name": "Newcomer", "organization_name": "First Org"}))
	expect(t, reg, http.StatusCreated)
	var rb struct {
		Organization  obj    `json:"organization"`
		Organizations []obj  `json:"organizations"`
		AccessToken   string `json:"access_token"`
	}
	reg.Decode(t, &rb)
	if len(rb.Organizations) != 1 || rb.Organizations[0]["id"] != rb.Organization["id"] ||
		rb.Organizations[0]["role"] != "owner" || rb.Organizations[0]["name"] != "First Org" {
		t.Fatalf("register: %s", reg.Body)
	}
	second := s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Token: rb.AccessToken,
		Body: obj{"name": "Second Org"}})
	expect(t, second, http.StatusCreated)

	login := s.Do(post("/auth/login", obj{"email": email, "password": "correct horse battery"}))
	expect(t, login, http.StatusOK)
	var lb struct {
		Organizations []obj `json:"organizations"`
	}
	login.Decode(t, &lb)
	var names []string
	for _, o := range lb.Organizations {
		names = append(names, o["name"].(string))
		for _, k := range []string{"id", "name", "role", "created_at"} {
			if o[k] == nil {
				t.Errorf("organization without %s: %v", k, o)
			}
		}
	}
	if strings.Join(names, ",") != "First Org,Second Org" {
		t.Fatalf("login organizations %v: %s", names, login.Body)
	}

	// A user whose organizations are all gone still gets the field.
	other := s.Register(t)
	expect(t, s.As(other, del("/organizations/"+other.Org)), http.StatusNoContent)
	login = s.Do(post("/auth/login", obj{"email": other.Email, "password": "correct horse battery"}))
	expect(t, login, http.StatusOK)
	if !strings.Contains(string(login.Body), `"organizations":[]`) {
		t.Fatalf("login of a user without organizations: %s", login.Body)
	}
}

// Unknown query parameters are a 400 VALIDATION_ERROR naming each one, on
// lists and on single entities alike; the declared ones still work.
func TestUnknownQueryParametersAreRejected(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	deal := newDeal(t, s, u, newContact(t, s, u, nil), nil)

	for _, tc := range []struct {
		path    string
		unknown []string
	}{
		{"/deals?stauts=won", []string{"stauts"}},
		{"/deals?status=won&pagesize=5&sort=title", []string{"pagesize", "sort"}},
		{"/contacts?page=1&q=ada", []string{"q"}},
		{"/tasks?done=true", []string{"done"}},
		{"/deals/" + deal + "?versoin=1", []string{"versoin"}},
		{"/deals/" + deal + "?version=1&at=now", []string{"at"}},
		{"/deals/" + deal + "/history?limit=5", []string{"limit"}},
		{"/deals/" + deal + "/activities?types=comment", []string{"types"}},
		{"/analytics/deals/summary?currency=USD", []string{"currency"}},
		{"/organizations/" + u.Org + "/members?per_page=5", []string{"per_page"}},
	} {
		r := s.As(u, get(tc.path))
		expect(t, r, http.StatusBadRequest, "VALIDATION_ERROR")
		var body struct {
			Detail string `json:"detail"`
			Errors []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		r.Decode(t, &body)
		var fields []string
		for _, e := range body.Errors {
			fields = append(fields, e.Field)
			if !strings.Contains(e.Message, "unknown query parameter") {
				t.Errorf("GET %s: message %q", tc.path, e.Message)
			}
		}
		if strings.Join(fields, ",") != strings.Join(tc.unknown, ",") {
			t.Errorf("GET %s: errors name %v, want %v: %s", tc.path, fields, tc.unknown, r.Body)
		}
		for _, f := range tc.unknown {
			if !strings.Contains(body.Detail, f) {
				t.Errorf("GET %s: detail %q does not name %s", tc.path, body.Detail, f)
			}
		}
	}

	// The parameters each route declares are accepted.
	for _, path := range []string{
		"/deals?status=new&stage=qualification&page=1&page_size=5&order_by=created_at&order=desc",
		"/deals/" + deal + "?version=1",
		"/deals/" + deal + "/history?page=1&page_size=5",
		"/contacts?search=ada",
		"/tasks?only_open=true",
	} {
		expect(t, s.As(u, get(path)), http.StatusOK)
	}
}

// Every route the server serves rejects an unknown query parameter (each
// handler declares the ones it reads), except the static documentation
// files and the Prometheus scrape, which are not API routes.
func TestEveryRouteRejectsUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	exempt := map[string]bool{"/metrics": true, "/openapi.json": true, "/docs": true, "/docs/": true}
	type op struct{ method, path string }
	var ops []op
	err := s.App.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if route.GetHandler() == nil || err != nil || exempt[tpl] {
			return nil
		}
		methods, _ := route.GetMethods()
		for _, m := range methods {
			if m != http.MethodHead && m != http.MethodOptions {
				ops = append(ops, op{m, tpl})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) < 40 {
		t.Fatalf("only %d operations walked", len(ops))
	}
	vars := strings.NewReplacer("{org_id}", u.Org, "{user_id}", u.ID,
		"{id}", "00000000-0000-7000-8000-000000000001", "{deal_id}", "00000000-0000-7000-8000-000000000001")
	for _, o := range ops {
		req := apitest.Request{Method: o.method, Path: vars.Replace(o.path) + "?bogus_param=1", Token: u.Token, Org: u.Org}
		if o.method == http.MethodPost || o.method == http.MethodPatch {
			req.Body = obj{}
		}
		r := s.Do(req)
		if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Body), `"field":"bogus_param"`) {
			t.Errorf("%s %s?bogus_param=1: %d %s", o.method, o.path, r.Status, r.Body)
		}
	}
}

// A version past the deal's current one is a 404 that says how many
// versions there are, not that the deal "did not exist".
func TestDealVersionPastTheCurrentOne(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	deal := newDeal(t, s, u, newContact(t, s, u, nil), nil)
	expect(t, s.As(u, patch("/deals/"+deal, obj{"stage": "proposal"})), http.StatusOK)
	cur := s.As(u, get("/deals/"+deal))
	expect(t, cur, http.StatusOK)
	version := int(cur.JSON(t)["version"].(float64))

	r := s.As(u, get(fmt.Sprintf("/deals/%s?version=%d", deal, version)))
	expect(t, r, http.StatusOK)

	r = s.As(u, get("/deals/"+deal+"?version=99"))
	expect(t, r, http.StatusNotFound, "DEAL_NOT_FOUND")
	want := fmt.Sprintf("deal %s has %d versions; version 99 does not exist yet", deal, version)
	if got := r.JSON(t)["detail"]; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}

	r = s.As(u, get("/deals/"+deal+"?as_of=2000-01-01T00:00:00Z"))
	expect(t, r, http.StatusNotFound, "DEAL_NOT_FOUND")
	if got, _ := r.JSON(t)["detail"].(string); !strings.Contains(got, "did not exist yet at 2000-01-01T00:00:00.000Z") {
		t.Errorf("as_of before creation: detail %q", got)
	}
}
