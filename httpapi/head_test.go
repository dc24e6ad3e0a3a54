package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHeadAsGet(t *testing.T) {
	t.Parallel()
	var method string
	srv := httptest.NewServer(HeadAsGet(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method = r.Method
		w.Header().Set("ETag", `"1"`)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})))
	defer srv.Close()
	res, err := http.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if method != http.MethodGet || res.StatusCode != 200 || res.Header.Get("ETag") != `"1"` || len(body) != 0 {
		t.Fatalf("HEAD: handler saw %s; %d %v %q", method, res.StatusCode, res.Header, body)
	}
}
