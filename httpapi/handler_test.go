package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/crm"
)

func TestHandlerFunc(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		h          HandlerFunc
		wantStatus int
		wantCode   crm.Code // "" for a success
		wantAbort  bool
	}{
		{
			name:       "success writes its own answer",
			h:          func(w http.ResponseWriter, r *http.Request) error { return WriteJSON(w, 201, map[string]int{"id": 1}) },
			wantStatus: 201,
		},
		{
			name: "returned error becomes a problem",
			h: func(w http.ResponseWriter, r *http.Request) error {
				return crm.Errorf(crm.CodeDealNotFound, "no deal d1")
			},
			wantStatus: 404, wantCode: crm.CodeDealNotFound,
		},
		{
			name:       "plain error is a 500",
			h:          func(w http.ResponseWriter, r *http.Request) error { return errors.New("boom") },
			wantStatus: 500, wantCode: crm.CodeInternal,
		},
		{
			name: "error after the response started aborts it",
			h: func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(200)
				return errors.New("stream broke")
			},
			wantStatus: 200, wantAbort: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, sink := newTestLogger()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = r.WithContext(WithLogger(r.Context(), logger))
			rec := httptest.NewRecorder()

			aborted := func() (aborted bool) {
				defer func() {
					if v := recover(); v != nil {
						if v != http.ErrAbortHandler {
							t.Fatalf("panic %v, want http.ErrAbortHandler", v)
						}
						aborted = true
					}
				}()
				tt.h.ServeHTTP(rec, r)
				return false
			}()

			if aborted != tt.wantAbort {
				t.Fatalf("aborted = %v, want %v", aborted, tt.wantAbort)
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantAbort {
				if len(sink.lines(t)) != 1 {
					t.Errorf("want the late error logged, got %v", sink.lines(t))
				}
				return
			}
			if tt.wantCode != "" {
				if p := readProblem(t, rec); p.Code != tt.wantCode {
					t.Errorf("code = %s, want %s", p.Code, tt.wantCode)
				}
			}
		})
	}
}
