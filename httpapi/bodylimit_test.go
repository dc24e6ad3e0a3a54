package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/crm"
)

// chunked hides a body's length, as a chunked upload does.
func chunked(r *http.Request) *http.Request {
	r.ContentLength = -1
	r.Body = io.NopCloser(r.Body)
	return r
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 64
	small := `{"name":"acme"}`
	big := `{"name":"` + strings.Repeat("x", limit) + `"}`
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantCode   crm.Code
		wantReach  bool // did the handler run
	}{
		{name: "under the limit", req: httptest.NewRequest("POST", "/", strings.NewReader(small)), wantStatus: 200, wantReach: true},
		{name: "no body", req: httptest.NewRequest("GET", "/", nil), wantStatus: 200, wantReach: true},
		{name: "declared length over the limit refused at once", req: httptest.NewRequest("POST", "/", strings.NewReader(big)), wantStatus: 413, wantCode: crm.CodeBodyTooLarge},
		{name: "undeclared length over the limit fails in Decode", req: chunked(httptest.NewRequest("POST", "/", strings.NewReader(big))), wantStatus: 413, wantCode: crm.CodeBodyTooLarge, wantReach: true},
		{name: "undeclared length under the limit", req: chunked(httptest.NewRequest("POST", "/", strings.NewReader(small))), wantStatus: 200, wantReach: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reached := false
			h := BodyLimit(limit)(HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				reached = true
				if r.Method == "GET" {
					return nil
				}
				var in struct {
					Name string `json:"name"`
				}
				return Decode(r, &in)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req)
			if rec.Code != tt.wantStatus || reached != tt.wantReach {
				t.Fatalf("status %d reached %v, want %d %v; body %s", rec.Code, reached, tt.wantStatus, tt.wantReach, rec.Body)
			}
			if tt.wantCode != "" {
				if p := readProblem(t, rec); p.Code != tt.wantCode {
					t.Errorf("code %s, want %s", p.Code, tt.wantCode)
				}
			}
		})
	}
}

func TestMaxBodyBytesIsOneMiB(t *testing.T) {
	t.Parallel()
	if MaxBodyBytes != 1024*1024 {
		t.Errorf("MaxBodyBytes = %d", MaxBodyBytes)
	}
}
