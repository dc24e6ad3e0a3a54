package httpapi

import (
	"net/http"
	"strconv"
	"strings"
)

// The CORS vocabulary of the API: what a browser may send and read.
const (
	corsAllowMethods  = "GET, POST, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, X-Organization-Id, If-Match, Idempotency-Key, X-Request-Id, Consistency"
	corsExposeHeaders = "ETag, Location, X-Request-Id, X-Event-Position, Idempotent-Replayed, Retry-After"
	// corsMaxAge is how long, in seconds, a browser may cache a preflight:
	// short enough that a change of CORS_ORIGINS takes effect soon.
	corsMaxAge = 600
)

// CORS is middleware letting browsers on the given origins (CORS_ORIGINS;
// "*" for any) call the API. Origins compare case-insensitively, a
// trailing slash ignored.
//
// A preflight (OPTIONS with Access-Control-Request-Method) from an allowed
// origin is answered 204 here, with the allowed methods and headers and a
// Max-Age; other requests from it get Access-Control-Allow-Origin and the
// exposed headers. Requests from other origins get no CORS header at all
// and go on to the router, where a preflight meets 405: the browser then
// refuses the call, which is the point. Credentials (cookies) are never
// allowed: the API authenticates with bearer tokens.
func CORS(origins []string) func(http.Handler) http.Handler {
	allowAny := false
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		o = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o), "/"))
		switch o {
		case "":
		case "*":
			allowAny = true
		default:
			allowed[o] = true
		}
	}
	if !allowAny && len(allowed) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			h := w.Header()
			if !allowAny {
				// The answer depends on Origin: caches must key on it.
				h.Add("Vary", "Origin")
			}
			if origin == "" || !(allowAny || allowed[strings.ToLower(origin)]) {
				next.ServeHTTP(w, r)
				return
			}
			if allowAny {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next.ServeHTTP(w, r)
		})
	}
}
