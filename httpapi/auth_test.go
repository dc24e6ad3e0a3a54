package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
)

// fakeTokens verifies "good-<uuid>" tokens.
type fakeTokens struct{}

func (fakeTokens) Verify(token string) (uuid.UUID, error) {
	if len(token) > 5 && token[:5] == "good-" {
		if id, err := uuid.Parse(token[5:]); err == nil {
			return id, nil
		}
	}
	return uuid.Nil, crm.Errorf(crm.CodeUnauthenticated, "bad token")
}

// fakeUsers knows the users in the set, and fails for errUser.
type fakeUsers map[uuid.UUID]bool

var errUser = uuid.New()

func (f fakeUsers) UserExists(_ context.Context, id uuid.UUID) (bool, error) {
	if id == errUser {
		return false, errors.New("database down")
	}
	return f[id], nil
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	known, unknown := uuid.New(), uuid.New()
	h := Authenticate(fakeTokens{}, fakeUsers{known: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := crm.ActorFrom(r.Context())
		if err != nil || a.UserID != known {
			t.Errorf("actor = %v, %v", a, err)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"valid", "Bearer good-" + known.String(), 204},
		{"scheme in any case", "bEaReR good-" + known.String(), 204},
		{"extra spaces", "  Bearer   good-" + known.String() + " ", 204},
		{"no header", "", 401},
		{"scheme only", "Bearer", 401},
		{"empty token", "Bearer ", 401},
		{"another scheme", "Basic good-" + known.String(), 401},
		{"no scheme", "good-" + known.String(), 401},
		{"a bad token", "Bearer bad", 401},
		{"an unknown user", "Bearer good-" + unknown.String(), 401},
		{"the lookup fails", "Bearer good-" + errUser.String(), 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 401 {
				if p := readProblem(t, rec); p.Code != crm.CodeUnauthenticated {
					t.Fatalf("code %s", p.Code)
				}
				if rec.Header().Get("WWW-Authenticate") != "Bearer" {
					t.Fatal("no WWW-Authenticate: Bearer")
				}
			}
		})
	}
}
