package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/crm"
	"github.com/gorilla/mux"
)

// testRouter is a small API: a HandlerFunc route, a plain http.Handler
// route (recorded by RecordRoute), a failing route and a panicking one.
func testRouter() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = NotFound(r)
	r.MethodNotAllowedHandler = MethodNotAllowed(r)
	r.Use(RecordRoute)
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Handle("/deals/{deal_id}", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return WriteJSON(w, http.StatusOK, map[string]string{"id": mux.Vars(r)["deal_id"]})
	})).Methods(http.MethodGet)
	api.Handle("/plain", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})).Methods(http.MethodPost)
	api.Handle("/fail", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return crm.Errorf(crm.CodeUnavailable, "db down")
	})).Methods(http.MethodGet)
	api.Handle("/panic", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("bug")
	})).Methods(http.MethodGet)
	return r
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		path       string
		wantRoute  string
		wantStatus float64
		wantLevel  string
		wantBytes  bool
		wantAbort  bool
	}{
		{name: "HandlerFunc route", method: "GET", path: "/api/v1/deals/d1", wantRoute: "/api/v1/deals/{deal_id}", wantStatus: 200, wantLevel: "INFO", wantBytes: true},
		{name: "plain handler via RecordRoute", method: "POST", path: "/api/v1/plain", wantRoute: "/api/v1/plain", wantStatus: 202, wantLevel: "INFO"},
		{name: "unknown route", method: "GET", path: "/nope", wantRoute: "unmatched", wantStatus: 404, wantLevel: "INFO", wantBytes: true},
		{name: "wrong method", method: "DELETE", path: "/api/v1/deals/d1", wantRoute: "unmatched", wantStatus: 405, wantLevel: "INFO", wantBytes: true},
		{name: "503 (come back later) logs at warn", method: "GET", path: "/api/v1/fail", wantRoute: "/api/v1/fail", wantStatus: 503, wantLevel: "WARN", wantBytes: true},
		{name: "panic still logged", method: "GET", path: "/api/v1/panic", wantRoute: "/api/v1/panic", wantStatus: 500, wantLevel: "ERROR", wantAbort: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, sink := newTestLogger()
			h := Chain(testRouter(), RequestID, Logger(logger), AccessLog(logger))
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.Header.Set(RequestIDHeader, "rid-1")
			rec := httptest.NewRecorder()
			func() {
				defer func() { _ = recover() }()
				h.ServeHTTP(rec, r)
			}()

			var access map[string]any
			for _, l := range sink.lines(t) {
				if l["msg"] == "request" {
					if access != nil {
						t.Fatalf("two access lines: %v", sink.lines(t))
					}
					access = l
				}
			}
			if access == nil {
				t.Fatalf("no access line in %v", sink.lines(t))
			}
			want := map[string]any{
				"method": tt.method, "route": tt.wantRoute, "path": tt.path,
				"status": tt.wantStatus, "request_id": "rid-1", "level": tt.wantLevel,
			}
			for k, v := range want {
				if access[k] != v {
					t.Errorf("%s = %v, want %v (line %v)", k, access[k], v, access)
				}
			}
			if got := access["bytes"].(float64); (got > 0) != tt.wantBytes || (tt.wantBytes && int(got) != rec.Body.Len()) {
				t.Errorf("bytes = %v, body has %d", got, rec.Body.Len())
			}
			if _, ok := access["duration"]; !ok {
				t.Error("no duration")
			}
			if _, aborted := access["aborted"]; aborted != tt.wantAbort {
				t.Errorf("aborted = %v, want %v", aborted, tt.wantAbort)
			}
		})
	}
}
