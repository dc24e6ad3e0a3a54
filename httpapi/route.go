package httpapi

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
)

// unmatchedRoute labels requests no route matched (404, 405, preflights):
// the raw path would give metrics unbounded cardinality.
const unmatchedRoute = "unmatched"

// routeKey is the context key of the *routeInfo of a request.
type routeKey struct{}

// routeInfo carries the matched route template from inside the router
// back out to the middleware around it. mux records the route in a new
// request that outer middleware never sees, so they leave this holder in
// the context and the inside fills it in.
type routeInfo struct {
	template string
}

// withRouteInfo returns r carrying a route holder, reusing the one an
// outer middleware already installed.
func withRouteInfo(r *http.Request) (*http.Request, *routeInfo) {
	if ri, ok := r.Context().Value(routeKey{}).(*routeInfo); ok {
		return r, ri
	}
	ri := &routeInfo{}
	return r.WithContext(context.WithValue(r.Context(), routeKey{}, ri)), ri
}

// recordRoute copies mux's current route template, if any, into the
// holder of r's context.
func recordRoute(r *http.Request) {
	ri, ok := r.Context().Value(routeKey{}).(*routeInfo)
	if !ok || ri.template != "" {
		return
	}
	if route := mux.CurrentRoute(r); route != nil {
		if tpl, err := route.GetPathTemplate(); err == nil {
			ri.template = tpl
		}
	}
}

// routeOf returns the template recorded for r (by RecordRoute or a
// HandlerFunc), mux's current route when the caller itself runs inside
// the router, or "unmatched".
func routeOf(r *http.Request, ri *routeInfo) string {
	if ri != nil && ri.template != "" {
		return ri.template
	}
	if route := mux.CurrentRoute(r); route != nil {
		if tpl, err := route.GetPathTemplate(); err == nil {
			return tpl
		}
	}
	return unmatchedRoute
}

// RecordRoute is mux middleware (router.Use(httpapi.RecordRoute)) that
// tells AccessLog and Metrics, which run outside the router, which route
// template matched. Handlers written as HandlerFunc record it themselves;
// RecordRoute covers the others (promhttp, static files).
func RecordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recordRoute(r)
		next.ServeHTTP(w, r)
	})
}
