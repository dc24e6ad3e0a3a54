package httpapi

import (
	"net/http"
	"strings"
)

// StripTrailingSlash is middleware removing one trailing slash from the
// path (never from "/") before routing, so /api/v1/deals/ is served as
// /api/v1/deals (API.md §1) without a redirect, which would cost clients a
// round trip and turn a POST into a GET in some of them.
func StripTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) <= 1 || !strings.HasSuffix(p, "/") {
			next.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = p[:len(p)-1]
		if u.RawPath != "" {
			u.RawPath = strings.TrimSuffix(u.RawPath, "/")
		}
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}
