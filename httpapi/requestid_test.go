package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/crm"
	"github.com/google/uuid"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		header   string // "" for none
		wantKept bool
	}{
		{name: "absent is generated"},
		{name: "client id is echoed", header: "abc-123_XYZ.~", wantKept: true},
		{name: "128 characters are kept", header: strings.Repeat("a", 128), wantKept: true},
		{name: "129 characters are replaced", header: strings.Repeat("a", 129)},
		{name: "a space is replaced", header: "a b"},
		{name: "a control character is replaced", header: "a\x01b"},
		{name: "non-ASCII is replaced", header: "café"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var inCtx string
			h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inCtx = crm.RequestIDFrom(r.Context())
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set(RequestIDHeader, tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			got := rec.Header().Get(RequestIDHeader)
			if got != inCtx {
				t.Errorf("response id %q, context id %q", got, inCtx)
			}
			if tt.wantKept {
				if got != tt.header {
					t.Errorf("id = %q, want the client's %q", got, tt.header)
				}
				return
			}
			id, err := uuid.Parse(got)
			if err != nil || id.Version() != 7 {
				t.Errorf("generated id %q is not a UUID v7 (%v)", got, err)
			}
		})
	}
}

func TestRequestIDIsUniquePerRequest(t *testing.T) {
	t.Parallel()
	h := RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := map[string]bool{}
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		id := rec.Header().Get(RequestIDHeader)
		if seen[id] {
			t.Fatalf("id %s generated twice", id)
		}
		seen[id] = true
	}
}
