package httpapi

import (
	"context"
	"log/slog"
	"net/http"
)

// loggerKey is the context key of the request's logger.
type loggerKey struct{}

// WithLogger returns ctx carrying l, the logger WriteError reports the
// causes of 500s to. It exists because WriteError's signature has no room
// for a logger, and a global one would make tests racy.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LoggerFrom returns the logger carried by ctx, or slog.Default() when
// there is none (a handler tested on its own).
func LoggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// Logger is middleware putting l in every request's context, for
// WriteError and for handlers that log.
func Logger(l *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(WithLogger(r.Context(), l)))
		})
	}
}
