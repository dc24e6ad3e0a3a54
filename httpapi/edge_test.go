package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"example.com/crm"
	"github.com/gorilla/mux"
)

// TestEdge drives the wiring of the package doc end to end: every answer,
// whichever middleware gives it, carries the request id and is counted.
func TestEdge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		wantStatus  int
		wantCode    crm.Code
		wantRoute   string
	}{
		{name: "create through a trailing slash", method: "POST", target: "/api/v1/deals/", contentType: "application/json", body: `{"title":"x"}`, wantStatus: 201, wantRoute: "/api/v1/deals"},
		{name: "not JSON", method: "POST", target: "/api/v1/deals", contentType: "text/plain", body: "x", wantStatus: 415, wantCode: crm.CodeUnsupportedMediaType, wantRoute: "unmatched"},
		{name: "too large", method: "POST", target: "/api/v1/deals", contentType: "application/json", body: `{"title":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, wantStatus: 413, wantCode: crm.CodeBodyTooLarge, wantRoute: "unmatched"},
		{name: "unknown field", method: "POST", target: "/api/v1/deals", contentType: "application/json", body: `{"titel":"x"}`, wantStatus: 400, wantCode: crm.CodeValidation, wantRoute: "/api/v1/deals"},
		{name: "bad id", method: "GET", target: "/api/v1/deals/42", wantStatus: 400, wantCode: crm.CodeValidation, wantRoute: "/api/v1/deals/{deal_id}"},
		{name: "bad page", method: "GET", target: "/api/v1/deals?page=0", wantStatus: 400, wantCode: crm.CodeValidation, wantRoute: "/api/v1/deals"},
		{name: "panic", method: "DELETE", target: "/api/v1/deals/" + testUUID, wantStatus: 500, wantCode: crm.CodeInternal, wantRoute: "/api/v1/deals/{deal_id}"},
		{name: "no route", method: "GET", target: "/api/v2", wantStatus: 404, wantCode: crm.CodeNotFound, wantRoute: "unmatched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, sink := newTestLogger()
			reg := newRegistry()
			metrics, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			router := mux.NewRouter()
			router.NotFoundHandler = NotFound(router)
			router.MethodNotAllowedHandler = MethodNotAllowed(router)
			router.Use(RecordRoute)
			api := router.PathPrefix("/api/v1").Subrouter()
			api.Handle("/deals", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				var in struct {
					Title string `json:"title"`
				}
				if err := Decode(r, &in); err != nil {
					return err
				}
				w.Header().Set("Location", "/api/v1/deals/"+testUUID)
				return WriteJSON(w, http.StatusCreated, in)
			})).Methods("POST")
			api.Handle("/deals", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				page, size, err := Paging(r)
				if err != nil {
					return err
				}
				return WriteJSON(w, http.StatusOK, map[string]any{"items": []any{}, "page": page, "page_size": size, "total": 0})
			})).Methods("GET")
			api.Handle("/deals/{deal_id}", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if _, err := PathUUID(r, "deal_id"); err != nil {
					return err
				}
				if r.Method == http.MethodDelete {
					panic("bug")
				}
				return nil
			})).Methods("GET", "DELETE")

			h := Chain(router,
				RequestID,
				Logger(logger),
				AccessLog(logger),
				metrics.Middleware,
				Recover(logger),
				CORS([]string{"https://app.example.com"}),
				StripTrailingSlash,
				BodyLimit(MaxBodyBytes),
				RequireJSON,
			)
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %.200s", rec.Code, tt.wantStatus, rec.Body)
			}
			id := rec.Header().Get(RequestIDHeader)
			if id == "" {
				t.Fatal("no X-Request-Id")
			}
			if tt.wantCode != "" {
				p := readProblem(t, rec)
				if p.Code != tt.wantCode || p.RequestID != id {
					t.Errorf("problem %+v, want code %s and request id %s", p, tt.wantCode, id)
				}
			}
			if got := counterValue(t, reg, tt.wantRoute, tt.method, strconv.Itoa(tt.wantStatus)); got != 1 {
				t.Errorf("requests_total{%s,%s,%d} = %v", tt.wantRoute, tt.method, tt.wantStatus, got)
			}
			for _, l := range sink.lines(t) {
				if l["request_id"] != id {
					t.Errorf("log line without the request id: %v", l)
				}
			}
		})
	}
}
