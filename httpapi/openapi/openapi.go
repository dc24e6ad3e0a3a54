// Package openapi serves the API's OpenAPI 3.1 document (GET
// /openapi.json) and Swagger UI on it (GET /docs), both from files
// embedded in the binary: the page loads nothing from any other origin.
//
// openapi.json is written by hand and is the API's reference alongside
// API.md; CheckRoutes (check.go) fails a test when it and the router
// disagree on a single path or method.
//
// The UI is swagger-ui-dist 5.35.0 (npm, Apache-2.0; LICENSE, NOTICE and
// the bundle's third-party notices are in ui/). Only two of its files are
// used, stored gzip-compressed to keep the binary small (about 0.5 MB
// instead of 1.9 MB): ui/swagger-ui-bundle.js.gz and ui/swagger-ui.css.gz.
// They are served as they are to clients accepting gzip, and decompressed
// for the others. To upgrade:
//
//	cd /tmp && npm pack swagger-ui-dist@<version> && tar xzf swagger-ui-dist-<version>.tgz
//	gzip -9 -n -c package/swagger-ui-bundle.js > <here>/ui/swagger-ui-bundle.js.gz
//	gzip -9 -n -c package/swagger-ui.css > <here>/ui/swagger-ui.css.gz
//	cp package/LICENSE package/NOTICE package/swagger-ui-bundle.js.LICENSE.txt <here>/ui/
//
// and update SwaggerUIVersion. ui/index.html and ui/init.js are ours.
package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"example.com/crm"
)

// SwaggerUIVersion is the version of swagger-ui-dist embedded in ui/.
const SwaggerUIVersion = "5.35.0"

// DocsPath is where the UI is served; its assets live under DocsPath + "/".
const DocsPath = "/docs"

// DocumentPath is where the OpenAPI document is served.
const DocumentPath = "/openapi.json"

//go:embed openapi.json
var document []byte

//go:embed ui/index.html ui/init.js ui/swagger-ui-bundle.js.gz ui/swagger-ui.css.gz ui/LICENSE ui/NOTICE ui/swagger-ui-bundle.js.LICENSE.txt
var uiFiles embed.FS

// Document returns a copy of the OpenAPI document.
func Document() []byte { return bytes.Clone(document) }

// Mount registers GET and HEAD /openapi.json, /docs and /docs/{asset} on
// r (the root router: the document describes paths from /).
func Mount(r *mux.Router) {
	r.Handle(DocumentPath, Handler()).Methods(http.MethodGet, http.MethodHead)
	docs := DocsHandler()
	r.Handle(DocsPath, docs).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(DocsPath+"/").Handler(docs).Methods(http.MethodGet, http.MethodHead)
}

// Handler serves the OpenAPI document as application/json, whatever the
// request path (mount it at /openapi.json). It answers conditional
// requests (If-None-Match) with 304.
func Handler() http.Handler {
	a := newAsset("openapi.json", "application/json", document, false)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		a.serve(w, r)
	})
}

// DocsHandler serves Swagger UI: the page at /docs (and /docs/,
// /docs/index.html) and its assets under /docs/. Any other path answers
// 404 NOT_FOUND as an application/problem+json body.
func DocsHandler() http.Handler {
	assets := map[string]*asset{}
	for _, f := range []struct{ file, name, contentType string }{
		{"index.html", "index.html", "text/html; charset=utf-8"},
		{"init.js", "init.js", "text/javascript; charset=utf-8"},
		{"swagger-ui-bundle.js.gz", "swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
		{"swagger-ui.css.gz", "swagger-ui.css", "text/css; charset=utf-8"},
		{"LICENSE", "LICENSE", "text/plain; charset=utf-8"},
		{"NOTICE", "NOTICE", "text/plain; charset=utf-8"},
		{"swagger-ui-bundle.js.LICENSE.txt", "swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8"},
	} {
		data, err := uiFiles.ReadFile("ui/" + f.file)
		if err != nil {
			panic("openapi: embedded file missing: " + f.file) // the go:embed line lists it
		}
		assets[f.name] = newAsset(f.name, f.contentType, data, strings.HasSuffix(f.file, ".gz"))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, DocsPath)
		if ok {
			name = strings.TrimPrefix(name, "/")
		}
		if name == "" {
			name = "index.html"
		}
		a := assets[name]
		if !ok || a == nil || strings.Contains(name, "/") {
			notFound(w, r)
			return
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if name == "index.html" {
			h.Set("Cache-Control", "no-cache")
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("Referrer-Policy", "no-referrer")
		} else {
			// The assets change only with a new build; revalidate daily.
			h.Set("Cache-Control", "public, max-age=86400")
		}
		a.serve(w, r)
	})
}

// contentSecurityPolicy keeps the docs page to its own origin: scripts and
// the document come from this server only. Swagger UI sets inline styles.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file, possibly stored gzip-compressed.
type asset struct {
	name        string
	contentType string
	data        []byte // as stored
	gzipped     bool   // data is gzip; serve it decoded to clients not accepting gzip
	etag        string // of the decoded content
}

func newAsset(name, contentType string, data []byte, gzipped bool) *asset {
	sum := sha256.Sum256(data)
	return &asset{name: name, contentType: contentType, data: data, gzipped: gzipped,
		etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serve answers GET and HEAD with the asset, honouring If-None-Match and
// Range (http.ServeContent).
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	body, etag := a.data, a.etag
	if a.gzipped {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			etag = strings.TrimSuffix(a.etag, `"`) + `-gzip"`
		} else {
			decoded, err := gunzip(a.data)
			if err != nil {
				// The file was compressed at build time; a corrupt one is
				// a broken build, not the client's problem.
				http.Error(w, "corrupt embedded asset", http.StatusInternalServerError)
				return
			}
			body = decoded
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (RFC
// 9110 §12.5.3): a gzip, x-gzip or * entry whose q is not 0.
func acceptsGzip(v string) bool {
	for _, part := range strings.Split(v, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				}
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}

// notFound answers 404 NOT_FOUND in the API's problem shape. It is
// written here rather than through httpapi.WriteError so that httpapi may
// one day mount these handlers without an import cycle.
func notFound(w http.ResponseWriter, r *http.Request) {
	body, _ := json.Marshal(map[string]any{
		"type": "/docs/errors#NOT_FOUND", "title": http.StatusText(http.StatusNotFound),
		"status": http.StatusNotFound, "detail": "no such documentation file",
		"code": "NOT_FOUND", "request_id": crm.RequestIDFrom(r.Context()),
	})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(append(body, '\n'))
}
