package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestIfMatchVersion(t *testing.T) {
	t.Parallel()
	good := map[string]int{`"3"`: 3, `W/"3"`: 3, ` "12" `: 12, `"0"`: 0, `"2147483647"`: 2147483647}
	for h, want := range good {
		r := httptest.NewRequest("PATCH", "/", nil)
		r.Header.Set("If-Match", h)
		v, err := ifMatchVersion(r)
		if err != nil || v == nil || *v != want {
			t.Errorf("If-Match %s = %v, %v; want %d", h, v, err, want)
		}
	}
	for _, h := range []string{"*", ""} {
		r := httptest.NewRequest("PATCH", "/", nil)
		if h != "" {
			r.Header.Set("If-Match", h)
		}
		if v, err := ifMatchVersion(r); v != nil || err != nil {
			t.Errorf("If-Match %q = %v, %v; want any version", h, v, err)
		}
	}
	// Malformed: 400, never a 412 (issue 9).
	for _, h := range []string{`3`, `"3`, `3"`, `""`, `"-1"`, `"+3"`, `"03"`, `"3", "4"`, `"2147483648"`, `"99999999999999999999"`, `W/3`, `w/"3"`, `"3 "`, `"x"`, " "} {
		r := httptest.NewRequest("PATCH", "/", nil)
		r.Header.Set("If-Match", h)
		if _, err := ifMatchVersion(r); StatusOf(err) != 400 {
			t.Errorf("If-Match %q: %v (status %d), want 400", h, err, StatusOf(err))
		}
	}
	r := httptest.NewRequest("PATCH", "/", nil)
	r.Header.Add("If-Match", `"1"`)
	r.Header.Add("If-Match", `"2"`)
	if _, err := ifMatchVersion(r); StatusOf(err) != 400 {
		t.Errorf("two If-Match headers: %v, want 400", err)
	}
}
