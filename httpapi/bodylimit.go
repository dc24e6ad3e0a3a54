package httpapi

import (
	"net/http"

	"example.com/crm"
)

// MaxBodyBytes is the request body limit of API.md §1: 1 MiB.
const MaxBodyBytes = 1 << 20

// BodyLimit is middleware capping request bodies at limit bytes with
// http.MaxBytesReader, so a client cannot make the server buffer an
// unbounded body. A declared Content-Length over the limit is refused at
// once; a body that turns out longer fails when read, and Decode (or
// WriteError, for other readers) answers 413 BODY_TOO_LARGE.
func BodyLimit(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				WriteError(w, r, crm.Errorf(crm.CodeBodyTooLarge,
					"request body exceeds %d bytes", limit))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}
