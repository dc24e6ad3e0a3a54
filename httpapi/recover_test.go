package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/crm"
)

func TestRecover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		wantPanic  any // what escapes Recover, nil for nothing
		wantLog    bool
	}{
		{
			name:       "no panic passes through",
			h:          func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			wantStatus: 204,
		},
		{
			name:       "panic becomes a 500 problem",
			h:          func(w http.ResponseWriter, r *http.Request) { panic("nil map in deals handler") },
			wantStatus: 500, wantLog: true,
		},
		{
			name:       "ErrAbortHandler is not swallowed",
			h:          func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) },
			wantStatus: 200, wantPanic: http.ErrAbortHandler,
		},
		{
			name: "panic after the response started aborts it",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				panic("late")
			},
			wantStatus: 200, wantPanic: http.ErrAbortHandler, wantLog: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, sink := newTestLogger()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r = r.WithContext(crm.WithRequestID(r.Context(), "req-9"))
			rec := httptest.NewRecorder()

			var escaped any
			func() {
				defer func() { escaped = recover() }()
				Recover(logger)(tt.h).ServeHTTP(rec, r)
			}()

			if escaped != tt.wantPanic {
				t.Fatalf("escaped panic %v, want %v", escaped, tt.wantPanic)
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantStatus == 500 {
				p := readProblem(t, rec)
				if p.Code != crm.CodeInternal || p.Detail != "internal error" || p.RequestID != "req-9" {
					t.Errorf("problem = %+v", p)
				}
				if strings.Contains(rec.Body.String(), "nil map") {
					t.Errorf("body reveals the panic: %s", rec.Body)
				}
			}
			lines := sink.lines(t)
			if !tt.wantLog {
				if len(lines) != 0 {
					t.Errorf("unexpected log %v", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("want one log line, got %v", lines)
			}
			l := lines[0]
			stack, _ := l["stack"].(string)
			if l["request_id"] != "req-9" || l["level"] != "ERROR" || !strings.Contains(stack, "recover_test.go") || l["panic"] == "" {
				t.Errorf("log line %v lacks request id, stack or panic value", l)
			}
		})
	}
}
