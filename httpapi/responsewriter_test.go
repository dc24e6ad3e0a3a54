package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestResponseWriterKeepsOptionalInterfaces(t *testing.T) {
	t.Parallel()
	logger, _ := newTestLogger()
	m, err := NewMetrics(newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		check func(t *testing.T, w http.ResponseWriter)
	}{
		{name: "type-asserted Flusher", check: func(t *testing.T, w http.ResponseWriter) {
			f, ok := w.(http.Flusher)
			if !ok {
				t.Fatal("writer is not an http.Flusher")
			}
			f.Flush()
		}},
		{name: "ResponseController Flush", check: func(t *testing.T, w http.ResponseWriter) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "ResponseController reaches the real writer", check: func(t *testing.T, w http.ResponseWriter) {
			// A recorder has no deadlines: the error proves Unwrap got
			// through every wrapper to it.
			err := http.NewResponseController(w).SetWriteDeadline(time.Now())
			if err == nil {
				t.Fatal("want ErrNotSupported from the recorder")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.check(t, w)
			}), AccessLog(logger), m.Middleware, Recover(logger))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if tt.name != "ResponseController reaches the real writer" && !rec.Flushed {
				t.Error("flush did not reach the recorder")
			}
		})
	}
}

func TestResponseWriterRecordsStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		write      func(w http.ResponseWriter)
		wantStatus int
		wantBytes  int64
	}{
		{name: "nothing written is a 200", write: func(http.ResponseWriter) {}, wantStatus: 200},
		{name: "implicit 200", write: func(w http.ResponseWriter) { _, _ = w.Write([]byte("hi")) }, wantStatus: 200, wantBytes: 2},
		{name: "explicit status", write: func(w http.ResponseWriter) { w.WriteHeader(404); _, _ = w.Write([]byte("x")) }, wantStatus: 404, wantBytes: 1},
		{name: "1xx before the final status", write: func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(201) }, wantStatus: 201},
		{name: "second WriteHeader ignored", write: func(w http.ResponseWriter) { w.WriteHeader(204); w.WriteHeader(500) }, wantStatus: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rw := wrapWriter(httptest.NewRecorder())
			if wrapWriter(rw) != rw {
				t.Fatal("a wrapped writer was wrapped again")
			}
			tt.write(rw)
			if rw.statusOrOK() != tt.wantStatus || rw.bytes != tt.wantBytes {
				t.Errorf("status %d bytes %d, want %d %d", rw.statusOrOK(), rw.bytes, tt.wantStatus, tt.wantBytes)
			}
		})
	}
}
