package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm"
)

// fakeMemberships holds (org, user) → role.
type fakeMemberships map[[2]uuid.UUID]crm.Role

func (f fakeMemberships) Role(_ context.Context, org, user uuid.UUID) (crm.Role, bool, error) {
	r, ok := f[[2]uuid.UUID{org, user}]
	return r, ok, nil
}

func TestTenant(t *testing.T) {
	t.Parallel()
	user, org, other := uuid.New(), uuid.New(), uuid.New()
	m := fakeMemberships{{org, user}: crm.RoleManager, {other, uuid.New()}: crm.RoleOwner}
	probe := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn, err := crm.TenantFrom(r.Context())
		if err != nil || tn.OrgID != org || tn.Role != crm.RoleManager {
			t.Errorf("tenant = %+v, %v", tn, err)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	header := Tenant(m)(probe)
	router := mux.NewRouter()
	router.Handle("/organizations/{org_id}", TenantFromPath(m, "org_id")(probe))

	for _, tc := range []struct {
		name   string
		h      http.Handler
		path   string
		org    string
		actor  bool
		status int
		code   crm.Code
	}{
		{"header: member", header, "/", org.String(), true, 204, ""},
		{"header: missing", header, "/", "", true, 400, crm.CodeOrganizationRequired},
		{"header: malformed", header, "/", "nope", true, 400, crm.CodeOrganizationRequired},
		{"header: another organization", header, "/", other.String(), true, 403, crm.CodeNotAMember},
		{"header: an unknown organization", header, "/", uuid.NewString(), true, 403, crm.CodeNotAMember},
		{"header: no actor fails closed", header, "/", org.String(), false, 500, crm.CodeInternal},
		{"path: member", router, "/organizations/" + org.String(), "", true, 204, ""},
		{"path: malformed", router, "/organizations/nope", "", true, 400, crm.CodeValidation},
		{"path: another organization", router, "/organizations/" + other.String(), org.String(), true, 403, crm.CodeNotAMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.org != "" {
				req.Header.Set(OrganizationHeader, tc.org)
			}
			if tc.actor {
				req = req.WithContext(crm.WithActor(req.Context(), crm.Actor{UserID: user}))
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.code != "" {
				if p := readProblem(t, rec); p.Code != tc.code {
					t.Fatalf("code %s, want %s", p.Code, tc.code)
				}
			}
		})
	}
}

// fakeAccess answers Access from fakeUsers and fakeMemberships.
type fakeAccess struct {
	users fakeUsers
	m     fakeMemberships
}

func (f fakeAccess) Access(_ context.Context, org, user uuid.UUID) (bool, crm.Role, bool, error) {
	r, ok := f.m[[2]uuid.UUID{org, user}]
	return f.users[user], r, ok, nil
}

// AuthenticateInOrg answers as Authenticate then Tenant would, in the
// same order, with one read.
func TestAuthenticateInOrg(t *testing.T) {
	t.Parallel()
	user, ghost, org, other := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	users := fakeUsers{user: true}
	h := AuthenticateInOrg(fakeTokens{}, users, fakeAccess{users, fakeMemberships{{org, user}: crm.RoleAdmin}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, aerr := crm.ActorFrom(r.Context())
			tn, terr := crm.TenantFrom(r.Context())
			if aerr != nil || terr != nil || a.UserID != user || tn.OrgID != org || tn.Role != crm.RoleAdmin {
				t.Errorf("actor %+v %v, tenant %+v %v", a, aerr, tn, terr)
			}
			w.WriteHeader(http.StatusNoContent)
		}))
	for _, tc := range []struct {
		name, token, org string
		status           int
		code             crm.Code
	}{
		{"member", "good-" + user.String(), org.String(), 204, ""},
		{"no token", "", org.String(), 401, crm.CodeUnauthenticated},
		{"bad token", "bad", org.String(), 401, crm.CodeUnauthenticated},
		{"user gone, with organization", "good-" + ghost.String(), org.String(), 401, crm.CodeUnauthenticated},
		{"user gone, without organization", "good-" + ghost.String(), "", 401, crm.CodeUnauthenticated},
		{"no organization", "good-" + user.String(), "", 400, crm.CodeOrganizationRequired},
		{"another organization", "good-" + user.String(), other.String(), 403, crm.CodeNotAMember},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.org != "" {
				req.Header.Set(OrganizationHeader, tc.org)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.code != "" {
				if p := readProblem(t, rec); p.Code != tc.code {
					t.Fatalf("code %s, want %s", p.Code, tc.code)
				}
			}
		})
	}
}
