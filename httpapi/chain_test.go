package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	t.Parallel()
	tag := func(name string, trace *[]string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				*trace = append(*trace, name+">")
				next.ServeHTTP(w, r)
				*trace = append(*trace, "<"+name)
			})
		}
	}
	tests := []struct {
		name string
		mws  []string
		want string
	}{
		{name: "none", want: "h"},
		{name: "one", mws: []string{"a"}, want: "a> h <a"},
		{name: "first listed is outermost", mws: []string{"a", "b", "c"}, want: "a> b> c> h <c <b <a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var trace []string
			var mws []func(http.Handler) http.Handler
			for _, m := range tt.mws {
				mws = append(mws, tag(m, &trace))
			}
			h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { trace = append(trace, "h") }), mws...)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			if got := strings.Join(trace, " "); got != tt.want {
				t.Errorf("order %q, want %q", got, tt.want)
			}
		})
	}
}
