package httpapi

import "net/http"

// responseWriter records the status and size of a response for the access
// log, the metrics and the error paths (which must not write a second
// status). Optional interfaces (http.Flusher, http.Hijacker, deadlines)
// stay reachable: Flush is forwarded, and Unwrap lets
// http.ResponseController find the rest.
type responseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

// wrapWriter returns w as a *responseWriter, reusing it when an outer
// middleware already wrapped it so that the stack of wrappers stays short.
func wrapWriter(w http.ResponseWriter) *responseWriter {
	if rw, ok := w.(*responseWriter); ok {
		return rw
	}
	return &responseWriter{ResponseWriter: w}
}

// WriteHeader records the final status; informational 1xx answers (103
// Early Hints) may precede it and are not recorded.
func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes, and records the implicit 200 of a first Write.
func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush forwards to the underlying writer, so streaming handlers keep
// working through the middleware.
func (w *responseWriter) Flush() {
	if !w.wroteHeader {
		w.status = http.StatusOK
		w.wroteHeader = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusOrOK is the status the client got: a handler that wrote nothing
// answered 200.
func (w *responseWriter) statusOrOK() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.status
}
