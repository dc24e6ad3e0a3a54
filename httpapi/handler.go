package httpapi

import (
	"log/slog"
	"net/http"

	"example.com/crm"
)

// HandlerFunc is an HTTP handler that returns its failure instead of
// writing it, so every error reaches the client through WriteError (one
// format, one status table) and a handler cannot forget to return after
// answering an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP runs h and answers a returned error with WriteError (or, for
// a request whose Idempotency-Key another request used meanwhile, with
// that request's stored response: see Idempotent). When h
// has already started its response, a status can no longer be sent: the
// error is logged and the connection aborted so that the client sees a
// truncated answer rather than a seemingly complete one.
func (h HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	recordRoute(r)
	rw := wrapWriter(w)
	err := h(rw, r)
	if err == nil {
		return
	}
	if rw.wroteHeader {
		LoggerFrom(r.Context()).ErrorContext(r.Context(), "handler failed after writing its response",
			slog.String("request_id", crm.RequestIDFrom(r.Context())),
			slog.Int("status", rw.status),
			slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
	if replayAfterError(rw, r) {
		return
	}
	WriteError(rw, r, err)
}
