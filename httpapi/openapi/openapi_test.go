package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"example.com/crm/audit"
	"example.com/crm/httpapi"
	"example.com/crm/readapi"
	"example.com/crm/readapi/identity"
)

// parsed returns the embedded document as generic JSON.
func parsed(t *testing.T) map[string]any {
	t.Helper()
	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(document))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json holds more than one JSON value")
	}
	return d
}

type op struct {
	method, path string
	body         map[string]any
	item         map[string]any
}

// operations lists every operation of d.
func operations(t *testing.T, d map[string]any) []op {
	t.Helper()
	paths, ok := d["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("openapi.json has no paths")
	}
	var out []op
	for p, v := range paths {
		item := v.(map[string]any)
		for _, m := range pathItemMethods {
			if o, ok := item[m]; ok {
				out = append(out, op{method: strings.ToUpper(m), path: p, body: o.(map[string]any), item: item})
			}
		}
	}
	slices.SortFunc(out, func(a, b op) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) })
	return out
}

// No object of the document names a key twice: encoding/json keeps the
// last silently, where generators (ogen) refuse the document.
func TestNoObjectNamesAKeyTwice(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(document))
	// keys holds, for each open container, the keys of an object (nil for
	// an array); expectKey says the next string token is an object's key.
	var keys []map[string]bool
	expectKey := func() bool { return len(keys) > 0 && keys[len(keys)-1] != nil }
	afterKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("openapi.json: %v", err)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				keys = append(keys, map[string]bool{})
			case '[':
				keys = append(keys, nil)
			default:
				keys = keys[:len(keys)-1]
			}
			afterKey = false
			continue
		case string:
			if expectKey() && !afterKey {
				if keys[len(keys)-1][v] {
					t.Errorf("openapi.json: key %q twice in one object (near byte %d)", v, dec.InputOffset())
				}
				keys[len(keys)-1][v] = true
				afterKey = true
				continue
			}
		}
		afterKey = false
	}
}

func TestDocumentIsOpenAPI31(t *testing.T) {
	d := parsed(t)
	v, _ := d["openapi"].(string)
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	info, _ := d["info"].(map[string]any)
	for _, k := range []string{"title", "version", "description"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info.%s is empty", k)
		}
	}
	servers, _ := d["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["url"] != "/" {
		t.Errorf("servers = %v, want [{url: /}]", servers)
	}
	schemes, _ := d["components"].(map[string]any)["securitySchemes"].(map[string]any)
	bearer, _ := schemes["bearerAuth"].(map[string]any)
	if bearer["type"] != "http" || bearer["scheme"] != "bearer" || bearer["bearerFormat"] != "JWT" {
		t.Errorf("securitySchemes.bearerAuth = %v, want http bearer JWT", bearer)
	}
}

func TestEveryOperationHasSummaryAndResponses(t *testing.T) {
	d := parsed(t)
	ids := map[string]string{}
	for _, o := range operations(t, d) {
		name := o.method + " " + o.path
		if s, _ := o.body["summary"].(string); strings.TrimSpace(s) == "" {
			t.Errorf("%s has no summary", name)
		}
		id, _ := o.body["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", name)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share operationId %q", name, other, id)
		}
		ids[id] = name
		if tags, _ := o.body["tags"].([]any); len(tags) == 0 {
			t.Errorf("%s has no tag", name)
		}
		resp, _ := o.body["responses"].(map[string]any)
		if len(resp) == 0 {
			t.Errorf("%s has no responses", name)
			continue
		}
		success := false
		for code := range resp {
			if !regexp.MustCompile(`^[1-5]\d\d$`).MatchString(code) {
				t.Errorf("%s: response key %q is not a status code", name, code)
			}
			success = success || code[0] == '2'
		}
		if !success {
			t.Errorf("%s has no 2xx response", name)
		}
	}
}

// TestStatusCodesOfTheContract checks the statuses API.md §1 and §4 list:
// every authenticated route documents 401 and 503; org-scoped routes 400
// and 403; bodies 413 and 415; POSTs with Idempotency-Key 422; PATCH and
// DELETE with If-Match 412; creates 201; deletes 204; login and register
// 429.
func TestStatusCodesOfTheContract(t *testing.T) {
	d := parsed(t)
	for _, o := range operations(t, d) {
		name := o.method + " " + o.path
		resp := o.body["responses"].(map[string]any)
		want := func(code, why string) {
			t.Helper()
			if _, ok := resp[code]; !ok {
				t.Errorf("%s: no %s response (%s)", name, code, why)
			}
		}
		params := paramNames(t, d, o)
		api := strings.HasPrefix(o.path, "/api/v1/")
		public := isPublic(o)
		// Webhook subscriptions are integration configuration in plain
		// tables, not event-sourced entities: no version (If-Match), no
		// read model to wait for (Consistency), no events to record an
		// Idempotency-Key with; rotate-secret (200) and replay (202)
		// create nothing.
		config := strings.HasPrefix(o.path, "/api/v1/webhooks")
		if api {
			want("503", "database unreachable")
			if !public {
				want("401", "authenticated route")
			}
		}
		if orgScoped(o) || strings.HasPrefix(o.path, "/api/v1/organizations/{org_id}") {
			want("400", "organization header or path")
			want("403", "NOT_A_MEMBER")
		}
		if _, ok := o.body["requestBody"]; ok {
			want("400", "body validation")
			want("413", "body limit")
			want("415", "not JSON")
		}
		if params["header Idempotency-Key"] {
			want("422", "IDEMPOTENCY_KEY_REUSED")
			want("409", "IDEMPOTENCY_KEY_IN_FLIGHT")
		}
		if params["header If-Match"] {
			want("412", "VERSION_MISMATCH")
		}
		if params["header Consistency"] {
			want("503", "PROJECTION_BEHIND")
		}
		if o.method == http.MethodDelete {
			want("204", "delete")
		}
		if o.method == http.MethodPost && api && !strings.HasPrefix(o.path, "/api/v1/auth/") && !strings.HasSuffix(o.path, "/transfer-ownership") &&
			!strings.HasSuffix(o.path, "/rotate-secret") && !strings.HasSuffix(o.path, "/replay") {
			want("201", "create")
			if !params["header Idempotency-Key"] && !config {
				t.Errorf("%s: POST without the Idempotency-Key parameter", name)
			}
		}
		if (o.method == http.MethodPatch || o.method == http.MethodDelete) && !params["header If-Match"] && !config {
			t.Errorf("%s: no If-Match parameter", name)
		}
		if o.method == http.MethodGet && orgScoped(o) && !readsTheLog(o.path) && !params["header Consistency"] && !config {
			t.Errorf("%s: org-scoped query without the Consistency parameter", name)
		}
	}
	for _, p := range []string{"/api/v1/auth/register", "/api/v1/auth/login"} {
		if _, ok := d["paths"].(map[string]any)[p].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any)["429"]; !ok {
			t.Errorf("POST %s: no 429", p)
		}
	}
}

// readsTheLog tells the org-scoped queries that read the event log, not
// a read model: always current, so without the Consistency header.
func readsTheLog(path string) bool {
	return strings.HasSuffix(path, "/history") || path == "/api/v1/events"
}

func isPublic(o op) bool {
	sec, ok := o.body["security"].([]any)
	return ok && len(sec) == 0
}

// orgScoped reports whether o needs X-Organization-Id: its security
// requirement names the organizationId scheme.
func orgScoped(o op) bool {
	sec, _ := o.body["security"].([]any)
	for _, req := range sec {
		if _, ok := req.(map[string]any)["organizationId"]; ok {
			return true
		}
	}
	return false
}

// TestOrganizationHeaderIsASecurityScheme checks that X-Organization-Id is
// declared once, as an apiKey scheme Swagger UI's Authorize fills in for
// every request, and never as a per-operation parameter that would have to
// be typed into each one; an org-scoped operation requires it together
// with the bearer token (one requirement object: both at once).
func TestOrganizationHeaderIsASecurityScheme(t *testing.T) {
	d := parsed(t)
	schemes := d["components"].(map[string]any)["securitySchemes"].(map[string]any)
	org, _ := schemes["organizationId"].(map[string]any)
	if org["type"] != "apiKey" || org["in"] != "header" || org["name"] != "X-Organization-Id" {
		t.Errorf("securitySchemes.organizationId = %v, want apiKey in header X-Organization-Id", org)
	}
	scoped := 0
	for _, o := range operations(t, d) {
		name := o.method + " " + o.path
		if paramNames(t, d, o)["header X-Organization-Id"] {
			t.Errorf("%s: X-Organization-Id as a parameter; require the organizationId security scheme instead", name)
		}
		if !orgScoped(o) {
			continue
		}
		scoped++
		sec := o.body["security"].([]any)
		if len(sec) != 1 || len(sec[0].(map[string]any)) != 2 || sec[0].(map[string]any)["bearerAuth"] == nil {
			t.Errorf("%s: security = %v, want [{bearerAuth: [], organizationId: []}]", name, sec)
		}
		if strings.HasPrefix(o.path, "/api/v1/organizations") || strings.HasPrefix(o.path, "/api/v1/auth/") {
			t.Errorf("%s: the organization comes from the path or is not needed, yet organizationId is required", name)
		}
	}
	if scoped < 20 {
		t.Errorf("only %d operations require organizationId: contacts, deals, activities, tasks and analytics all do", scoped)
	}
}

// paramNames returns "in name" of every parameter of o (path item and
// operation), with references resolved.
func paramNames(t *testing.T, d map[string]any, o op) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	var list []any
	if ps, ok := o.item["parameters"].([]any); ok {
		list = append(list, ps...)
	}
	if ps, ok := o.body["parameters"].([]any); ok {
		list = append(list, ps...)
	}
	for _, p := range list {
		pm := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			v, err := resolve(d, ref)
			if err != nil {
				t.Fatalf("%s %s: %v", o.method, o.path, err)
			}
			pm = v.(map[string]any)
		}
		key := fmt.Sprint(pm["in"], " ", pm["name"])
		if out[key] {
			t.Errorf("%s %s: parameter %s given twice", o.method, o.path, key)
		}
		out[key] = true
	}
	return out
}

// resolve follows a local JSON pointer reference ("#/components/...").
func resolve(d map[string]any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = d
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not inside an object", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve (no %q)", ref, tok)
		}
	}
	return cur, nil
}

func TestEveryRefResolves(t *testing.T) {
	d := parsed(t)
	refs := 0
	used := map[string]bool{}
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"]; ok {
				s, _ := ref.(string)
				refs++
				used[s] = true
				if _, err := resolve(d, s); err != nil {
					t.Errorf("at %s: %v", at, err)
				}
			}
			for k, x := range v {
				walk(x, at+"/"+k)
			}
		case []any:
			for i, x := range v {
				walk(x, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(d, "#")
	if refs < 100 {
		t.Errorf("only %d $refs found: is the walk broken?", refs)
	}
	// Every component is used somewhere (a dead one is usually a typo).
	comps := d["components"].(map[string]any)
	for kind, v := range comps {
		if kind == "securitySchemes" {
			continue
		}
		for name := range v.(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never referenced", ref)
			}
		}
	}
}

// TestPathParametersMatchTemplates checks that every {variable} of a path
// is declared as a required path parameter of each of its operations, and
// that no operation declares a path parameter its path lacks.
func TestPathParametersMatchTemplates(t *testing.T) {
	d := parsed(t)
	vars := regexp.MustCompile(`\{([^}]+)\}`)
	for _, o := range operations(t, d) {
		names := paramNames(t, d, o)
		inPath := map[string]bool{}
		for _, m := range vars.FindAllStringSubmatch(o.path, -1) {
			inPath[m[1]] = true
			if !names["path "+m[1]] {
				t.Errorf("%s %s: path variable %s is not declared", o.method, o.path, m[1])
			}
		}
		for n := range names {
			if name, ok := strings.CutPrefix(n, "path "); ok && !inPath[name] {
				t.Errorf("%s %s: declares path parameter %s its path lacks", o.method, o.path, name)
			}
		}
	}
}

// errorCodes returns the error codes package crm declares (constants of
// type Code in the module's root package).
func errorCodes(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	var codes []string
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						codes = append(codes, s)
					}
				}
			}
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d crm.Code constants: %v", len(codes), codes)
	}
	return codes
}

// TestErrorCodes checks that the ErrorCode enum is exactly package crm's
// codes, and that every code a response names is one of them.
func TestErrorCodes(t *testing.T) {
	d := parsed(t)
	var enum []string
	for _, v := range d["components"].(map[string]any)["schemas"].(map[string]any)["ErrorCode"].(map[string]any)["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	codes := errorCodes(t)
	slices.Sort(enum)
	slices.Sort(codes)
	if !slices.Equal(enum, codes) {
		t.Errorf("ErrorCode enum = %v\npackage crm    = %v", enum, codes)
	}
	responses := d["components"].(map[string]any)["responses"].(map[string]any)
	check := func(name string, r map[string]any, status string) {
		if ref, ok := r["$ref"].(string); ok {
			r = responses[strings.TrimPrefix(ref, "#/components/responses/")].(map[string]any)
		}
		if status[0] == '2' {
			return
		}
		content, _ := r["content"].(map[string]any)
		pj, ok := content["application/problem+json"].(map[string]any)
		if !ok {
			if !(name == "GET /ready" && status == "503") {
				t.Errorf("%s %s: not application/problem+json", name, status)
			}
			return
		}
		b, _ := json.Marshal(pj)
		if !strings.Contains(string(b), `"#/components/schemas/Problem"`) {
			t.Errorf("%s %s: the body is not a Problem", name, status)
		}
		for _, m := range regexp.MustCompile(`"enum":\[([^\]]*)\]`).FindAllStringSubmatch(string(b), -1) {
			for _, c := range strings.Split(m[1], ",") {
				c, _ = strconv.Unquote(c)
				if !slices.Contains(codes, c) {
					t.Errorf("%s %s: unknown error code %q", name, status, c)
				}
			}
		}
	}
	for _, o := range operations(t, d) {
		for status, r := range o.body["responses"].(map[string]any) {
			check(o.method+" "+o.path, r.(map[string]any), status)
		}
	}
}

// jsonFields lists the JSON names of a struct type's fields, embedded
// structs flattened, "-" left out.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if !slices.Contains(out, tag) {
			out = append(out, tag)
		}
	}
	return out
}

// TestSchemasMatchTheServersTypes compares the properties of the response
// schemas with the JSON fields of the Go types the server encodes.
func TestSchemasMatchTheServersTypes(t *testing.T) {
	schemas := parsed(t)["components"].(map[string]any)["schemas"].(map[string]any)
	for name, typ := range map[string]any{
		"Contact":      readapi.Contact{},
		"Deal":         readapi.Deal{},
		"Task":         readapi.Task{},
		"Activity":     readapi.Activity{},
		"ContactList":  readapi.List[readapi.Contact]{},
		"DealList":     readapi.List[readapi.Deal]{},
		"TaskList":     readapi.List[readapi.Task]{},
		"ActivityList": readapi.List[readapi.Activity]{},
		"MemberList":   readapi.List[identity.Member]{},
		"HistoryList":  readapi.List[audit.Entry]{},
		"HistoryEntry": audit.Entry{},
		"User":         identity.User{},
		"Organization": identity.Organization{},
		"Member":       identity.Member{},
		"Problem":      httpapi.Problem{},
		"Readiness": struct {
			Status string `json:"status"`
			httpapi.Readiness
		}{},
		"Health": struct {
			Status  string `json:"status"`
			Version string `json:"version"`
		}{},
	} {
		s, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("no schema %s", name)
			continue
		}
		props, _ := s["properties"].(map[string]any)
		var got []string
		for p := range props {
			got = append(got, p)
		}
		want := jsonFields(reflect.TypeOf(typ))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has %v, the server's type %T encodes %v", name, got, typ, want)
		}
	}
}

func TestHandlerServesTheDocument(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, DocumentPath, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), document) {
		t.Error("body differs from openapi.json")
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, DocumentPath, nil)
	req.Header.Set("If-None-Match", etag)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, DocumentPath, nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d body bytes", rec.Code, rec.Body.Len())
	}

	if !bytes.Equal(Document(), document) {
		t.Error("Document() differs from openapi.json")
	}
}

func get(t *testing.T, h http.Handler, path, acceptEncoding string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestDocsHandlerServesTheUI(t *testing.T) {
	r := mux.NewRouter()
	Mount(r)

	page := get(t, r, "/docs", "")
	if page.Code != http.StatusOK {
		t.Fatalf("GET /docs: status %d", page.Code)
	}
	if ct := page.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /docs: Content-Type %q", ct)
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /docs: Content-Security-Policy %q", csp)
	}
	html := page.Body.String()
	if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "//cdn") {
		t.Error("the page refers to another origin")
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) != 3 {
		t.Fatalf("the page refers to %d files, want the css, the bundle and init.js: %v", len(refs), refs)
	}
	wantTypes := map[string]string{".css": "text/css", ".js": "text/javascript"}
	for _, m := range refs {
		path := m[1]
		if !strings.HasPrefix(path, DocsPath+"/") {
			t.Errorf("asset %s is not under /docs/", path)
			continue
		}
		plain := get(t, r, path, "")
		if plain.Code != http.StatusOK || plain.Body.Len() == 0 {
			t.Errorf("GET %s: status %d, %d bytes", path, plain.Code, plain.Body.Len())
			continue
		}
		if enc := plain.Header().Get("Content-Encoding"); enc != "" {
			t.Errorf("GET %s without Accept-Encoding: Content-Encoding %q", path, enc)
		}
		ext := path[strings.LastIndex(path, "."):]
		if ct := plain.Header().Get("Content-Type"); !strings.HasPrefix(ct, wantTypes[ext]) {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		gz := get(t, r, path, "br;q=1.0, gzip;q=0.8")
		if gz.Code != http.StatusOK {
			t.Errorf("GET %s with gzip: status %d", path, gz.Code)
			continue
		}
		body := gz.Body.Bytes()
		if gz.Header().Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			if gz.Header().Get("ETag") == plain.Header().Get("ETag") {
				t.Errorf("GET %s: the gzip and identity representations share an ETag", path)
			}
			if !strings.Contains(gz.Header().Get("Vary"), "Accept-Encoding") {
				t.Errorf("GET %s: no Vary: Accept-Encoding", path)
			}
		}
		if !bytes.Equal(body, plain.Body.Bytes()) {
			t.Errorf("GET %s: the gzip and identity bodies differ", path)
		}
	}

	bundle := get(t, r, "/docs/swagger-ui-bundle.js", "")
	if !strings.Contains(bundle.Body.String(), "SwaggerUIBundle") {
		t.Error("the bundle does not define SwaggerUIBundle")
	}
	if gz := get(t, r, "/docs/swagger-ui-bundle.js", "gzip"); gz.Header().Get("Content-Encoding") != "gzip" || gz.Body.Len() > bundle.Body.Len()/2 {
		t.Errorf("the bundle is not served compressed to gzip clients (%q, %d bytes)", gz.Header().Get("Content-Encoding"), gz.Body.Len())
	}
	init := get(t, r, "/docs/init.js", "")
	if !strings.Contains(init.Body.String(), `url: "/openapi.json"`) {
		t.Error("init.js does not load /openapi.json")
	}
	if doc := get(t, r, "/openapi.json", ""); doc.Code != http.StatusOK || !bytes.Equal(doc.Body.Bytes(), document) {
		t.Errorf("GET /openapi.json through Mount: status %d", doc.Code)
	}
	for _, p := range []string{"/docs/LICENSE", "/docs/NOTICE", "/docs/index.html"} {
		if rec := get(t, r, p, ""); rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", p, rec.Code)
		}
	}
	for _, p := range []string{"/docs/nope.js", "/docs/ui/index.html", "/docs/swagger-ui-bundle.js.gz", "/docsx"} {
		rec := get(t, DocsHandler(), p, "")
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, rec.Code)
			continue
		}
		var pb map[string]any
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &pb) != nil || pb["code"] != "NOT_FOUND" {
			t.Errorf("GET %s: %q %s, want a NOT_FOUND problem", p, ct, rec.Body.String())
		}
	}
}

// TestEmbeddedSize keeps the binary's share of documentation small.
func TestEmbeddedSize(t *testing.T) {
	total := len(document)
	err := fs.WalkDir(uiFiles, ".", func(_ string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		info, err := e.Info()
		if err == nil {
			total += int(info.Size())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 2<<20 {
		t.Errorf("embedded files take %d bytes, over 2 MiB", total)
	}
	t.Logf("embedded: %d bytes (swagger-ui-dist %s)", total, SwaggerUIVersion)
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                       false,
		"gzip":                   true,
		"GZIP":                   true,
		"deflate, gzip;q=0.5":    true,
		"gzip;q=0":               false,
		"gzip; q=0.000":          false,
		"br":                     false,
		"*":                      true,
		"x-gzip":                 true,
		"identity, *;q=0":        false,
		"br;q=1.0, gzip;q=0.8,*": true,
	} {
		if got := acceptsGzip(v); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", v, got, want)
		}
	}
}

// --- CheckRoutes ---

func nop(http.ResponseWriter, *http.Request) {}

func TestMismatchesNormalisesPaths(t *testing.T) {
	doc := []byte(`{"openapi": "3.1.0", "paths": {
		"/a/{id}": {"parameters": [], "get": {}},
		"/api/b": {"post": {}, "options": {}},
		"/api/b/{x}/c/{y}": {"patch": {}},
		"/c": {"delete": {}},
		"/d": {"get": {}},
		"/": {"get": {}}
	}}`)
	r := mux.NewRouter()
	r.HandleFunc("/", nop).Methods(http.MethodGet)
	// Another variable name, a pattern with braces, a trailing slash,
	// HEAD and OPTIONS: still GET /a/{id}.
	r.HandleFunc("/a/{other:[0-9]{2}}/", nop).Methods(http.MethodGet, http.MethodHead, http.MethodOptions)
	api := r.PathPrefix("/api").Subrouter()
	api.HandleFunc("/b", nop).Methods(http.MethodPost)
	api.HandleFunc("/b/{deal_id}/c/{user_id}", nop).Methods(http.MethodPatch)
	// No method matcher: counts as GET.
	r.Handle("/d", http.HandlerFunc(nop))
	// Served, not documented.
	api.HandleFunc("/e", nop).Methods(http.MethodPut)
	// A POST /c is not DELETE /c.
	r.HandleFunc("/c", nop).Methods(http.MethodPost)

	got, err := mismatches(r, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DELETE /c is in openapi.json but the server does not serve it",
		"POST /c is served but missing from openapi.json",
		"PUT /api/e is served but missing from openapi.json",
	}
	if !slices.Equal(got, want) {
		t.Errorf("mismatches:\n got %q\nwant %q", got, want)
	}

	// Variables count by position: /api/b/{x}/c is not /api/b/{x}/c/{y}.
	r2 := mux.NewRouter()
	r2.HandleFunc("/api/b/{x}/c", nop).Methods(http.MethodPatch)
	got, err = mismatches(r2, []byte(`{"paths": {"/api/b/{x}/c/{y}": {"patch": {}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("mismatches = %q, want both sides reported", got)
	}

	if _, err := mismatches(r2, []byte(`{"paths": {"/a/{b": {"get": {}}}}`)); err == nil {
		t.Error("an unbalanced template was accepted")
	}
	if _, err := mismatches(r2, []byte(`not json`)); err == nil {
		t.Error("a broken document was accepted")
	}
}

func TestNormalisePath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                            "/",
		"/a/":                          "/a",
		"/a/{id}":                      "/a/{}",
		"/a/{id:[0-9]{2,3}}/b/{x}/":    "/a/{}/b/{}",
		"/api/v1/deals/{deal_id}/acts": "/api/v1/deals/{}/acts",
	} {
		got, err := normalisePath(in)
		if err != nil || got != want {
			t.Errorf("normalisePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"/a/{id", "/a/id}", "/a/{{id}"} {
		if _, err := normalisePath(bad); err == nil {
			t.Errorf("normalisePath(%q) accepted", bad)
		}
	}
}

// serverLike builds a router shaped like the server's (internal/app):
// the operations routes at the root and API.md §4's routes under /api/v1
// on subrouters, with the server's own variable names.
func serverLike(skip string) *mux.Router {
	r := mux.NewRouter()
	h := http.HandlerFunc(nop)
	add := func(rt *mux.Router, method, path string) {
		if method+" "+path != skip {
			rt.Handle(path, h).Methods(method)
		}
	}
	add(r, "GET", "/health")
	add(r, "GET", "/ready")
	add(r, "GET", "/metrics")
	add(r, "GET", "/")
	add(r, "GET", "/api/v1")
	add(r, "GET", "/docs/errors")
	Mount(r)

	v1 := r.PathPrefix("/api/v1").Subrouter()
	public := v1.NewRoute().Subrouter()
	authed := v1.NewRoute().Subrouter()
	scoped := authed.NewRoute().Subrouter()
	add(public, "POST", "/auth/register")
	add(public, "POST", "/auth/login")
	add(public, "POST", "/auth/refresh")
	add(authed, "GET", "/auth/me")

	add(authed, "GET", "/organizations/me")
	add(authed, "POST", "/organizations")
	add(authed, "GET", "/organizations/{org_id}")
	add(authed, "PATCH", "/organizations/{org_id}")
	add(authed, "DELETE", "/organizations/{org_id}")
	add(authed, "POST", "/organizations/{org_id}/transfer-ownership")
	add(authed, "GET", "/organizations/{org_id}/members")
	add(authed, "POST", "/organizations/{org_id}/members")
	add(authed, "GET", "/organizations/{org_id}/members/{user_id}")
	add(authed, "PATCH", "/organizations/{org_id}/members/{user_id}")
	add(authed, "DELETE", "/organizations/{org_id}/members/{user_id}")

	for _, res := range []string{"/contacts", "/deals", "/tasks"} {
		add(scoped, "GET", res)
		add(scoped, "POST", res)
		add(scoped, "GET", res+"/{id}")
		add(scoped, "PATCH", res+"/{id}")
		add(scoped, "DELETE", res+"/{id}")
	}
	add(scoped, "GET", "/deals/{id}/history")
	add(scoped, "GET", "/deals/{id}/activities")
	add(scoped, "POST", "/deals/{id}/activities")
	add(scoped, "GET", "/analytics/deals/summary")
	add(scoped, "GET", "/analytics/deals/funnel")
	add(scoped, "GET", "/events")
	add(scoped, "GET", "/webhooks")
	add(scoped, "POST", "/webhooks")
	add(scoped, "GET", "/webhooks/{id}")
	add(scoped, "PATCH", "/webhooks/{id}")
	add(scoped, "DELETE", "/webhooks/{id}")
	add(scoped, "POST", "/webhooks/{id}/rotate-secret")
	add(scoped, "GET", "/webhooks/{id}/deliveries")
	add(scoped, "POST", "/webhooks/{id}/replay")
	return r
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	r.failures = append(r.failures, fmt.Sprint(args...))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestCheckRoutes(t *testing.T) {
	// Every route of API.md (and the two GETs the server adds) is
	// documented, and nothing else.
	CheckRoutes(t, serverLike(""))

	// A route missing from the server, and one the document lacks.
	r := serverLike("DELETE /tasks/{id}")
	r.HandleFunc("/api/v1/tasks/{id}/comments", nop).Methods(http.MethodPost)
	rec := &recorder{TB: t}
	CheckRoutes(rec, r)
	want := []string{
		"DELETE /api/v1/tasks/{id} is in openapi.json but the server does not serve it",
		"POST /api/v1/tasks/{id}/comments is served but missing from openapi.json",
	}
	if !slices.Equal(rec.failures, want) {
		t.Errorf("CheckRoutes reported:\n%q\nwant\n%q", rec.failures, want)
	}
}
