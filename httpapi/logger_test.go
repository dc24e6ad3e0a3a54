package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLogger(t *testing.T) {
	t.Parallel()
	l, _ := newTestLogger()
	tests := []struct {
		name string
		ctx  func() context.Context
		want *slog.Logger
	}{
		{name: "carried", ctx: func() context.Context { return WithLogger(context.Background(), l) }, want: l},
		{name: "absent falls back to the default", ctx: context.Background, want: slog.Default()},
		{name: "nil falls back to the default", ctx: func() context.Context { return WithLogger(context.Background(), nil) }, want: slog.Default()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := LoggerFrom(tt.ctx()); got != tt.want {
				t.Errorf("LoggerFrom = %p, want %p", got, tt.want)
			}
		})
	}
	t.Run("middleware", func(t *testing.T) {
		t.Parallel()
		var got *slog.Logger
		Logger(l)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = LoggerFrom(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if got != l {
			t.Error("middleware did not carry the logger")
		}
	})
}
