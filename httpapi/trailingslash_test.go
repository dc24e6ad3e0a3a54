package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

func TestStripTrailingSlash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		target   string
		wantCode int
		wantPath string // path the handler saw
	}{
		{name: "no slash", method: "GET", target: "/api/v1/deals", wantCode: 200, wantPath: "/api/v1/deals"},
		{name: "one slash is stripped, no redirect", method: "GET", target: "/api/v1/deals/", wantCode: 200, wantPath: "/api/v1/deals"},
		{name: "POST keeps its method and body", method: "POST", target: "/api/v1/deals/", wantCode: 201, wantPath: "/api/v1/deals"},
		{name: "root is untouched", method: "GET", target: "/", wantCode: 200, wantPath: "/"},
		{name: "with query", method: "GET", target: "/api/v1/deals/?page=2", wantCode: 200, wantPath: "/api/v1/deals"},
		{name: "only one slash is stripped", method: "GET", target: "/api/v1/deals//", wantCode: 404},
		{name: "item path", method: "GET", target: "/api/v1/deals/d1/", wantCode: 200, wantPath: "/api/v1/deals/d1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			router := mux.NewRouter()
			router.NotFoundHandler = NotFound(router)
			record := func(code int) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					seen = r.URL.Path
					w.WriteHeader(code)
				}
			}
			router.Handle("/", record(200)).Methods("GET")
			router.Handle("/api/v1/deals", record(200)).Methods("GET")
			router.Handle("/api/v1/deals", record(201)).Methods("POST")
			router.Handle("/api/v1/deals/{id}", record(200)).Methods("GET")

			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, tt.target, nil)
			StripTrailingSlash(router).ServeHTTP(rec, r)
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d (Location %q)", rec.Code, tt.wantCode, rec.Header().Get("Location"))
			}
			if seen != tt.wantPath {
				t.Errorf("handler saw %q, want %q", seen, tt.wantPath)
			}
		})
	}
}

func TestStripTrailingSlashLeavesTheCallersRequestAlone(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/a/b%2Fc/", nil)
	var seenPath, seenRaw string
	StripTrailingSlash(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenPath, seenRaw = r.URL.Path, r.URL.RawPath
	})).ServeHTTP(httptest.NewRecorder(), r)
	if seenPath != "/a/b/c" || seenRaw != "/a/b%2Fc" {
		t.Errorf("saw %q %q", seenPath, seenRaw)
	}
	if r.URL.Path != "/a/b/c/" {
		t.Errorf("caller's request changed to %q", r.URL.Path)
	}
}
