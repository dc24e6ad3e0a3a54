package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	const (
		app   = "https://app.example.com"
		other = "https://evil.example.net"
	)
	tests := []struct {
		name        string
		origins     []string
		method      string
		origin      string
		preflight   bool
		wantStatus  int
		wantAllow   string // Access-Control-Allow-Origin; "" means no CORS headers
		wantReached bool
		wantVary    bool
	}{
		{name: "allowed simple request", origins: []string{app}, method: "GET", origin: app, wantStatus: 200, wantAllow: app, wantReached: true, wantVary: true},
		{name: "config with trailing slash and case", origins: []string{"HTTPS://App.Example.com/"}, method: "GET", origin: app, wantStatus: 200, wantAllow: app, wantReached: true, wantVary: true},
		{name: "allowed preflight", origins: []string{app}, method: "OPTIONS", origin: app, preflight: true, wantStatus: 204, wantAllow: app, wantVary: true},
		{name: "disallowed origin gets nothing", origins: []string{app}, method: "GET", origin: other, wantStatus: 200, wantReached: true, wantVary: true},
		{name: "disallowed preflight goes to the router", origins: []string{app}, method: "OPTIONS", origin: other, preflight: true, wantStatus: 200, wantReached: true, wantVary: true},
		{name: "no Origin header", origins: []string{app}, method: "GET", wantStatus: 200, wantReached: true, wantVary: true},
		{name: "OPTIONS without request method is no preflight", origins: []string{app}, method: "OPTIONS", origin: app, wantStatus: 200, wantAllow: app, wantReached: true, wantVary: true},
		{name: "wildcard", origins: []string{"*"}, method: "POST", origin: other, wantStatus: 200, wantAllow: "*", wantReached: true},
		{name: "wildcard preflight", origins: []string{"*"}, method: "OPTIONS", origin: other, preflight: true, wantStatus: 204, wantAllow: "*"},
		{name: "no origins configured", origins: nil, method: "GET", origin: app, wantStatus: 200, wantReached: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reached := false
			h := CORS(tt.origins)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached = true
			}))
			r := httptest.NewRequest(tt.method, "/api/v1/deals", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.preflight {
				r.Header.Set("Access-Control-Request-Method", "PATCH")
				r.Header.Set("Access-Control-Request-Headers", "authorization, if-match")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)

			if rec.Code != tt.wantStatus || reached != tt.wantReached {
				t.Fatalf("status %d reached %v, want %d %v", rec.Code, reached, tt.wantStatus, tt.wantReached)
			}
			hd := rec.Header()
			if got := hd.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("Allow-Origin = %q, want %q", got, tt.wantAllow)
			}
			if hd.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials must never be allowed")
			}
			if got := len(hd.Values("Vary")) > 0 && hd.Values("Vary")[0] == "Origin"; got != tt.wantVary {
				t.Errorf("Vary = %q, want Origin: %v", hd.Values("Vary"), tt.wantVary)
			}
			isPreflight := tt.wantAllow != "" && tt.preflight
			want := map[string]string{
				"Access-Control-Allow-Methods":  "",
				"Access-Control-Allow-Headers":  "",
				"Access-Control-Max-Age":        "",
				"Access-Control-Expose-Headers": "",
			}
			switch {
			case isPreflight:
				want["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
				want["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Organization-Id, If-Match, Idempotency-Key, X-Request-Id, Consistency"
				want["Access-Control-Max-Age"] = "600"
			case tt.wantAllow != "":
				want["Access-Control-Expose-Headers"] = "ETag, Location, X-Request-Id, X-Event-Position, Idempotent-Replayed, Retry-After"
			}
			for k, v := range want {
				if got := hd.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
