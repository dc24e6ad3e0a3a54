package httpapi

import (
	"net/http"
	"strings"

	"example.com/crm"
	"github.com/gorilla/mux"
)

// NotFound returns the handler for mux's NotFoundHandler: an unknown route
// answers 404 NOT_FOUND as a problem, like every other error, instead of
// mux's plain-text "404 page not found".
//
// Given the router, it first checks whether the path exists under another
// method and then answers 405 with Allow instead: gorilla/mux v1.8.1
// reports a wrong method on a subrouter's route as not found unless that
// route is the subrouter's last (gorilla/mux#751).
func NotFound(router *mux.Router) http.Handler {
	return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if allow := allowedMethods(router, r); allow != "" {
			return methodNotAllowed(w, r, allow)
		}
		return crm.Errorf(crm.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
	})
}

// MethodNotAllowed returns the handler for mux's MethodNotAllowedHandler:
// 405 METHOD_NOT_ALLOWED as a problem, with the Allow header RFC 9110
// requires, found by asking router which methods match the path. With a
// nil router the Allow header is left out.
func MethodNotAllowed(router *mux.Router) http.Handler {
	return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return methodNotAllowed(w, r, allowedMethods(router, r))
	})
}

// methodNotAllowed sets Allow (when known) and returns the 405 error.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) error {
	if allow != "" {
		w.Header().Set("Allow", allow)
	}
	return crm.Errorf(crm.CodeMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
}

// allowedMethods lists, comma-separated, the methods router would route
// for r's path.
func allowedMethods(router *mux.Router, r *http.Request) string {
	if router == nil {
		return ""
	}
	var allow []string
	for _, m := range []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
	} {
		probe := *r // shallow: Match only reads method, host and path
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(&probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}
