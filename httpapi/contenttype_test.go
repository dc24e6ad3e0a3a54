package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/crm"
)

func TestRequireJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		chunked     bool
		wantPass    bool
	}{
		{name: "json", method: "POST", contentType: "application/json", body: "{}", wantPass: true},
		{name: "json with utf-8 charset", method: "PATCH", contentType: "application/json; charset=UTF-8", body: "{}", wantPass: true},
		{name: "upper-case media type", method: "PUT", contentType: "Application/JSON", body: "{}", wantPass: true},
		{name: "+json suffix", method: "PATCH", contentType: "application/merge-patch+json", body: "{}", wantPass: true},
		{name: "bare +json is not a type", method: "POST", contentType: "application/+json", body: "{}"},
		{name: "other charset", method: "POST", contentType: "application/json; charset=latin1", body: "{}"},
		{name: "text/plain", method: "POST", contentType: "text/plain", body: "{}"},
		{name: "form", method: "POST", contentType: "application/x-www-form-urlencoded", body: "a=1"},
		{name: "missing content type", method: "POST", body: "{}"},
		{name: "unparsable content type", method: "POST", contentType: "application/json; charset", body: "{}"},
		{name: "chunked body without type", method: "POST", body: "{}", chunked: true},
		{name: "empty POST without type", method: "POST", wantPass: true},
		{name: "empty chunked POST without type", method: "POST", chunked: true, wantPass: true},
		{name: "GET is not checked", method: "GET", contentType: "text/plain", body: "x", wantPass: true},
		{name: "DELETE is not checked", method: "DELETE", contentType: "text/plain", body: "x", wantPass: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotBody string
			h := RequireJSON(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				w.WriteHeader(http.StatusNoContent)
			}))
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, "/", body)
			if tt.chunked {
				r = chunked(r)
			}
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if tt.wantPass {
				if rec.Code != http.StatusNoContent || gotBody != tt.body {
					t.Fatalf("status %d, body seen %q; want pass-through of %q", rec.Code, gotBody, tt.body)
				}
				return
			}
			if rec.Code != http.StatusUnsupportedMediaType {
				t.Fatalf("status %d, want 415", rec.Code)
			}
			if p := readProblem(t, rec); p.Code != crm.CodeUnsupportedMediaType {
				t.Errorf("code %s", p.Code)
			}
		})
	}
}
