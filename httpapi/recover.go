package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"example.com/crm"
)

// Recover is middleware turning a panic into a 500 problem, logged to l
// with its stack and the request id, so a bug in one handler neither
// kills the connection silently nor shows a stack trace to the client.
//
// http.ErrAbortHandler is re-panicked: it is how a handler asks net/http
// to abort the response. A panic after the response started cannot
// become a 500 any more; it is logged and the response aborted.
func Recover(l *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := wrapWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				l.ErrorContext(r.Context(), "panic",
					slog.String("request_id", crm.RequestIDFrom(r.Context())),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if rw.wroteHeader {
					panic(http.ErrAbortHandler)
				}
				p, _ := problemFor(r, errors.New("panic"))
				writeProblem(rw, p, 0)
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
