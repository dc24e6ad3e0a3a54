package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strings"

	"example.com/crm"
)

// RequireJSON is middleware refusing, with 415 UNSUPPORTED_MEDIA_TYPE, a
// POST, PUT or PATCH whose body is not JSON (API.md §1): the Content-Type
// must be application/json or application/*+json, with parameters
// allowed but a charset, if any, of UTF-8. A request without a body passes
// whatever its Content-Type, since some POSTs (transfer, refresh
// endpoints without input) carry none.
//
// When the length is unknown (chunked), one byte is read to tell an empty
// body from a present one.
func RequireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			next.ServeHTTP(w, r)
			return
		}
		if isJSONContentType(r.Header.Get("Content-Type")) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength < 0 {
			// Unknown length: read one byte. An empty body passes (and
			// reads as empty again); a present one is refused below, so
			// the byte is not missed.
			var b [1]byte
			if n, err := io.ReadFull(r.Body, b[:]); n == 0 && err == io.EOF {
				next.ServeHTTP(w, r)
				return
			}
		}
		WriteError(w, r, crm.Errorf(crm.CodeUnsupportedMediaType,
			"Content-Type must be application/json"))
	})
}

// isJSONContentType reports whether ct names JSON in UTF-8.
func isJSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return false
	}
	if mt == "application/json" {
		return true
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && strings.HasSuffix(sub, "+json") && len(sub) > len("+json")
}
