package app_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"example.com/crm/httpapi/openapi"
	"example.com/crm/internal/apitest"
)

// The document's organizationId security requirement says which routes
// need X-Organization-Id (it is a scheme, not a parameter, so that
// Swagger UI's Authorize sets it once). The server agrees: with a token
// and without the header, exactly those operations answer 400
// ORGANIZATION_REQUIRED.
func TestOrganizationSecuritySchemeMatchesTheServer(t *testing.T) {
	t.Parallel()
	var doc struct {
		Security []map[string][]string `json:"security"`
		Paths    map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	variable := regexp.MustCompile(`\{[^}]+\}`)
	scoped := 0
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !slices.Contains([]string{"get", "post", "put", "patch", "delete"}, method) {
				continue
			}
			var op struct {
				Security *[]map[string][]string `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			if len(security) == 0 {
				continue // public
			}
			_, wantOrg := security[0]["organizationId"]
			if wantOrg {
				scoped++
			}
			// Path variables: ids of nothing. The organization check comes
			// before the entity's (404) and the body's (400).
			target := variable.ReplaceAllString(path, "0193a6e2-7b1c-7d4e-9f00-1a2b3c4d5e6f")
			req := apitest.Request{Method: strings.ToUpper(method), Path: target, Token: u.Token}
			if method == "post" || method == "patch" {
				req.Body = map[string]any{}
			}
			r := s.Do(req)
			if got := r.Status == http.StatusBadRequest && r.Code() == "ORGANIZATION_REQUIRED"; got != wantOrg {
				t.Errorf("%s %s without X-Organization-Id: %d %s; the document says organizationId required = %v",
					req.Method, path, r.Status, r.Code(), wantOrg)
			}
		}
	}
	if scoped == 0 {
		t.Fatal("no operation requires organizationId")
	}
}
