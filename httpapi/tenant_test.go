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
