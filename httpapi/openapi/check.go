package openapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// CheckRoutes fails t when router and the OpenAPI document disagree: a
// method and path the router serves that the document lacks, or one the
// document describes that the router does not serve. End-to-end tests call
// it with the server's real router.
//
// Paths are compared with their variables normalised by position
// ({id}, {deal_id} and {id:[0-9a-f-]+} are the same segment) and without a
// trailing slash (the server strips it before routing). OPTIONS and HEAD
// are ignored (CORS preflights, and HEAD served alongside GET). Routes
// without a handler (the holders of subrouters) are skipped; a route with
// a handler but no method matcher counts as GET.
func CheckRoutes(t testing.TB, router *mux.Router) {
	t.Helper()
	problems, err := Mismatches(router)
	if err != nil {
		t.Fatalf("openapi.CheckRoutes: %v", err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// Mismatches returns one message per method and path on which router and
// the embedded OpenAPI document disagree (see CheckRoutes), sorted; none
// means they agree.
func Mismatches(router *mux.Router) ([]string, error) {
	return mismatches(router, document)
}

func mismatches(router *mux.Router, doc []byte) ([]string, error) {
	served, err := servedOperations(router)
	if err != nil {
		return nil, err
	}
	documented, err := documentedOperations(doc)
	if err != nil {
		return nil, err
	}
	var out []string
	for k, tpl := range served {
		if _, ok := documented[k]; !ok {
			out = append(out, fmt.Sprintf("%s %s is served but missing from openapi.json", k.method, tpl))
		}
	}
	for k, tpl := range documented {
		if _, ok := served[k]; !ok {
			out = append(out, fmt.Sprintf("%s %s is in openapi.json but the server does not serve it", k.method, tpl))
		}
	}
	slices.Sort(out)
	return out, nil
}

// operation is a method and a normalised path template.
type operation struct {
	method, path string
}

// ignoredMethods are not compared.
var ignoredMethods = []string{http.MethodOptions, http.MethodHead}

// servedOperations walks router and returns its operations, each with one
// of the templates it came from (for messages).
func servedOperations(router *mux.Router) (map[operation]string, error) {
	ops := map[operation]string{}
	err := router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's holder: its routes are walked on their own
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return fmt.Errorf("a route with a handler has no path template: %w", err)
		}
		methods, err := route.GetMethods()
		if err != nil || len(methods) == 0 {
			methods = []string{http.MethodGet}
		}
		path, err := normalisePath(tpl)
		if err != nil {
			return err
		}
		for _, m := range methods {
			m = strings.ToUpper(m)
			if slices.Contains(ignoredMethods, m) {
				continue
			}
			if _, seen := ops[operation{m, path}]; !seen {
				ops[operation{m, path}] = tpl
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking the router: %w", err)
	}
	return ops, nil
}

// pathItemMethods are the operation keys of an OpenAPI path item.
var pathItemMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedOperations returns the operations of an OpenAPI document.
func documentedOperations(doc []byte) (map[operation]string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if len(d.Paths) == 0 {
		return nil, errors.New("openapi.json has no paths")
	}
	ops := map[operation]string{}
	for tpl, item := range d.Paths {
		path, err := normalisePath(tpl)
		if err != nil {
			return nil, fmt.Errorf("openapi.json: %w", err)
		}
		for key := range item {
			if !slices.Contains(pathItemMethods, key) {
				continue // parameters, summary, servers, $ref...
			}
			m := strings.ToUpper(key)
			if slices.Contains(ignoredMethods, m) {
				continue
			}
			ops[operation{m, path}] = tpl
		}
	}
	return ops, nil
}

// normalisePath replaces every {variable} of a template (mux's may carry a
// pattern with braces of its own: {n:[0-9]{2}}) by "{}" and drops a
// trailing slash.
func normalisePath(tpl string) (string, error) {
	var b strings.Builder
	depth := 0
	for _, c := range tpl {
		switch {
		case c == '{':
			if depth == 0 {
				b.WriteString("{}")
			}
			depth++
		case c == '}':
			depth--
			if depth < 0 {
				return "", fmt.Errorf("unbalanced braces in path %q", tpl)
			}
		case depth == 0:
			b.WriteRune(c)
		}
	}
	if depth != 0 {
		return "", fmt.Errorf("unbalanced braces in path %q", tpl)
	}
	p := b.String()
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p, nil
}
