package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

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
