package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"example.com/crm"
)

// AccessLog is middleware writing one line to l per request: method,
// route template (or "unmatched"), path, status, bytes, duration and
// request id. 5xx answers log at Error, except 503 (a dependency is
// down or the server is shutting down: the answer says when to retry, and
// an outage of a minute would otherwise fill the error log with one line
// per request) at Warn; the rest at Info.
//
// The line is written even when a panic passes through (with
// aborted=true, and status 500 if nothing had been sent), so no request
// goes unlogged. Put it inside RequestID and outside Recover.
func AccessLog(l *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			r, ri := withRouteInfo(r)
			rw := wrapWriter(w)
			completed := false
			defer func() {
				status := rw.statusOrOK()
				if !completed && !rw.wroteHeader {
					status = http.StatusInternalServerError
				}
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("route", routeOf(r, ri)),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Int64("bytes", rw.bytes),
					slog.Duration("duration", time.Since(start)),
					slog.String("request_id", crm.RequestIDFrom(r.Context())),
				}
				if !completed {
					attrs = append(attrs, slog.Bool("aborted", true))
				}
				level := slog.LevelInfo
				switch {
				case status == http.StatusServiceUnavailable:
					level = slog.LevelWarn
				case status >= 500:
					level = slog.LevelError
				}
				l.LogAttrs(r.Context(), level, "request", attrs...)
			}()
			next.ServeHTTP(rw, r)
			completed = true
		})
	}
}
