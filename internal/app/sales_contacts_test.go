package app_test

import (
	"net/http"
	"strings"
	"testing"

	"example.com/crm/internal/apitest"
)

func TestContactLifecycle(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	owner := s.Register(t)

	r := s.As(owner, post("/contacts", obj{"name": "  Grace Hopper ", "email": "grace@example.com", "phone": "+1 (555) 010-2000"}))
	expect(t, r, http.StatusCreated)
	c := r.JSON(t)
	id := c["id"].(string)
	if r.Header.Get("Location") != "/api/v1/contacts/"+id || r.Header.Get("ETag") != `"1"` || r.Header.Get("X-Event-Position") == "" {
		t.Fatalf("create headers: %v", r.Header)
	}
	if c["owner_id"] != owner.ID || c["organization_id"] != owner.Org || c["version"] != float64(1) || c["name"] != "Grace Hopper" {
		t.Fatalf("created contact: %s", r.Body)
	}
	if !strings.HasSuffix(c["created_at"].(string), "Z") {
		t.Fatalf("created_at is not UTC with Z: %v", c["created_at"])
	}

	// read your writes: the GET right after sees exactly what POST answered
	got := s.As(owner, get("/contacts/"+id))
	expect(t, got, http.StatusOK)
	if string(got.Body) != string(r.Body) {
		t.Fatalf("GET after POST differs:\n%s\n%s", got.Body, r.Body)
	}

	// null clears; If-Match of the current version passes
	r = s.As(owner, header(patch("/contacts/"+id, obj{"phone": nil, "name": "Grace B. Hopper"}), "If-Match", `"1"`))
	expect(t, r, http.StatusOK)
	if c := r.JSON(t); c["phone"] != nil || c["name"] != "Grace B. Hopper" || c["version"] != float64(2) || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("patched: %s", r.Body)
	}
	patchedAt := r.Header.Get("X-Event-Position")
	// a stale If-Match is 412
	expect(t, s.As(owner, header(patch("/contacts/"+id, obj{"name": "X"}), "If-Match", `"1"`)), http.StatusPreconditionFailed, "VERSION_MISMATCH")
	// a PATCH that changes nothing keeps the version
	r = s.As(owner, patch("/contacts/"+id, obj{"name": "Grace B. Hopper"}))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["version"] != float64(2) || r.Header.Get("X-Event-Position") != patchedAt || patchedAt == "" {
		t.Fatalf("no-op patch moved the version or lost the position (patched at %s): %v %s", patchedAt, r.Header, r.Body)
	}

	expect(t, s.As(owner, header(del("/contacts/"+id), "If-Match", `"1"`)), http.StatusPreconditionFailed, "VERSION_MISMATCH")
	expect(t, s.As(owner, del("/contacts/"+id)), http.StatusNoContent)
	expect(t, s.As(owner, get("/contacts/"+id)), http.StatusNotFound)
	expect(t, s.As(owner, del("/contacts/"+id)), http.StatusNotFound)
}

func TestContactValidation(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	owner := s.Register(t)
	tests := []struct {
		name string
		body any
		code string
	}{
		{"no name", obj{"email": "a@example.com"}, "VALIDATION_ERROR"},
		{"empty name", obj{"name": "  "}, "VALIDATION_ERROR"},
		{"name too long", obj{"name": strings.Repeat("n", 201)}, "VALIDATION_ERROR"},
		{"bad email", obj{"name": "A", "email": "not-an-email"}, "VALIDATION_ERROR"},
		{"bad phone", obj{"name": "A", "phone": "call me"}, "VALIDATION_ERROR"},
		{"unknown field", obj{"name": "A", "nickname": "B"}, "VALIDATION_ERROR"},
		{"wrong type", obj{"name": 42}, "VALIDATION_ERROR"},
		{"owner not a member", obj{"name": "A", "owner_id": "0193a000-0000-7000-8000-000000000001"}, "OWNER_NOT_MEMBER"},
		{"malformed json", `{"name":`, "MALFORMED_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.With(t).As(owner, post("/contacts", tt.body))
			expect(t, r, http.StatusBadRequest, tt.code)
		})
	}
	expect(t, s.As(owner, get("/contacts/not-a-uuid")), http.StatusBadRequest)
	expect(t, s.As(owner, get("/contacts?page=0")), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(owner, get("/contacts?page_size=101")), http.StatusBadRequest, "VALIDATION_ERROR")
}

// The contact rows of the roles table of API.md §3.
func TestContactRoles(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	for _, role := range []string{"owner", "admin", "manager", "member"} {
		t.Run(role, func(t *testing.T) {
			s := s.With(t)
			u := tm.ByRole(role)
			mayManage := role != "member"

			// create owned by self: everyone
			own := newContact(t, s, u, obj{"name": "Own"})
			// create for another member
			r := s.As(u, post("/contacts", obj{"name": "For the owner", "owner_id": tm.Owner.ID}))
			if mayManage {
				expect(t, r, http.StatusCreated)
			} else {
				expect(t, r, http.StatusForbidden, "FORBIDDEN")
			}
			// update and delete someone else's contact
			theirs := newContact(t, s, tm.Owner, obj{"name": "Owner's"})
			r = s.As(u, patch("/contacts/"+theirs, obj{"name": "Renamed"}))
			if mayManage {
				expect(t, r, http.StatusOK)
			} else {
				expect(t, r, http.StatusForbidden, "FORBIDDEN")
			}
			// reassign own contact to another member
			r = s.As(u, patch("/contacts/"+own, obj{"owner_id": tm.Owner.ID}))
			if mayManage {
				expect(t, r, http.StatusOK)
			} else {
				expect(t, r, http.StatusForbidden, "FORBIDDEN")
				expect(t, s.As(u, patch("/contacts/"+own, obj{"name": "Mine still"})), http.StatusOK)
				expect(t, s.As(u, del("/contacts/"+own)), http.StatusNoContent)
			}
			r = s.As(u, del("/contacts/"+theirs))
			if mayManage {
				expect(t, r, http.StatusNoContent)
			} else {
				expect(t, r, http.StatusForbidden, "FORBIDDEN")
			}
		})
	}
}

func TestContactsOfAnotherOrganizationAreNotFound(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	a, b := s.Register(t), s.Register(t)
	id := newContact(t, s, a, nil)
	expect(t, s.As(b, get("/contacts/"+id)), http.StatusNotFound)
	expect(t, s.As(b, patch("/contacts/"+id, obj{"name": "Mine now"})), http.StatusNotFound)
	expect(t, s.As(b, del("/contacts/"+id)), http.StatusNotFound)
	r := s.As(b, get("/contacts"))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["total"] != float64(0) {
		t.Fatalf("another org lists a's contacts: %s", r.Body)
	}
	// a's own header on b's token: not a member
	expect(t, s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/contacts", Token: b.Token, Org: a.Org}), http.StatusForbidden, "NOT_A_MEMBER")
}

func TestContactListSearchAndOrder(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	for _, n := range []string{"Charlie", "alice", "Bob", "ALICIA"} {
		newContact(t, s, u, obj{"name": n, "email": strings.ToLower(n) + "@example.com"})
	}
	r := s.As(u, get("/contacts?search=ALI&order_by=name&order=asc"))
	expect(t, r, http.StatusOK)
	var list struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
		Total, Page, PageSize int `json:"-"`
	}
	r.Decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Name != "alice" || list.Items[1].Name != "ALICIA" {
		t.Fatalf("search ALI by name asc: %s", r.Body)
	}
	r = s.As(u, get("/contacts?page=2&page_size=3"))
	expect(t, r, http.StatusOK)
	body := r.JSON(t)
	if body["total"] != float64(4) || body["page"] != float64(2) || body["page_size"] != float64(3) || len(body["items"].([]any)) != 1 {
		t.Fatalf("page 2 of 3: %s", r.Body)
	}
}
