package httpapi

import (
	"net/http"

	"example.com/crm"
	"github.com/google/uuid"
)

// RequestIDHeader is the header a request id travels in, both ways.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client-chosen request id: it ends up in every
// log line of the request.
const maxRequestIDLen = 128

// RequestID is middleware giving every request an id (API.md §1): the
// client's X-Request-Id when it is 1–128 visible ASCII characters, so a
// caller can follow its own id through our logs, else a fresh UUID v7. The
// id is stored with crm.WithRequestID (logs, error bodies, event
// metadata) and echoed in the response header.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(crm.WithRequestID(r.Context(), id)))
	})
}

// validRequestID reports whether a client-sent id may be kept: anything
// else (control characters, spaces, non-ASCII) could forge log lines.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns a UUID v7, time-ordered like every other id of the
// API, falling back to v4 if the clock-based generator fails.
func newRequestID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}
