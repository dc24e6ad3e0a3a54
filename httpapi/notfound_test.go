package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/crm"
	"github.com/gorilla/mux"
)

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	newRouter := func() *mux.Router {
		r := mux.NewRouter()
		r.NotFoundHandler = NotFound(r)
		r.MethodNotAllowedHandler = MethodNotAllowed(r)
		r.Handle("/health", ok).Methods("GET")
		api := r.PathPrefix("/api/v1").Subrouter()
		api.Handle("/deals", ok).Methods("GET", "POST")
		api.Handle("/deals/{id}", ok).Methods("GET", "PATCH", "DELETE")
		api.Handle("/tasks", ok).Methods("GET")
		return r
	}
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   crm.Code
		wantAllow  string
	}{
		{name: "unknown path", method: "GET", path: "/nope", wantStatus: 404, wantCode: crm.CodeNotFound},
		{name: "unknown path under the api", method: "GET", path: "/api/v1/nope", wantStatus: 404, wantCode: crm.CodeNotFound},
		{name: "wrong method on a root route", method: "POST", path: "/health", wantStatus: 405, wantCode: crm.CodeMethodNotAllowed, wantAllow: "GET"},
		{name: "wrong method on the last subrouter route", method: "DELETE", path: "/api/v1/tasks", wantStatus: 405, wantCode: crm.CodeMethodNotAllowed, wantAllow: "GET"},
		// gorilla/mux#751: mux itself says 404 here; NotFound corrects it.
		{name: "wrong method on an earlier subrouter route", method: "DELETE", path: "/api/v1/deals", wantStatus: 405, wantCode: crm.CodeMethodNotAllowed, wantAllow: "GET, POST"},
		{name: "wrong method on a templated route", method: "POST", path: "/api/v1/deals/d1", wantStatus: 405, wantCode: crm.CodeMethodNotAllowed, wantAllow: "GET, PATCH, DELETE"},
		{name: "matched route", method: "PATCH", path: "/api/v1/deals/d1", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, tt.path, nil)
			newRouter().ServeHTTP(rec, r)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if tt.wantCode != "" {
				if p := readProblem(t, rec); p.Code != tt.wantCode {
					t.Errorf("code %s, want %s", p.Code, tt.wantCode)
				}
			}
		})
	}
}

func TestWithoutRouterNoAllowHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		h          http.Handler
		wantStatus int
	}{
		{name: "not found", h: NotFound(nil), wantStatus: 404},
		{name: "method not allowed", h: MethodNotAllowed(nil), wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequest("PUT", "/x", nil))
			if rec.Code != tt.wantStatus || rec.Header().Get("Allow") != "" {
				t.Errorf("status %d Allow %q", rec.Code, rec.Header().Get("Allow"))
			}
			readProblem(t, rec)
		})
	}
}
