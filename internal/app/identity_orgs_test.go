package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/httpapi"
	"example.com/crm/internal/apitest"
)

// End-to-end rules of API.md §2 (tenancy), §3 (roles) and §4
// Organizations and members.

// withTenantProbe mounts GET /api/v1/test/tenant behind the org-scoped
// middleware (Authenticate, Tenant): it answers the tenant it was given.
// It stands for every org-scoped route (contacts, deals, ...).
func withTenantProbe(api *httpapi.API) {
	api.OrgScoped().Handle("/test/tenant", httpapi.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		t, err := crm.TenantFrom(r.Context())
		if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, obj{"organization_id": t.OrgID, "role": t.Role})
	})).Methods(http.MethodGet)
}

func orgPath(org string, rest ...string) string {
	return "/organizations/" + org + strings.Join(rest, "")
}

// The whole roles table of API.md §3 for the organization routes, every
// role: each case runs on a fresh organization with one user of each role
// and a plain member to act on.
func TestRolesTable(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{Routes: withTenantProbe})
	type world struct {
		team     apitest.Team
		target   apitest.User // a member of the organization, acted upon
		outsider apitest.User // registered, not a member
	}
	type action struct {
		name string
		do   func(s *apitest.Server, w world, as apitest.User) *apitest.Response
		// want is the status by role; code, when set, the error code of a
		// non-2xx status other than 403 (403 is always FORBIDDEN).
		want map[string]int
		code string
		// then, when set, checks the effect of a success.
		then func(t *testing.T, s *apitest.Server, w world, as apitest.User)
	}
	all := func(status int) map[string]int {
		return map[string]int{"owner": status, "admin": status, "manager": status, "member": status}
	}
	ownerAdmin := func(status int) map[string]int {
		return map[string]int{"owner": status, "admin": status, "manager": 403, "member": 403}
	}
	ownerOnly := func(status int) map[string]int {
		return map[string]int{"owner": status, "admin": 403, "manager": 403, "member": 403}
	}
	roleOf := func(t *testing.T, s *apitest.Server, w world, as apitest.User, user string) string {
		r := s.As(w.team.Owner, get(orgPath(w.team.Owner.Org, "/members/", user)))
		if r.Status == http.StatusNotFound {
			return ""
		}
		expect(t, r, http.StatusOK)
		return r.JSON(t)["role"].(string)
	}
	actions := []action{
		{
			name: "read the members", want: all(200),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, get(orgPath(as.Org, "/members")))
			},
		},
		{
			name: "read the organization", want: all(200),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, get(orgPath(as.Org)))
			},
		},
		{
			name: "add a member by e-mail", want: ownerAdmin(201),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, post(orgPath(as.Org, "/members"), obj{"email": w.outsider.Email, "role": "manager"}))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				if got := roleOf(t, s, w, as, w.outsider.ID); got != "manager" {
					t.Fatalf("added member's role = %q", got)
				}
			},
		},
		{
			name: "add a member by user id", want: ownerAdmin(201),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, post(orgPath(as.Org, "/members"), obj{"user_id": w.outsider.ID, "role": "admin"}))
			},
		},
		{
			name: "change a role", want: ownerAdmin(200),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, patch(orgPath(as.Org, "/members/", w.target.ID), obj{"role": "manager"}))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				if got := roleOf(t, s, w, as, w.target.ID); got != "manager" {
					t.Fatalf("role after the change = %q", got)
				}
			},
		},
		{
			name: "remove a member", want: ownerAdmin(204),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, del(orgPath(as.Org, "/members/", w.target.ID)))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				if got := roleOf(t, s, w, as, w.target.ID); got != "" {
					t.Fatalf("removed member still has role %q", got)
				}
			},
		},
		{
			name: "rename the organization", want: ownerAdmin(200),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, patch(orgPath(as.Org), obj{"name": "Renamed"}))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				r := s.As(as, get(orgPath(as.Org)))
				expect(t, r, http.StatusOK)
				if r.JSON(t)["name"] != "Renamed" {
					t.Fatalf("after rename: %s", r.Body)
				}
			},
		},
		{
			name: "delete the organization", want: ownerOnly(204),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, del(orgPath(as.Org)))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				// Afterwards every access is 403, for every member.
				for _, u := range []apitest.User{w.team.Owner, w.team.Admin, w.target} {
					expect(t, s.As(u, get(orgPath(u.Org, "/members"))), http.StatusForbidden, "NOT_A_MEMBER")
					expect(t, s.As(u, get("/test/tenant")), http.StatusForbidden, "NOT_A_MEMBER")
				}
			},
		},
		{
			name: "transfer ownership", want: ownerOnly(200),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, post(orgPath(as.Org, "/transfer-ownership"), obj{"user_id": w.target.ID}))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				if got := roleOf(t, s, w, as, w.target.ID); got != "owner" {
					t.Fatalf("new owner's role = %q", got)
				}
				if got := roleOf(t, s, w, as, as.ID); got != "admin" {
					t.Fatalf("old owner's role = %q", got)
				}
			},
		},
		{
			name: "leave (remove self)", code: "OWNER_CANNOT_LEAVE",
			want: map[string]int{"owner": 400, "admin": 204, "manager": 204, "member": 204},
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.As(as, del(orgPath(as.Org, "/members/", as.ID)))
			},
			then: func(t *testing.T, s *apitest.Server, w world, as apitest.User) {
				expect(t, s.As(as, get(orgPath(as.Org, "/members"))), http.StatusForbidden, "NOT_A_MEMBER")
			},
		},
		{
			name: "create an organization of one's own", want: all(201),
			do: func(s *apitest.Server, w world, as apitest.User) *apitest.Response {
				return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Token: as.Token, Body: obj{"name": "Mine"}})
			},
		},
	}
	for _, a := range actions {
		for _, role := range []string{"owner", "admin", "manager", "member"} {
			// Not parallel: 44 fresh organizations at once starve the
			// projectors of the other tests on a small machine.
			t.Run(a.name+"/as "+role, func(t *testing.T) {
				s := s.With(t)
				w := world{team: s.NewTeam(t), outsider: s.Register(t)}
				w.target = s.Member(t, w.team.Owner, "member")
				as := w.team.ByRole(role)
				r := a.do(s, w, as)
				want := a.want[role]
				switch {
				case want == http.StatusForbidden:
					expect(t, r, want, "FORBIDDEN")
				case want >= 400:
					expect(t, r, want, a.code)
				default:
					expect(t, r, want)
					if a.then != nil {
						a.then(t, s, w, as)
					}
				}
			})
		}
	}
}

// A foreign or unknown organization is 403 NOT_A_MEMBER, always: in
// X-Organization-Id and in the path, before any other check.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{Routes: withTenantProbe})
	alice, bob := s.Register(t), s.Register(t)
	unknown := uuid.NewString()

	r := s.As(alice, get("/test/tenant"))
	expect(t, r, http.StatusOK)
	if m := r.JSON(t); m["organization_id"] != alice.Org || m["role"] != "owner" {
		t.Fatalf("probe: %s", r.Body)
	}
	for _, tc := range []struct {
		name   string
		org    string
		status int
		code   string
	}{
		{"another user's organization", bob.Org, 403, "NOT_A_MEMBER"},
		{"an organization that does not exist", unknown, 403, "NOT_A_MEMBER"},
		{"a malformed id", "not-a-uuid", 400, "ORGANIZATION_REQUIRED"},
		{"a non-canonical id", "{" + alice.Org + "}", 400, "ORGANIZATION_REQUIRED"},
	} {
		t.Run("header: "+tc.name, func(t *testing.T) {
			t.Parallel()
			expect(t, s.With(t).Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/test/tenant", Token: alice.Token, Org: tc.org}), tc.status, tc.code)
		})
	}
	expect(t, s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/test/tenant", Token: alice.Token}), 400, "ORGANIZATION_REQUIRED")
	// The header given twice names no one organization, whatever the
	// second value (the real routes authenticate and resolve the
	// organization in one step: AuthenticateInOrg).
	for _, second := range []string{"garbage", bob.Org, alice.Org} {
		for _, path := range []string{"/api/v1/test/tenant", "/api/v1/contacts"} {
			req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+alice.Token)
			req.Header.Add("X-Organization-Id", alice.Org)
			req.Header.Add("X-Organization-Id", second)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p struct{ Code string }
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusBadRequest || p.Code != "ORGANIZATION_REQUIRED" {
				t.Errorf("%s with X-Organization-Id %s and %s: %d %q (%v), want 400 ORGANIZATION_REQUIRED", path, alice.Org, second, resp.StatusCode, p.Code, err)
			}
		}
	}
	expect(t, s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/test/tenant", Org: alice.Org}), 401, "UNAUTHENTICATED")

	// Every route under /organizations/{org_id}, for a foreign and an
	// unknown organization, with a body that would fail validation: the
	// membership check comes first.
	for _, org := range []string{bob.Org, unknown} {
		for _, req := range []apitest.Request{
			get(orgPath(org)),
			patch(orgPath(org), obj{"name": ""}),
			del(orgPath(org)),
			post(orgPath(org, "/transfer-ownership"), obj{"user_id": "x"}),
			get(orgPath(org, "/members")),
			post(orgPath(org, "/members"), obj{"role": "boss"}),
			get(orgPath(org, "/members/", bob.ID)),
			patch(orgPath(org, "/members/", bob.ID), obj{"role": "boss"}),
			del(orgPath(org, "/members/", bob.ID)),
		} {
			req.Token = alice.Token
			expect(t, s.Do(req), http.StatusForbidden, "NOT_A_MEMBER")
		}
	}
	expect(t, s.As(alice, get(orgPath("nope", "/members"))), http.StatusBadRequest, "VALIDATION_ERROR")
	// Bob's organization is untouched.
	r = s.As(bob, get(orgPath(bob.Org)))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["version"] != float64(2) {
		t.Fatalf("bob's organization moved: %s", r.Body)
	}
}

// Membership changes take effect on the very next request.
func TestMembershipChangesApplyAtOnce(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{Routes: withTenantProbe})
	tm := s.NewTeam(t)

	expect(t, s.As(tm.Member, get("/test/tenant")), http.StatusOK)
	expect(t, s.As(tm.Owner, del(orgPath(tm.Owner.Org, "/members/", tm.Member.ID))), http.StatusNoContent)
	expect(t, s.As(tm.Member, get("/test/tenant")), http.StatusForbidden, "NOT_A_MEMBER")
	expect(t, s.As(tm.Member, get(orgPath(tm.Owner.Org, "/members"))), http.StatusForbidden, "NOT_A_MEMBER")
	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/organizations/me", Token: tm.Member.Token})
	expect(t, r, http.StatusOK)
	for _, it := range r.JSON(t)["items"].([]any) {
		if it.(map[string]any)["id"] == tm.Owner.Org {
			t.Fatalf("a removed member still lists the organization: %s", r.Body)
		}
	}

	// A promotion is seen at once too.
	r = s.As(tm.Manager, get("/test/tenant"))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["role"] != "manager" {
		t.Fatalf("probe: %s", r.Body)
	}
	expect(t, s.As(tm.Owner, patch(orgPath(tm.Owner.Org, "/members/", tm.Manager.ID), obj{"role": "admin"})), http.StatusOK)
	if r := s.As(tm.Manager, get("/test/tenant")); r.JSON(t)["role"] != "admin" {
		t.Fatalf("after promotion: %s", r.Body)
	}
	outsider := s.Register(t)
	expect(t, s.As(tm.Manager, post(orgPath(tm.Owner.Org, "/members"), obj{"email": outsider.Email, "role": "member"})), http.StatusCreated)
}

// The organization and member routes: bodies, headers and their errors.
func TestOrganizationsAndMembers(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	owner := s.Register(t)
	orgs := func(u apitest.User) []any {
		r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/organizations/me", Token: u.Token})
		expect(t, r, http.StatusOK)
		return r.JSON(t)["items"].([]any)
	}

	// Create: 201, Location, ETag, the caller is the owner.
	r := s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Token: owner.Token, Body: obj{"name": "  Second  "}})
	expect(t, r, http.StatusCreated)
	org := r.JSON(t)
	id := org["id"].(string)
	if org["name"] != "Second" || org["role"] != "owner" || org["version"] != float64(2) || !utc(org["created_at"].(string)) {
		t.Fatalf("created: %s", r.Body)
	}
	if r.Header.Get("Location") != "/api/v1/organizations/"+id || r.Header.Get("ETag") != `"2"` || r.Header.Get("X-Event-Position") == "" {
		t.Fatalf("headers: %v", r.Header)
	}
	if n := len(orgs(owner)); n != 2 {
		t.Fatalf("%d organizations, want 2", n)
	}
	expect(t, s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Token: owner.Token, Body: obj{"name": ""}}), 400, "VALIDATION_ERROR")
	expect(t, s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Token: owner.Token, Body: obj{}}), 400, "VALIDATION_ERROR")
	expect(t, s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Body: obj{"name": "x"}}), 401, "UNAUTHENTICATED")

	// Rename with If-Match: a stale version is 412, the current one works,
	// and the same name changes nothing.
	rename := func(name, ifMatch string) *apitest.Response {
		req := patch(orgPath(id), obj{"name": name})
		if ifMatch != "" {
			req = header(req, "If-Match", ifMatch)
		}
		req.Token = owner.Token
		return s.Do(req)
	}
	expect(t, rename("Third", `"1"`), http.StatusPreconditionFailed, "VERSION_MISMATCH")
	r = rename("Third", `"2"`)
	expect(t, r, http.StatusOK)
	if r.Header.Get("ETag") != `"3"` || r.JSON(t)["name"] != "Third" {
		t.Fatalf("renamed: %v %s", r.Header, r.Body)
	}
	renamedAt := r.Header.Get("X-Event-Position")
	r = rename("Third", "")
	expect(t, r, http.StatusOK)
	// (its X-Event-Position is that of the organization's last event)
	if r.Header.Get("ETag") != `"3"` || r.Header.Get("X-Event-Position") != renamedAt || renamedAt == "" {
		t.Fatalf("a rename to the same name moved the version or the position (renamed at %s): %v", renamedAt, r.Header)
	}

	// Members: add by e-mail (any case) or id; errors in API.md's words.
	ada, bob, cy := s.Register(t), s.Register(t), s.Register(t)
	add := func(body obj) *apitest.Response {
		return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1" + orgPath(id, "/members"), Token: owner.Token, Body: body})
	}
	r = add(obj{"email": " " + strings.ToUpper(ada.Email) + " ", "role": "admin"})
	expect(t, r, http.StatusCreated)
	m := r.JSON(t)
	if m["user_id"] != ada.ID || m["email"] != ada.Email || m["role"] != "admin" || m["name"] == "" || !utc(m["joined_at"].(string)) {
		t.Fatalf("member: %s", r.Body)
	}
	if r.Header.Get("Location") != "/api/v1/organizations/"+id+"/members/"+ada.ID {
		t.Fatalf("Location = %q", r.Header.Get("Location"))
	}
	expect(t, add(obj{"user_id": bob.ID, "role": "member"}), http.StatusCreated)
	expect(t, add(obj{"user_id": cy.ID, "role": "manager"}), http.StatusCreated)
	for _, tc := range []struct {
		name   string
		body   obj
		status int
		code   string
	}{
		{"already a member", obj{"email": ada.Email, "role": "member"}, 409, "ALREADY_MEMBER"},
		{"the owner again", obj{"user_id": owner.ID, "role": "member"}, 409, "ALREADY_MEMBER"},
		{"role owner", obj{"email": uniqueEmail("x"), "role": "owner"}, 400, "INVALID_ROLE"},
		{"an unknown role", obj{"user_id": bob.ID, "role": "boss"}, 400, "INVALID_ROLE"},
		{"no role", obj{"user_id": bob.ID}, 400, "INVALID_ROLE"},
		{"an unknown e-mail", obj{"email": uniqueEmail("nobody"), "role": "member"}, 404, "USER_NOT_FOUND"},
		{"an unknown user id", obj{"user_id": uuid.NewString(), "role": "member"}, 404, "USER_NOT_FOUND"},
		{"neither", obj{"role": "member"}, 400, "VALIDATION_ERROR"},
		{"both", obj{"email": ada.Email, "user_id": ada.ID, "role": "member"}, 400, "VALIDATION_ERROR"},
		{"a malformed user id", obj{"user_id": "nope", "role": "member"}, 400, "VALIDATION_ERROR"},
		{"a malformed e-mail", obj{"email": "bad-email", "role": "member"}, 400, "VALIDATION_ERROR"},
	} {
		t.Run("add: "+tc.name, func(t *testing.T) { // not parallel: the test goes on changing the organization
			r := s.With(t).Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1" + orgPath(id, "/members"), Token: owner.Token, Body: tc.body})
			expect(t, r, tc.status, tc.code)
		})
	}

	// The list: paging, order of joining, total.
	r = s.As(owner, get(orgPath(id, "/members?page_size=2&page=2")))
	expect(t, r, http.StatusOK)
	list := r.JSON(t)
	items := list["items"].([]any)
	if list["total"] != float64(4) || list["page"] != float64(2) || list["page_size"] != float64(2) || len(items) != 2 ||
		items[0].(map[string]any)["user_id"] != bob.ID || items[1].(map[string]any)["user_id"] != cy.ID {
		t.Fatalf("page 2: %s", r.Body)
	}
	expect(t, s.As(owner, get(orgPath(id, "/members?page=0"))), 400, "VALIDATION_ERROR")
	expect(t, s.As(owner, get(orgPath(id, "/members?page_size=101"))), 400, "VALIDATION_ERROR")

	// Role changes.
	member := orgPath(id, "/members/")
	expect(t, s.As(owner, patch(member+owner.ID, obj{"role": "admin"})), 400, "CANNOT_CHANGE_OWNER_ROLE")
	expect(t, s.As(owner, patch(member+bob.ID, obj{"role": "owner"})), 400, "INVALID_ROLE")
	expect(t, s.As(owner, patch(member+uuid.NewString(), obj{"role": "admin"})), 404, "USER_NOT_FOUND")
	expect(t, s.As(owner, patch(member+"nope", obj{"role": "admin"})), 400, "VALIDATION_ERROR")
	r = s.As(owner, get(member+bob.ID))
	expect(t, r, http.StatusOK)
	version := r.Header.Get("ETag")
	expect(t, s.As(owner, header(patch(member+bob.ID, obj{"role": "manager"}), "If-Match", `"1"`)), 412, "VERSION_MISMATCH")
	r = s.As(owner, header(patch(member+bob.ID, obj{"role": "manager"}), "If-Match", version))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["role"] != "manager" || r.Header.Get("ETag") == version {
		t.Fatalf("changed: %v %s", r.Header, r.Body)
	}

	// Removal: the owner cannot go; others can; then they are unknown.
	expect(t, s.As(owner, del(member+owner.ID)), 400, "OWNER_CANNOT_LEAVE")
	expect(t, s.As(ada, del(member+owner.ID)), 400, "OWNER_CANNOT_LEAVE")
	expect(t, s.As(owner, del(member+bob.ID)), http.StatusNoContent)
	expect(t, s.As(owner, del(member+bob.ID)), 404, "USER_NOT_FOUND")
	expect(t, s.As(owner, get(member+bob.ID)), 404, "USER_NOT_FOUND")

	// Transfer: to a member only; the old owner becomes an admin.
	transfer := func(as apitest.User, body obj) *apitest.Response {
		return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1" + orgPath(id, "/transfer-ownership"), Token: as.Token, Body: body})
	}
	expect(t, transfer(owner, obj{"user_id": bob.ID}), 404, "USER_NOT_FOUND")
	expect(t, transfer(owner, obj{}), 400, "VALIDATION_ERROR")
	r = transfer(owner, obj{"user_id": cy.ID})
	expect(t, r, http.StatusOK)
	if r.JSON(t)["role"] != "admin" {
		t.Fatalf("after transfer the caller's role is %v", r.JSON(t)["role"])
	}
	expect(t, transfer(owner, obj{"user_id": owner.ID}), 403, "FORBIDDEN")
	cyOrg := cy
	cyOrg.Org = id
	expect(t, s.As(cyOrg, del(member+cy.ID)), 400, "OWNER_CANNOT_LEAVE")
	expect(t, s.As(owner, del(member+owner.ID)), http.StatusNoContent) // the old owner may leave now

	// Delete: owner only; afterwards the organization leaves every list.
	expect(t, s.As(ada, del(orgPath(id))), 403, "FORBIDDEN")
	expect(t, s.As(cyOrg, del(orgPath(id))), http.StatusNoContent)
	for _, it := range orgs(cy) {
		if it.(map[string]any)["id"] == id {
			t.Fatal("a deleted organization is still listed")
		}
	}
	expect(t, s.As(cyOrg, get(orgPath(id))), 403, "NOT_A_MEMBER")
}

// Idempotency-Key on the POST routes of an authenticated user.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	create := func(u apitest.User, key string, name string) *apitest.Response {
		return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1/organizations", Token: u.Token,
			Body: obj{"name": name}, Header: map[string]string{"Idempotency-Key": key}})
	}
	count := func(u apitest.User) int {
		r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/api/v1/organizations/me", Token: u.Token})
		return len(r.JSON(t)["items"].([]any))
	}

	first := create(u, "key-1", "Acme")
	expect(t, first, http.StatusCreated)
	again := create(u, "key-1", "Acme")
	expect(t, again, http.StatusCreated)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" ||
		again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("ETag") != first.Header.Get("ETag") ||
		again.Header.Get("X-Event-Position") != first.Header.Get("X-Event-Position") {
		t.Fatalf("replay differs:\n%v %s\n%v %s", first.Header, first.Body, again.Header, again.Body)
	}
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the first answer claims to be a replay")
	}
	if n := count(u); n != 2 {
		t.Fatalf("%d organizations after a replay, want 2", n)
	}
	expect(t, create(u, "key-1", "Other"), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")

	// Keys are per user.
	v := s.Register(t)
	if r := create(v, "key-1", "Acme"); r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another user's key: %d %v", r.Status, r.Header)
	}

	// Concurrent requests with one key: one organization, one answer.
	statuses := race(t, 4, func() (*http.Request, error) {
		req, err := jsonRequest(s.URL+"/api/v1/organizations", obj{"name": "Raced"})
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+u.Token)
			req.Header.Set("Idempotency-Key", "key-race")
		}
		return req, err
	}, nil)
	if statuses[http.StatusCreated] != 4 {
		t.Fatalf("statuses %v, want four 201", statuses)
	}
	if n := count(u); n != 3 {
		t.Fatalf("%d organizations after a raced key, want 3", n)
	}

	// Members too, and keys are checked for shape.
	add := func(key string) *apitest.Response {
		return s.Do(apitest.Request{Method: http.MethodPost, Path: "/api/v1" + orgPath(u.Org, "/members"), Token: u.Token,
			Body: obj{"user_id": v.ID, "role": "member"}, Header: map[string]string{"Idempotency-Key": key}})
	}
	expect(t, add("m-1"), http.StatusCreated)
	r := add("m-1")
	expect(t, r, http.StatusCreated)
	if r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("member add was not replayed")
	}
	expect(t, add("m-2"), http.StatusConflict, "ALREADY_MEMBER")
	expect(t, add(strings.Repeat("k", 256)), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, add("has space"), http.StatusBadRequest, "VALIDATION_ERROR")
	// The same key on another route is another request.
	expect(t, create(u, "m-1", "X"), http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
}
