package httpapi

import (
	"bytes"
	"cmp"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"example.com/crm"
)

// IndexPath and BasePath (/api/v1) answer Index; ErrorsPath answers
// ErrorsPage. They exist so that a newcomer (or a problem body's `type`
// link) landing on them finds the documentation instead of a 404.
const (
	IndexPath  = "/"
	ErrorsPath = "/docs/errors"
)

// Index answers GET / and GET /api/v1 with 200 and a small JSON body of
// links: the Swagger UI (/docs), the OpenAPI document, the error codes and
// the API's base path. A JSON answer rather than a redirect, so that curl
// without -L shows where to go.
func (o Ops) Index(w http.ResponseWriter, _ *http.Request) error {
	return WriteJSON(w, http.StatusOK, map[string]string{
		"name":    "crm",
		"version": o.Version,
		"docs":    "/docs",
		"openapi": "/openapi.json",
		"errors":  ErrorsPath,
		"api":     BasePath,
	})
}

// ErrorCode is one error code as /docs/errors lists it.
type ErrorCode struct {
	Code    crm.Code
	Status  int
	Meaning string
}

// ErrorCodes returns every code of codeTable with its status and meaning,
// by status then code.
func ErrorCodes() []ErrorCode {
	out := make([]ErrorCode, 0, len(codeTable))
	for c, info := range codeTable {
		out = append(out, ErrorCode{Code: c, Status: info.status, Meaning: info.meaning})
	}
	slices.SortFunc(out, func(a, b ErrorCode) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Code, b.Code))
	})
	return out
}

// errorsPage is /docs/errors: one row per code, each with the code as its
// anchor, so that a problem body's type "/docs/errors#CODE" lands on it.
var errorsPage = template.Must(template.New("errors").Funcs(template.FuncMap{
	"statusText": http.StatusText,
	"meaning":    meaningHTML,
}).Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>CRM API error codes</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left;vertical-align:top}tr:target{background:#ffc}</style>
</head>
<body>
<h1>Error codes</h1>
<p>Every error answer is an <code>application/problem+json</code> body whose <code>code</code> is one of these and whose <code>type</code> links here. See also <a href="/docs">the API documentation</a>.</p>
<table>
<tr><th>code</th><th>HTTP status</th><th>meaning</th></tr>
{{range .}}<tr id="{{.Code}}"><td><a href="#{{.Code}}"><code>{{.Code}}</code></a></td><td>{{.Status}} {{statusText .Status}}</td><td>{{meaning .Meaning}}</td></tr>
{{end}}</table>
</body>
</html>
`))

// meaningHTML escapes s and turns its `backquoted` parts into <code>.
func meaningHTML(s string) template.HTML {
	parts := strings.Split(html.EscapeString(s), "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<code>" + p + "</code>")
		} else {
			b.WriteString(p)
		}
	}
	return template.HTML(b.String()) // safe: every part was escaped above
}

// ErrorsPage answers GET /docs/errors: the HTML table of every error code,
// its HTTP status and its meaning, generated from codeTable.
func ErrorsPage(w http.ResponseWriter, _ *http.Request) error {
	var buf bytes.Buffer
	if err := errorsPage.Execute(&buf, ErrorCodes()); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}
