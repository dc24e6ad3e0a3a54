package httpapi

import "net/http"

// HeadAsGet is middleware serving HEAD like GET (RFC 9110 §9.3.2: the
// same status and headers, without the body): the routes register GET
// only, and the router would otherwise answer 405. net/http drops the
// body of a response to a HEAD request by itself, since the connection
// still knows the request's method.
func HeadAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.Method = http.MethodGet
		next.ServeHTTP(w, r2)
	})
}
