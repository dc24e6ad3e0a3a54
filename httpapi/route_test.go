package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

func TestRouteOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		useRecord bool // router.Use(RecordRoute)
		handler   http.Handler
		path      string
		want      string
	}{
		{name: "plain handler with RecordRoute", useRecord: true, handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), path: "/orgs/o1/members/u1", want: "/orgs/{org_id}/members/{user_id}"},
		{name: "HandlerFunc records by itself", handler: HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }), path: "/orgs/o1/members/u1", want: "/orgs/{org_id}/members/{user_id}"},
		{name: "plain handler without RecordRoute", handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), path: "/orgs/o1/members/u1", want: "unmatched"},
		{name: "no route", useRecord: true, handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), path: "/x", want: "unmatched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			router := mux.NewRouter()
			if tt.useRecord {
				router.Use(RecordRoute)
			}
			router.Handle("/orgs/{org_id}/members/{user_id}", tt.handler)
			var got string
			outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r, ri := withRouteInfo(r)
				router.ServeHTTP(w, r)
				got = routeOf(r, ri)
			})
			outer.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tt.path, nil))
			if got != tt.want {
				t.Errorf("route = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRouteOfInsideTheRouter(t *testing.T) {
	t.Parallel()
	router := mux.NewRouter()
	var got string
	router.Handle("/deals/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = routeOf(r, nil)
	}))
	router.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/deals/1", nil))
	if got != "/deals/{id}" {
		t.Errorf("route = %q", got)
	}
}
