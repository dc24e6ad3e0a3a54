package httpapi

import "net/http"

// Chain wraps h in mws, the first listed outermost, so a chain reads in
// the order a request passes through it.
func Chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
